"""Physical consistency of the mock: fluxes, spectra, emission lines, SFR PDFs, the expert."""

from itertools import pairwise

import numpy as np
import pytest
from scipy.stats import spearmanr

from app.mock import expert
from app.mock.galaxy import render_galaxy
from app.mock.physics import cosmology, sed, sfr, spectra
from app.mock.physics.population import ARTIFACT, draw_population
from app.mock.render import band_psfs, draw
from app.mock.survey import noiseless_spectrum


def _population(seed: int, n: int):
    """A population of n galaxies and each galaxy's four generator streams."""
    streams = [np.random.default_rng([seed, i]).spawn(4) for i in range(n)]
    return draw_population([s[0] for s in streams], np.arange(n), 1.0), streams


@pytest.fixture(scope="module")
def rendered():
    """80 galaxies rendered with fiber fractions and noiseless spectra (seed 5)."""
    pop, streams = _population(5, 80)
    gals = [render_galaxy(pop, j, s[1], with_fiber=True) for j, s in enumerate(streams)]
    models = [noiseless_spectrum(pop, j, g.components, g.fiber) for j, g in enumerate(gals)]
    return pop, streams, gals, models


def test_image_flux_equals_sed_synthetic_photometry(rendered):
    pop, _, gals, _ = rendered
    checked = 0
    for j, g in enumerate(gals):
        if pop.r50[j] > 5.0:  # a 256-px stamp (101") holds the 8 r50 truncation only up to here
            continue
        big = draw(g.components, g.component_flux, band_psfs(pop.fwhm[j]), np.zeros(2), stamp=256)
        # GalSim folding_threshold = 1e-2 bounds the aliased flux to ~1%; Moffat wings beyond
        # 50" hold < 0.1% for beta = 3
        np.testing.assert_allclose(big.sum(axis=(1, 2)), pop.flux_nmgy[j], rtol=0.01)
        # the 64-px cutout (25") can only lose flux beyond its edges, never add it
        cutout = g.model.sum(axis=(1, 2))
        assert np.all(cutout <= big.sum(axis=(1, 2)) * 1.01) and np.all(
            cutout > 0.5 * pop.flux_nmgy[j]
        )
        checked += 1
    assert checked > 60


def test_spectrum_r_flux_equals_fiber_flux(rendered):
    _, _, gals, models = rendered
    r = sed.filters()[2]
    for g, model in zip(gals, models, strict=True):
        synthetic = float(r.get_ab_maggies(model * spectra.FLUX_UNIT, spectra.WAVELENGTH)) * 1e9
        fiber_r = float(g.fiber[:, 2] @ g.component_flux[:, 2])
        # the spectrum interpolates fiber fractions between band effective wavelengths and
        # smooths by sigma_v; across the r passband that moves the flux by < 1% (measured 0.8%)
        assert synthetic == pytest.approx(fiber_r, rel=0.02)


def test_halpha_tracks_star_formation(rendered):
    pop, streams, _, models = rendered
    ew, lum = [], []
    for j, model in enumerate(models):
        flux, _ = spectra.observe(model, streams[j][2])
        rest = spectra.WAVELENGTH / (1 + pop.z[j])
        line = (rest > 6557) & (rest < 6572)  # H-alpha, clear of [N II] 6550/6585
        side = ((rest > 6490) & (rest < 6535)) | ((rest > 6605) & (rest < 6640))
        continuum = np.median(flux[side])
        f_line = np.sum((flux[line] - continuum) * spectra.pixel_width()[line])
        ew.append(f_line / continuum / (1 + pop.z[j]))
        lum.append(
            f_line * spectra.FLUX_UNIT * 4 * np.pi * cosmology.luminosity_distance_cm(pop.z[j]) ** 2
        )
    sf = pop.star_forming
    assert sf.sum() > 40
    # Line luminosity follows SFR (Kennicutt 1998), scattered by dust and fiber losses.
    assert spearmanr(np.array(lum)[sf], pop.log_sfr[sf]).statistic > 0.5
    # EW is line over continuum, i.e. SFR per unit stellar light: it follows specific SFR.
    assert spearmanr(np.array(ew)[sf], (pop.log_sfr - pop.log_mstar)[sf]).statistic > 0.5
    assert np.median(np.array(ew)[sf]) > 3 * np.median(np.array(ew)[~sf])


def test_catalog_photometry_is_honest_except_for_artifacts():
    pop, streams = _population(11, 600)
    clean = np.nonzero(pop.morph != ARTIFACT)[0][:40]
    broken = np.nonzero(pop.morph == ARTIFACT)[0][:20]
    pulls = {}
    for name, idx in (("clean", clean), ("broken", broken)):
        gals = [render_galaxy(pop, j, streams[j][1], with_fiber=False) for j in idx]
        pulls[name] = np.array(
            [
                (g.flux - pop.flux_nmgy[j]) * np.sqrt(g.flux_ivar)
                for j, g in zip(idx, gals, strict=True)
            ]
        )
    # 200 unit-normal pulls: their sd has a standard error of 0.05, so 0.8-1.2 is 4 sigma
    assert 0.8 < pulls["clean"].std() < 1.2
    # stars, trails and hot columns crossing the aperture put > 5 sigma of extra flux in some band
    assert np.mean(np.abs(pulls["broken"]).max(axis=1) > 5) > 0.4


def test_sfr_statistics_are_ordered_and_calibrated():
    rng = np.random.default_rng(0)
    n = 2000
    star_forming = rng.random(n) < 0.7
    truth = rng.normal(0.0, 1.0, n)
    std, skew = sfr.pdf_shape(star_forming, rng.random(n))
    stats = sfr.posterior_stats(truth, std, skew, rng.random(n))
    order = ["P2P5", "P16", "MEDIAN", "P84", "P97P5"]
    for lo, hi in pairwise(order):
        assert np.all(stats[lo] <= stats[hi])
    # truth is drawn from each PDF, so the central 68% interval covers 68%: binomial sd is 1%
    covered = np.mean((truth >= stats["P16"]) & (truth <= stats["P84"]))
    assert abs(covered - 0.68) < 0.04
    width = stats["P84"] - stats["P16"]
    assert np.median(width[star_forming]) < 0.5 < np.median(width[~star_forming])
    # broader PDFs have more entropy
    assert spearmanr(width, stats["ENTROPY"]).statistic > 0.9


def test_survey_sfr_stats_are_ordered(small_survey):
    for b in small_survey:
        stats = next(v.stats for v in b.values if v.task.name == "sfr")
        chain = [stats[k] for k in ("P2P5", "P16", "MEDIAN", "P84", "P97P5")]
        assert all(np.all(lo <= hi) for lo, hi in pairwise(chain))


def test_expert_is_worse_on_faint_small_galaxies():
    rng = np.random.default_rng(1)
    n = 20000
    true = rng.integers(0, 5, n)  # artifacts excluded: they are easy at every size
    r_mag = rng.uniform(14.0, 17.77, n)
    size = np.exp(rng.uniform(np.log(0.2), np.log(5.0), n))
    answer = expert.answer(true, r_mag, size, rng.random((n, 2)))
    right = answer == true
    bright_big = (r_mag < 16.0) & (size > 1.5)
    faint_small = (r_mag > 17.0) & (size < 0.6)
    # ~1500 galaxies per group: accuracy standard errors < 1.3%, the gap is ~30%
    assert bright_big.sum() > 1000 and faint_small.sum() > 1000
    assert right[bright_big].mean() > right[faint_small].mean() + 0.15
    # mistakes are plausible: a spiral is mostly mistaken for an edge-on disk or an irregular
    wrong_spiral = answer[(true == 1) & ~right]
    assert np.mean(np.isin(wrong_spiral, [2, 4])) > 0.6
    # artifacts are rarely missed
    art = expert.answer(np.full(n, 5), r_mag, size, rng.random((n, 2)))
    assert np.mean(art == 5) > 0.9
