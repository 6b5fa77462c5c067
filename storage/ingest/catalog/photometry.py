"""A catalog chunk's photometry and galaxy magnitudes, corrected for Galactic extinction.

Photometry comes from the flux columns when mapped, else from magnitudes with errors
(converted to nanomaggies by :mod:`storage.ingest.catalog.magnitudes`). Galaxy magnitudes are AB:
the magnitude columns (asinh ones converted), or, with ``ref_band`` and no magnitudes
mapped, computed from the fluxes. Rows are file rows from ``start``.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from storage.ingest.catalog.column_map import ColumnMap
from storage.ingest.catalog.columns import band_matrix, band_refs
from storage.ingest.catalog.magnitudes import (
    SDSS_SOFTENING,
    ab_to_flux,
    asinh_flux,
    asinh_to_flux,
    deredden,
    flux_to_ab,
)
from storage.ingest.records import PhotometryRecords
from storage.ingest.validate import check_ivar, raise_first

_F32_MAX = float(np.finfo(np.float32).max)


def photometry_and_magnitudes(
    table: Table, m: ColumnMap, ids: np.ndarray, start: int, stop: int, file: str
) -> tuple[list[PhotometryRecords], dict[str, np.ndarray]]:
    """(photometry of rows [start, stop) or [], band -> (n,) AB magnitudes, NaN unknown)."""
    mag_bands = tuple(m.mags)
    mags, mag_cols = _magnitudes(table, m, start, stop, file)
    if m.fluxes is not None:
        bands = m.bands
        flux, ivar, columns = _fluxes(table, m, start, stop, file)
    elif mag_bands:
        bands = mag_bands
        flux, ivar, columns = _from_magnitudes(table, m, mags, mag_cols, start, stop, file)
    else:
        bands, flux, ivar, columns = (), None, None, []
    extinction = _extinction(table, m, start, stop, file)
    if flux is not None and extinction:
        flux, ivar = deredden(flux, ivar, np.stack([extinction[b] for b in bands], axis=1))
    galaxy_mags = _galaxy_magnitudes(m, mags, extinction)
    if flux is None:
        return [], galaxy_mags
    if not mag_bands and m.ref_band is not None:
        galaxy_mags = {b: np.where(ivar[:, i] > 0, flux_to_ab(flux[:, i]), np.nan)
                       for i, b in enumerate(bands)}  # fmt: skip
    for b, column in enumerate(columns):
        raise_first(
            (np.abs(flux[:, b]) > _F32_MAX) | (ivar[:, b] > _F32_MAX),
            "value(s) whose flux or inverse variance exceeds float32 (a sentinel such as "
            "99 or -9999? mark missing values NaN or masked)",
            file=file,
            column=column,
            first_row=start,
            label=f"column {column!r} (band {bands[b]!r})",
        )
    units = m.flux_units if m.fluxes is not None else "nanomaggy"
    records = PhotometryRecords(
        source_ids=ids,
        flux=flux.astype(np.float32),
        ivar=ivar.astype(np.float32),
        bands=bands,
        units=units,
    )
    return [records], galaxy_mags


def _fluxes(
    table: Table, m: ColumnMap, start: int, stop: int, file: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(flux, ivar, flux column per band) from the flux columns; masked -> flux 0, ivar 0."""
    flux, flux_missing, flux_cols = band_matrix(table, m.fluxes, m.bands, start, stop, file)
    if m.flux_ivar is not None:
        ivar, ivar_missing, ivar_cols = band_matrix(table, m.flux_ivar, m.bands, start, stop, file)
        ivar[ivar_missing] = 0.0
    else:
        err, err_missing, ivar_cols = band_matrix(table, m.flux_err, m.bands, start, stop, file)
        ivar = _inverse_variance(err, err_missing, ivar_cols, m.bands, "flux", start, file)
    ivar[flux_missing] = 0.0
    for b in range(len(m.bands)):
        label = f"column {ivar_cols[b]!r} (band {m.bands[b]!r})"
        check_ivar(ivar[:, b], file=file, column=ivar_cols[b], label=label, first_row=start)
        raise_first(
            ~np.isfinite(flux[:, b]) & (ivar[:, b] > 0),
            "non-finite flux(es) with ivar > 0",
            file=file,
            column=flux_cols[b],
            first_row=start,
            values=flux[:, b],
            label=f"column {flux_cols[b]!r} (band {m.bands[b]!r})",
        )
    flux[flux_missing | ~np.isfinite(flux)] = 0.0
    return flux, ivar, flux_cols


def _inverse_variance(
    err: np.ndarray,
    missing: np.ndarray,
    columns: list[str],
    bands: tuple[str, ...],
    what: str,
    start: int,
    file: str,
) -> np.ndarray:
    """1/err^2 (n, B); NaN or masked errors give 0, others must be positive and finite."""
    missing = missing | np.isnan(err)
    for b, column in enumerate(columns):
        raise_first(
            ~missing[:, b] & (~(err[:, b] > 0) | np.isinf(err[:, b])),
            f"{what} error(s) that are not positive and finite (band {bands[b]!r})",
            file=file,
            column=column,
            first_row=start,
            values=err[:, b],
        )
    return np.where(missing, 0.0, 1.0 / np.where(missing, 1.0, err) ** 2)


def _magnitudes(
    table: Table, m: ColumnMap, start: int, stop: int, file: str
) -> tuple[np.ndarray, list[str]]:
    """(magnitudes (n, M) in ``m.mags`` order, NaN where missing; column per band)."""
    bands = tuple(m.mags)
    mags, missing, columns = band_refs(table, m.mags, bands, start, stop, file)
    for b, column in enumerate(columns):
        raise_first(
            np.isinf(mags[:, b]) & ~missing[:, b],
            "infinite magnitude(s)",
            file=file,
            column=column,
            first_row=start,
            label=f"column {column!r} (band {bands[b]!r})",
        )
    mags[missing] = np.nan
    return mags, columns


def _softening(m: ColumnMap) -> np.ndarray:
    """(M,) asinh softening b per magnitude band, nanomaggies."""
    return np.array([m.softening.get(b, SDSS_SOFTENING.get(b, np.nan)) for b in m.mags])


def _from_magnitudes(
    table: Table,
    m: ColumnMap,
    mags: np.ndarray,
    mag_cols: list[str],
    start: int,
    stop: int,
    file: str,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(flux, ivar, magnitude column per band) in nanomaggies from magnitudes and errors."""
    bands = tuple(m.mags)
    err, missing, err_cols = band_refs(table, m.mag_err, bands, start, stop, file)
    ivar_of_err = _inverse_variance(err, missing, err_cols, bands, "magnitude", start, file)
    err = np.where(ivar_of_err > 0, err, np.nan)  # missing errors: the band is missing
    if m.mag_type == "asinh":
        flux, ivar = asinh_to_flux(mags, err, _softening(m))
    else:
        flux, ivar = ab_to_flux(mags, err)
    return flux, ivar, mag_cols


def _extinction(
    table: Table, m: ColumnMap, start: int, stop: int, file: str
) -> dict[str, np.ndarray]:
    """band -> (n,) Galactic extinction A (magnitudes); refuses missing and negative A."""
    bands = tuple(m.extinction)
    values, missing, columns = band_refs(table, m.extinction, bands, start, stop, file)
    for b, column in enumerate(columns):
        label = f"column {column!r} (band {bands[b]!r})"
        where = dict(file=file, column=column, first_row=start, label=label)
        raise_first(
            missing[:, b] | ~np.isfinite(values[:, b]),
            "missing or non-finite extinction value(s)",
            values=values[:, b],
            **where,
        )
        raise_first(values[:, b] < 0, "negative extinction value(s)", values=values[:, b], **where)
    return {b: values[:, i] for i, b in enumerate(bands)}


def _galaxy_magnitudes(
    m: ColumnMap, mags: np.ndarray, extinction: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """band -> (n,) extinction-corrected AB magnitudes of the magnitude columns."""
    out = {}
    softening = _softening(m)
    for i, band in enumerate(m.mags):
        a = extinction.get(band, 0.0)
        if m.mag_type == "asinh":
            out[band] = flux_to_ab(asinh_flux(mags[:, i], softening[i]) * 10.0 ** (0.4 * a))
        else:
            out[band] = mags[:, i] - a
    return out
