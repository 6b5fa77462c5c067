"""The mock survey's contract: shapes, units, determinism, spectra fraction, selection, labels."""

import numpy as np

from app.mock import BANDS, MORPHOLOGY_CLASSES, generate_survey
from app.mock.physics.population import R_LIMIT, draw_population
from app.mock.physics.sfr import STAT_NAMES
from app.mock.physics.spectra import WAVELENGTH


def _fields(bundles) -> dict[str, np.ndarray]:
    """Every array of a survey, concatenated across chunks field by field."""
    out: dict[str, list[np.ndarray]] = {}
    for b in bundles:
        g = b.galaxies
        parts = {"ids": g.source_ids, "ra": g.ra, "dec": g.dec, "ref_mag": g.ref_mag}
        parts |= {f"mag_{k}": v for k, v in g.magnitudes.items()}
        parts |= {"pixels": b.images[0].pixels, "ivar": b.images[0].ivar}
        parts |= {"flux": b.photometry[0].flux, "flux_ivar": b.photometry[0].ivar}
        parts |= {"spec_flux": np.array([s.flux for s in b.spectra]).reshape(-1, 3841)}
        parts |= {"spec_ivar": np.array([s.ivar for s in b.spectra]).reshape(-1, 3841)}
        parts |= {"spec_z": np.array([s.redshift for s in b.spectra], dtype=float)}
        for k, v in enumerate(b.values):
            parts |= {f"v{k}": v.values} | {f"v{k}_{name}": a for name, a in v.stats.items()}
        for name, a in parts.items():
            out.setdefault(name, []).append(a)
    return {name: np.concatenate(a) for name, a in out.items()}


def _concat(bundles, get):
    """Concatenate one array across chunks."""
    return np.concatenate([get(b) for b in bundles])


def test_shapes_units_and_finite_values(small_survey):
    for b in small_survey:
        n = len(b.galaxies.source_ids)
        assert n <= 16
        image = b.images[0]
        assert image.pixels.shape == image.ivar.shape == (n, 5, 64, 64)
        assert image.pixels.dtype == np.float32 and image.ivar.dtype == np.float32
        assert image.bands == BANDS and image.pixel_scale == 0.396 and image.units == "nanomaggy"
        assert np.all(np.isfinite(image.pixels)) and np.all(image.ivar >= 0)
        phot = b.photometry[0]
        assert phot.flux.shape == phot.ivar.shape == (n, 5) and np.all(phot.ivar > 0)
        assert set(b.galaxies.magnitudes) == set(BANDS) and b.galaxies.ref_band == "r"
        assert np.all((b.galaxies.ra >= 120) & (b.galaxies.ra <= 240))
        assert np.all((b.galaxies.dec >= 0) & (b.galaxies.dec <= 60))
        for s in b.spectra:
            assert s.wavelength.shape == s.flux.shape == s.ivar.shape == (3841,)
            assert np.all(np.isfinite(s.flux)) and np.all(s.ivar >= 0)
            assert s.instrument == "mock-sdss" and s.spec_class == "GALAXY"
    assert np.allclose(WAVELENGTH[[0, -1]], [10**3.5798, 10**3.9638])


def test_values_cover_every_galaxy_with_valid_labels(small_survey):
    for b in small_survey:
        ids = b.galaxies.source_ids
        truth = {(v.task.name, v.truth_kind, v.label_source): v for v in b.values}
        morph = truth[("morphology", "truth", None)]
        expert = truth[("morphology", "simulated_expert", None)]
        assert np.array_equal(morph.source_ids, ids) and np.array_equal(expert.source_ids, ids)
        assert set(morph.values) <= set(range(len(MORPHOLOGY_CLASSES)))
        assert set(expert.values) <= set(range(len(MORPHOLOGY_CLASSES)))
        z_true = truth[("redshift", "truth", None)].values
        spec_z = truth[("redshift", None, "spectroscopy")]
        assert [s.source_id for s in b.spectra] == list(spec_z.source_ids)
        # pipeline errors are 3e-5 (1+z): 10 sigma is far beyond any draw in 48 galaxies
        lookup = dict(zip(ids, z_true, strict=True))
        for s in b.spectra:
            assert abs(s.redshift - lookup[s.source_id]) < 10 * s.redshift_err
        assert set(truth[("sfr", "truth", None)].stats) == set(STAT_NAMES)


def test_same_seed_same_output_whatever_chunking_or_workers(small_survey):
    again = list(generate_survey(48, seed=3, spectra_fraction=0.5, chunk_size=20, workers=2))
    a, b = _fields(small_survey), _fields(again)
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name]), name


def test_different_seed_different_output(small_survey):
    other = list(generate_survey(8, seed=4, spectra_fraction=0.5, chunk_size=8))
    assert not np.array_equal(other[0].images[0].pixels, small_survey[0].images[0].pixels[:8])
    assert not np.allclose(other[0].galaxies.ref_mag, small_survey[0].galaxies.ref_mag[:8])


def test_spectra_fraction_matches_request():
    # 2000 Bernoulli(0.25) draws: mean 500, sd 19.4; 4 sd = 78 fails by chance 6e-5 of the time
    n, frac = 2000, 0.25
    pop = draw_population([np.random.default_rng([7, i]) for i in range(n)], np.arange(n), frac)
    assert abs(pop.has_spectrum.sum() - n * frac) < 4 * np.sqrt(n * frac * (1 - frac))


def test_survey_spectra_count_is_binomial(small_survey):
    # 48 x Bernoulli(0.5): sd 3.5; 4 sd
    n_spec = sum(len(b.spectra) for b in small_survey)
    assert abs(n_spec - 24) < 4 * np.sqrt(48 * 0.25)


def test_every_galaxy_passes_the_main_sample_cut(small_survey):
    pop = draw_population(
        [np.random.default_rng([8, i]) for i in range(2000)], np.arange(2000), 0.1
    )
    assert np.all(pop.model_mag[:, 2] < R_LIMIT)
    assert np.all(_concat(small_survey, lambda b: b.galaxies.ref_mag) < R_LIMIT)
    # a flux-limited r < 17.77 sample has median z ~ 0.1 (Strauss et al. 2002); 2000 draws
    # pin the median to ~0.003, so 0.08-0.12 only fails if the population is wrong
    assert 0.08 < np.median(pop.z) < 0.12


def test_expert_labels_are_the_simulated_experts_answers_for_a_share_of_galaxies() -> None:
    bundles = list(generate_survey(64, seed=3, spectra_fraction=0.0, expert_fraction=0.5))
    answers, labels = {}, {}
    for b in bundles:
        for v in b.values:
            if v.truth_kind == "simulated_expert":
                answers |= dict(zip(v.source_ids, v.values, strict=True))
            elif v.label_source == "expert":
                labels |= dict(zip(v.source_ids, v.values, strict=True))
    assert 20 <= len(labels) <= 44  # Binomial(64, 0.5): mean 32, sd 4; +-3 sd
    assert all(answers[g] == c for g, c in labels.items())
    # The same survey without expert labels is otherwise identical (the share uses its own draw).
    plain = list(generate_survey(64, seed=3, spectra_fraction=0.0))
    np.testing.assert_array_equal(plain[0].images[0].pixels, bundles[0].images[0].pixels)
