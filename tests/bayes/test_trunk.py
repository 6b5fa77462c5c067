"""Encoders and fusion: masking of missing modalities and padding, native spectral grids."""

import dataclasses

import numpy as np
import pytest
import torch

from bayes.data import GalaxyArrays, as_tensors, asinh_magnitudes
from bayes.encoders import ImageEncoder, SpectrumEncoder
from bayes.encoders.photometry import photometry_vector, photometry_width
from bayes.layers.fusion import Trunk, modality_dropout
from tests.bayes.conftest import small_config
from tests.bayes.synthetic import survey


def _latents(trunk: Trunk, arrays: GalaxyArrays) -> torch.Tensor:
    with torch.no_grad():
        return trunk(as_tensors(arrays, n_bands=3, n_phot=5))[0]


@pytest.mark.parametrize("fusion", ["early", "feature", "late"])
def test_missing_spectrum_output_ignores_garbage(fusion):
    torch.manual_seed(0)
    arrays, _ = survey(4, np.random.default_rng(1), p_spec=0.0)
    trunk = Trunk(small_config(fusion=fusion), n_bands=3, n_phot=5).eval()
    rng = np.random.default_rng(2)
    junk = dataclasses.replace(
        arrays,
        wavelength=rng.uniform(3000, 9000, arrays.flux.shape),
        flux=rng.normal(0, 1e6, arrays.flux.shape),
        ivar=rng.uniform(0, 10, arrays.flux.shape),
    )
    assert torch.equal(_latents(trunk, arrays), _latents(trunk, junk))
    # control: the same junk *marked present* must change the output, or the test proves nothing
    shown = dataclasses.replace(junk, has_spectrum=np.ones(4, bool))
    assert not torch.allclose(_latents(trunk, junk), _latents(trunk, shown))


def _spectrum(wave: np.ndarray, z: float) -> tuple[torch.Tensor, ...]:
    flux = 1 + 5 * np.exp(-0.5 * ((wave - 4000 * (1 + z)) / 40) ** 2)
    t = [torch.tensor(np.log10(wave), dtype=torch.float32)[None]]
    t += [torch.tensor(flux, dtype=torch.float32)[None], torch.full((1, len(wave)), 10.0)]
    return (*t, torch.ones(1, len(wave), dtype=torch.bool))


def test_padding_tokens_do_not_change_the_spectrum_embedding():
    torch.manual_seed(0)
    enc = SpectrumEncoder(8, patch=4, dim=16, layers=2).eval()
    lw, f, w, v = _spectrum(np.linspace(4000, 7000, 50), 0.3)
    pad = 37
    padded = (
        torch.cat([lw, torch.full((1, pad), 3.9)], 1),
        torch.cat([f, torch.randn(1, pad) * 1e3], 1),
        torch.cat([w, torch.rand(1, pad)], 1),
        torch.cat([v, torch.zeros(1, pad, dtype=torch.bool)], 1),
    )
    with torch.no_grad():
        a, b = enc(lw, f, w, v), enc(*padded)
        # batch it with a longer spectrum: columns the second row uses are padding for the first
        long = _spectrum(np.linspace(3600, 9000, 50 + pad), 0.3)
        c = enc(*(torch.cat([x, y]) for x, y in zip(padded, long, strict=True)))[:1]
    # float32 attention sums over the same kept keys; 1e-5 allows reordering of the reductions
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    torch.testing.assert_close(a, c, atol=1e-5, rtol=0)


def test_spectra_on_different_grids_are_read_by_wavelength():
    torch.manual_seed(0)
    enc = SpectrumEncoder(8, patch=4, dim=16).eval()
    coarse = np.linspace(3800, 8000, 40)  # ~105 A pixels
    fine = np.linspace(4200, 7600, 200)  # ~17 A pixels, different range
    with torch.no_grad():
        outs = [enc(*_spectrum(g, z)) for g in (coarse, fine) for z in (0.2, 0.5)]
    for out in outs:
        assert out.shape == (1, 8) and torch.isfinite(out).all()
    # the same grid with the line at another redshift must give another embedding
    assert not torch.allclose(outs[0], outs[1], atol=1e-4)
    assert not torch.allclose(outs[2], outs[3], atol=1e-4)


@pytest.mark.parametrize(("bands", "size"), [(5, 64), (3, 16), (1, 21)])
def test_image_encoder_takes_any_band_count_and_size(bands, size):
    enc = ImageEncoder(bands, 12, channels=(4, 8))
    assert enc(torch.randn(2, bands, size, size)).shape == (2, 12)


def test_modality_dropout_keeps_one_and_never_invents():
    g = torch.Generator().manual_seed(0)
    present = torch.rand(4000, 3, generator=g) < 0.7
    kept = modality_dropout(present, 0.5, g)
    assert not (kept & ~present).any()
    assert torch.equal(kept.any(1), present.any(1))
    # among galaxies with all three, each is hidden with p = 0.5 unless all three were (1/8),
    # so the kept rate is 0.5 + rescue (1/8 * 1/3) = 0.5417; 4000*0.34 rows -> sd ~0.008
    full = present.all(1)
    assert kept[full].float().mean().item() == pytest.approx(0.5 + 1 / 24, abs=0.04)


def test_photometry_vector_adds_adjacent_colours_in_magnitudes():
    flux = np.array([[1.0, 4.0, 10.0], [1.0, 4.0, 10.0]])
    ivar = np.array([[1e4, 1e4, 1e4], [1e4, 0.0, 1e4]])  # second galaxy: middle band bad
    arrays = GalaxyArrays(phot_flux=flux, phot_ivar=ivar, has_photometry=np.array([True, True]))
    phot = as_tensors(arrays, n_bands=0, n_phot=3).phot
    vector = photometry_vector(phot)
    assert vector.shape == (2, photometry_width(3)) == (2, 11)
    assert torch.equal(vector[:, :9], phot.flatten(1))
    mag, _ = asinh_magnitudes(flux[0], ivar[0])
    np.testing.assert_allclose(vector[0, 9:].numpy(), mag[:-1] - mag[1:], atol=1e-5)
    # bright enough for Pogson's: colour ~ 2.5 log10(f_next / f) up to the asinh softening
    np.testing.assert_allclose(vector[0, 9:].numpy(), 2.5 * np.log10([4.0, 2.5]), atol=0.015)
    assert torch.equal(vector[1, 9:], torch.zeros(2))
