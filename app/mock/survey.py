"""The mock SDSS-like survey: flux-limited galaxies, ugriz cutouts, catalog fluxes, spectra, truth.

Galaxy i draws everything from ``np.random.default_rng([seed, i])`` (spawned into independent
streams for population, images, spectrum and labels), so output does not depend on chunking
or on the number of worker processes.
"""

from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np
from tqdm import tqdm

from app.mock import expert
from app.mock.galaxy import render_galaxy
from app.mock.instrument import PIXEL_SCALE
from app.mock.physics import cosmology, sed, sfr, spectra
from app.mock.physics.population import Population, draw_population
from app.mock.tasks import BANDS, MORPHOLOGY_TASK, REDSHIFT_TASK, SFR_TASK
from storage.ingest.records import (
    NORTH_UP_EAST_LEFT,
    Bundle,
    GalaxyRecords,
    ImageRecords,
    PhotometryRecords,
    SpectrumRecord,
    ValueRecords,
)

INSTRUMENT = "mock-sdss"
EXPERT = "mock-expert"  # the simulated expert: a user with no password (cannot sign in)
REDSHIFT_ERROR = 3e-5  # SDSS pipeline redshift error per (1 + z) for main-sample galaxies


def generate_survey(
    n: int,
    *,
    seed: int,
    spectra_fraction: float = 0.1,
    chunk_size: int = 256,
    workers: int = 1,
    progress: bool = False,
    expert_fraction: float = 0.0,
) -> Iterator[Bundle]:
    """Yield Bundles of at most chunk_size mock galaxies, in order, for galaxies 0..n-1.

    expert_fraction: share of galaxies whose simulated-expert morphology answer is also
    ingested as a visible expert label by ``EXPERT`` (a survey's existing labels).

    With workers > 1 chunks shrink (to no fewer than 16 galaxies) until each worker has about
    four, so small surveys parallelise too; the galaxies themselves never depend on chunking.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n!r}")
    for name, value in (
        ("spectra_fraction", spectra_fraction),
        ("expert_fraction", expert_fraction),
    ):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    if chunk_size < 1 or workers < 1:
        raise ValueError(f"chunk_size and workers must be >= 1, got {chunk_size!r}, {workers!r}")
    step = chunk_size if workers == 1 else min(chunk_size, max(16, -(-n // (4 * workers))))
    bounds = [(start, min(start + step, n)) for start in range(0, n, step)]
    with tqdm(total=n, unit="galaxy", disable=not progress) as bar:
        for bundle in _chunks(bounds, seed, (spectra_fraction, expert_fraction), workers):
            bar.update(len(bundle.galaxies.source_ids))
            yield bundle


def _chunks(
    bounds: list[tuple[int, int]], seed: int, fractions: tuple[float, float], workers: int
) -> Iterator[Bundle]:
    """Chunks in order; with workers > 1 at most 2 x workers are in flight (bounded memory)."""
    if workers == 1:
        for start, stop in bounds:
            yield make_chunk(start, stop, seed, *fractions)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: list[Future[Bundle]] = []
        for start, stop in bounds:
            pending.append(pool.submit(make_chunk, start, stop, seed, *fractions))
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def make_chunk(
    start: int, stop: int, seed: int, spectra_fraction: float, expert_fraction: float = 0.0
) -> Bundle:
    """The Bundle of galaxies start..stop-1."""
    index = np.arange(start, stop)
    streams = [np.random.default_rng([seed, int(i)]).spawn(4) for i in index]
    pop = draw_population([s[0] for s in streams], index, spectra_fraction)
    ids = np.array([f"mock{i:07d}" for i in index])
    rendered = [
        render_galaxy(pop, j, s[1], with_fiber=bool(pop.has_spectrum[j]))
        for j, s in enumerate(streams)
    ]
    spectrum_records = [
        mock_spectrum(pop, j, ids[j], rendered[j].components, rendered[j].fiber, streams[j][2])
        for j in np.nonzero(pop.has_spectrum)[0]
    ]
    labels_u = np.stack([s[3].random(5) for s in streams])  # the 5th picks expert labels
    return Bundle(
        source=f"mock-survey seed={seed} galaxies {start}..{stop - 1}",
        galaxies=GalaxyRecords(
            source_ids=ids,
            ra=pop.ra,
            dec=pop.dec,
            ref_mag=pop.model_mag[:, 2],
            ref_band="r",
            magnitudes={band: pop.model_mag[:, b] for b, band in enumerate(BANDS)},
            provenance=f"app.mock.survey seed={seed}",
        ),
        images=[
            ImageRecords(
                source_ids=ids,
                pixels=np.stack([r.pixels for r in rendered]),
                bands=BANDS,
                pixel_scale=PIXEL_SCALE,
                units="nanomaggy",
                ivar=np.stack([r.ivar for r in rendered]),
                orientation=NORTH_UP_EAST_LEFT,  # rendered on the sky's tangent plane, FITS-wise
            )
        ],
        photometry=[
            PhotometryRecords(
                source_ids=ids,
                flux=np.stack([r.flux for r in rendered]),
                ivar=np.stack([r.flux_ivar for r in rendered]),
                bands=BANDS,
            )
        ],
        spectra=spectrum_records,
        values=truth_and_labels(pop, ids, spectrum_records, labels_u, expert_fraction),
    )


def mock_spectrum(
    pop: Population,
    j: int,
    source_id: str,
    components: list,
    fiber: np.ndarray,
    rng: np.random.Generator,
) -> SpectrumRecord:
    """The SDSS-like fiber spectrum of galaxy j with its pipeline redshift."""
    model = noiseless_spectrum(pop, j, components, fiber)
    flux, ivar = spectra.observe(model, rng)
    z = float(pop.z[j])
    z_err = REDSHIFT_ERROR * (1.0 + z)
    return SpectrumRecord(
        source_id=str(source_id),
        wavelength=spectra.WAVELENGTH,
        flux=flux,
        ivar=ivar,
        instrument=INSTRUMENT,
        redshift=z + z_err * float(rng.standard_normal()),
        redshift_err=z_err,
        spec_class="GALAXY",
        ra=float(pop.ra[j]),
        dec=float(pop.dec[j]),
    )


def noiseless_spectrum(pop: Population, j: int, components: list, fiber: np.ndarray) -> np.ndarray:
    """Noiseless fiber spectrum (L,) 1e-17 erg/s/cm^2/A of galaxy j: continuum plus lines."""
    z = float(pop.z[j])
    coeffs = np.stack([c.coeff for c in components])
    continuum = spectra.fiber_continuum(
        coeffs, fiber, z, float(cosmology.distance_modulus(z)), float(pop.sigma_star[j])
    )
    line_w = np.array([c.line_weight for c in components])
    fiber_of_lines = line_w @ fiber / max(line_w.sum(), 1e-12)  # (B,)
    line_fiber = np.interp(sed.LINE_WAVELENGTHS * (1 + z), spectra.BAND_WAVELENGTH, fiber_of_lines)
    return continuum + spectra.fiber_lines(
        pop.line_flux[j] * line_w.sum(), line_fiber, z, float(pop.sigma_gas[j])
    )


def truth_and_labels(
    pop: Population,
    ids: np.ndarray,
    spectrum_records: list[SpectrumRecord],
    u: np.ndarray,
    expert_fraction: float = 0.0,
) -> list[ValueRecords]:
    """Hidden truth (morphology, z, log SFR with PDF stats), the simulated expert, spectro-z,
    and the expert's answers for ``expert_fraction`` of galaxies as visible labels."""
    std, skew = sfr.pdf_shape(pop.star_forming, u[:, 0])
    answers = expert.answer(pop.morph, pop.model_mag[:, 2], pop.r50 / pop.fwhm[:, 2], u[:, 1:3])
    spec_ids = np.array([s.source_id for s in spectrum_records], dtype=ids.dtype)
    seen = u[:, 4] < expert_fraction
    records = [
        ValueRecords(
            task=MORPHOLOGY_TASK,
            source_ids=ids,
            values=pop.morph.astype(np.int64),
            truth_kind="truth",
        ),
        ValueRecords(task=REDSHIFT_TASK, source_ids=ids, values=pop.z, truth_kind="truth"),
        ValueRecords(
            task=SFR_TASK,
            source_ids=ids,
            values=pop.log_sfr,
            truth_kind="truth",
            stats=sfr.posterior_stats(pop.log_sfr, std, skew, u[:, 3]),
        ),
        ValueRecords(
            task=MORPHOLOGY_TASK,
            source_ids=ids,
            values=answers.astype(np.int64),
            truth_kind="simulated_expert",
            labeler=EXPERT,
        ),
        ValueRecords(
            task=REDSHIFT_TASK,
            source_ids=spec_ids,
            values=np.array([s.redshift for s in spectrum_records], dtype=np.float64),
            label_source="spectroscopy",
            labeler=INSTRUMENT,
        ),
    ]
    if seen.any():
        records.append(
            ValueRecords(
                task=MORPHOLOGY_TASK,
                source_ids=ids[seen],
                values=answers[seen].astype(np.int64),
                label_source="expert",
                labeler=EXPERT,
            )
        )
    return records
