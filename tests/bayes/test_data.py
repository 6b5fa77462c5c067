"""GalaxyArrays validation and streaming, and the normalisation functions by hand."""

import numpy as np
import pytest

from bayes.data import (
    GalaxyArrays,
    _asinh32,
    as_tensors,
    asinh_magnitudes,
    asinh_stretch,
    normalise_spectra,
)


def _phot(n: int) -> GalaxyArrays:
    return GalaxyArrays(
        phot_flux=np.arange(n * 2, dtype=float).reshape(n, 2) + 1,
        phot_ivar=np.ones((n, 2)),
        has_photometry=np.ones(n, bool),
    )


def test_shape_mismatch_and_missing_arrays_raise():
    with pytest.raises(ValueError, match="photometry"):
        GalaxyArrays(
            phot_flux=np.ones((3, 2)), phot_ivar=np.ones((3, 4)), has_photometry=np.ones(3, bool)
        )
    with pytest.raises(ValueError, match="spectrum"):
        GalaxyArrays(has_spectrum=np.ones(3, bool), has_photometry=np.ones(3, bool))


def test_subset_and_batches_cover_all_rows_in_order():
    arrays = _phot(7)
    batches = list(arrays.batches(3))
    assert [len(b) for b in batches] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([b.phot_flux for b in batches]), arrays.phot_flux)
    np.testing.assert_array_equal(arrays.subset(np.array([4, 1])).phot_flux[:, 0], [9.0, 3.0])
    with pytest.raises(ValueError, match="0"):
        list(arrays.batches(0))


def test_asinh_stretch_by_hand():
    img = np.array([[0.0, 1.0], [2.0, 3.0]])[None, None]
    # median 1.5; |x - 1.5| = [1.5, .5, .5, 1.5] -> MAD 1.0; sigma = 1.4826
    expected = np.arcsinh((img - 1.5) / (3 * 1.4826))
    np.testing.assert_allclose(asinh_stretch(img), expected, atol=1e-6)


def test_asinh_stretch_matches_the_float64_formula_over_a_wide_dynamic_range():
    rng = np.random.default_rng(7)
    shape = (6, 3, 9, 8)  # even pixel count: the median averages the two middle values
    images = rng.normal(size=shape) * rng.uniform(1e-3, 1e3, size=(6, 3, 1, 1))
    images[:, :, 4, 4] += rng.uniform(1e2, 1e8, size=(6, 3))  # bright cores, up to 1e8 sigma
    images = images.astype(np.float32)
    x = images.astype(np.float64)
    med = np.median(x, axis=(2, 3), keepdims=True)
    sigma = 1.4826 * np.median(np.abs(x - med), axis=(2, 3), keepdims=True)
    expected = np.arcsinh((x - med) / (3.0 * sigma))
    # float32 rounds the median to 6e-8 of itself, moving y by 6e-8 |median| / (3 sigma) < 1e-7
    # here (|median| < sigma); y itself rounds to 6e-8 of |y| and asinh's slope 1 / sqrt(1 + y^2)
    # turns that into < 1e-7 absolute. atol 1e-5 leaves room for the log's own rounding.
    np.testing.assert_allclose(asinh_stretch(images), expected, rtol=0, atol=1e-5)
    odd = images[:, :, :, :7]  # odd pixel count: the median is the middle value
    np.testing.assert_allclose(
        asinh_stretch(odd)[..., 0, 0],
        np.arcsinh(
            (odd[..., 0, 0] - np.median(odd, axis=(2, 3)))
            / (3 * 1.4826 * np.median(np.abs(odd - np.median(odd, (2, 3), keepdims=True)), (2, 3)))
        ),
        rtol=0,
        atol=1e-5,
    )


def test_float32_asinh_is_exact_to_float32_rounding_and_never_overflows():
    y = np.array([0.0, -0.0, 1e-30, 1e-4, -0.5, 3.0, -1e4, 1e17, 1e19, -3e38], np.float32)
    expected = np.arcsinh(np.minimum(np.abs(y.astype(np.float64)), 1e18)) * np.sign(y)
    got = _asinh32(y.copy())
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=3e-7)  # log1p(1e-4) rounds to 1e-4


def test_normalise_spectra_uses_valid_pixels_only():
    flux = np.array([[2.0, 4.0, 6.0, np.nan, 1e9]])
    ivar = np.array([[1.0, 1.0, 1.0, 0.0, 0.0]])
    valid = np.array([[True, True, True, False, False]])
    f, iv = normalise_spectra(flux, ivar, valid)
    np.testing.assert_allclose(f, [[0.5, 1.0, 1.5, 0.0, 0.0]], atol=1e-6)  # median |flux| = 4
    np.testing.assert_allclose(iv, [[16.0, 16.0, 16.0, 0.0, 0.0]], atol=1e-6)


def test_asinh_magnitudes_match_pogson_for_bright_sources():
    mag, err = asinh_magnitudes(np.array([[100.0]]), np.array([[1.0 / 4.0]]), softening=0.1)
    # asinh(f / 2b) = ln(f / b) + O((b / f)^2) = ln(1000) + 1e-6, so the two agree to ~1e-6 mag
    assert mag[0, 0] == pytest.approx(22.5 - 2.5 * np.log10(100.0), abs=1e-5)
    assert err[0, 0] == pytest.approx(2.5 / np.log(10) * 2.0 / 100.0, rel=1e-5)
    assert np.isinf(asinh_magnitudes(np.ones((1, 1)), np.zeros((1, 1)))[1][0, 0])


def test_as_tensors_zeroes_absent_rows_and_drops_empty_spectra():
    n = 3
    arrays = GalaxyArrays(
        images=np.full((n, 2, 4, 4), np.nan),
        has_image=np.array([False, False, False]),
        wavelength=np.array([[4000.0, 4001.0], [4000.0, 4001.0], [np.nan, np.nan]]),
        flux=np.array([[1.0, 2.0], [1.0, 2.0], [np.inf, np.nan]]),
        ivar=np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 1.0]]),
        has_spectrum=np.array([True, True, False]),
        phot_flux=np.ones((n, 2)),
        phot_ivar=np.ones((n, 2)),
        has_photometry=np.ones(n, bool),
    )
    inputs = as_tensors(arrays, n_bands=2, n_phot=2)
    assert inputs.present[:, 1].tolist() == [True, False, False]  # row 1 has no good pixel
    assert inputs.present[:, 0].tolist() == [False] * 3
    for t in (inputs.image, inputs.flux, inputs.log_wave, inputs.weight):
        assert np.isfinite(t.numpy()).all()
    with pytest.raises(ValueError, match="3 bands"):
        as_tensors(arrays, n_bands=3, n_phot=2)


def test_as_tensors_stretches_images_in_chunks_with_the_same_result(monkeypatch):
    rng = np.random.default_rng(3)
    images = rng.normal(size=(7, 2, 5, 5)) * rng.uniform(0.5, 4.0, size=(7, 2, 1, 1))
    has = np.array([True, True, False, True, True, True, True])
    arrays = GalaxyArrays(images=images.astype(np.float32), has_image=has)
    monkeypatch.setattr("bayes.data.STRETCH_CHUNK", 2)  # 6 stretched rows -> 3 chunks
    image = as_tensors(arrays, n_bands=2, n_phot=0).image.numpy()
    expected = asinh_stretch(images[has].astype(np.float32))
    np.testing.assert_array_equal(image[has], expected)
    assert not image[~has].any()


def test_arrays_stretched_once_give_the_same_tensors():
    rng = np.random.default_rng(4)
    images = (rng.normal(size=(5, 2, 6, 6)) * 3 + 10).astype(np.float32)
    images[1] = np.nan  # a galaxy without an image may hold anything
    has = np.array([True, False, True, True, True])
    arrays = GalaxyArrays(images=images, has_image=has)
    once = arrays.stretched()
    assert once.images_stretched and not arrays.images_stretched
    assert once.stretched() is once  # never stretched twice
    assert once.subset(np.array([3, 0])).images_stretched
    for a, b in ((arrays, once), (arrays.subset(slice(1, 4)), once.subset(slice(1, 4)))):
        np.testing.assert_array_equal(
            as_tensors(a, n_bands=2, n_phot=0).image.numpy(),
            as_tensors(b, n_bands=2, n_phot=0).image.numpy(),
        )
    assert np.isfinite(as_tensors(once, n_bands=2, n_phot=0).image.numpy()).all()


def test_a_galaxys_tensors_do_not_depend_on_its_batch_mates():
    # spectra are computed only for the rows that have one, stored images are not copied when
    # every row has one: neither may change what any galaxy gets
    rng = np.random.default_rng(5)
    n, pixels = 6, 40
    wave = np.where(rng.random((n, pixels)) < 0.1, np.nan, 3800.0 + np.arange(pixels))
    arrays = GalaxyArrays(
        images=rng.normal(size=(n, 2, 4, 4)).astype(np.float32),
        has_image=np.array([True, True, False, True, True, True]),
        images_stretched=True,
        wavelength=wave,
        flux=rng.normal(5.0, 1.0, (n, pixels)),
        ivar=np.where(rng.random((n, pixels)) < 0.2, 0.0, 1.0),
        has_spectrum=np.array([True, False, True, False, False, True]),
        phot_flux=rng.uniform(1.0, 50.0, (n, 2)),
        phot_ivar=np.ones((n, 2)),
        has_photometry=np.ones(n, bool),
    )
    arrays.ivar[5] = 0.0  # a spectrum without one good pixel
    batch = as_tensors(arrays, n_bands=2, n_phot=2)
    for i in range(n):
        alone = as_tensors(arrays.subset(slice(i, i + 1)), n_bands=2, n_phot=2)
        for name, value in batch.__dict__.items():
            np.testing.assert_array_equal(value[i : i + 1].numpy(), getattr(alone, name).numpy())
    assert batch.present[:, 1].tolist() == [True, False, True, False, False, False]
    assert batch.flux[[1, 3, 4, 5]].abs().sum() == 0 and not batch.pixel_valid[5].any()
