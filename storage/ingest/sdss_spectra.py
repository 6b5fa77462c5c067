"""Read SDSS/BOSS ``spec-PLATE-MJD-FIBER.fits`` files (DR8+ layout), one spectrum per file.

Layout (SDSS data model ``BOSS_SPECTRO_REDUX/RUN2D/spectra/PLATE4/spec.html``):
HDU 0 header keywords (PLUG_RA, PLUG_DEC, PLATEID, MJD, FIBERID, RUN2D, ...);
HDU 1 ``COADD`` binary table with one row per pixel: ``flux`` [1e-17 erg/s/cm2/Angstrom],
``loglam`` [log10 Angstrom, vacuum], ``ivar``, ``and_mask``, ``or_mask``, ``wdisp``, ``sky``,
``model``; HDU 2 ``SPECOBJ`` (``SPALL`` in recent BOSS reductions) with one row: ``Z``,
``Z_ERR``, ``ZWARNING``, ``CLASS``, ``PLUG_RA``, ``PLUG_DEC``, ``PLATE``, ``MJD``,
``FIBERID``, ``SPECOBJID``, ``INSTRUMENT``, ...

The galaxy id is ``"PPPP-MMMMM-FFFF"`` (plate-mjd-fiber): it is what the file name
carries, it is present in every file (SPECOBJID is not), and unlike SPECOBJID it does
not change between pipeline reductions (SPECOBJID also encodes RUN2D).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits

from storage.errors import IngestError, IngestWarning
from storage.ingest.fits_file import FitsHDU, load_fits
from storage.ingest.records import (
    Bundle,
    GalaxyRecords,
    SpectrumRecord,
    TaskSpec,
    ValueRecords,
)
from storage.ingest.validate import (
    IdIndex,
    check_finite,
    check_ivar,
    check_ra_dec,
    check_strictly_increasing,
)

REDSHIFT_TASK = TaskSpec("redshift", "regression", target="redshift")
SDSS_FLUX_UNIT = "1e-17 erg / (s cm2 Angstrom)"
_FILENAME = re.compile(r"^spec-(\d{4,})-(\d{5})-(\d{4,})$")
_META_NAMES = ("SPECOBJ", "SPALL")
# BOSS began after MJD 55000 (2009); SDSS-I/II spectra end before it.
_BOSS_FIRST_MJD = 55000


def _coadd(hdus: list[FitsHDU], file: str) -> FitsHDU:
    """The COADD table HDU (by EXTNAME, else HDU 1 when it is a table)."""
    for hdu in hdus:
        if hdu.name.upper() == "COADD" and hdu.columns is not None:
            return hdu
    if len(hdus) > 1 and hdus[1].columns is not None and not hdus[1].name:
        return hdus[1]
    names = ", ".join(h.label for h in hdus)
    raise IngestError(f"no COADD binary table HDU (HDUs: {names})", file=file)


def _column(hdu: FitsHDU, name: str, file: str, *, required: bool = True) -> np.ndarray | None:
    """A column by case-insensitive name; IngestError naming HDU and column when required."""
    for key, values in hdu.columns.items():
        if key.lower() == name.lower():
            return values
    if required:
        raise IngestError(
            f"{hdu.label} has no column {name!r} (columns: {', '.join(hdu.columns)})",
            file=file,
            column=name,
        )
    return None


def _pixels(hdu: FitsHDU, name: str, file: str, *, required: bool = True) -> np.ndarray | None:
    """One per-pixel COADD column as 1-D (a single-row vector column is unrolled)."""
    values = _column(hdu, name, file, required=required)
    if values is None:
        return None
    if values.ndim == 2 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 1:
        raise IngestError(
            f"{hdu.label} column {name!r} has shape {values.shape}; expected one value per pixel",
            file=file,
            column=name,
        )
    if values.dtype.kind not in "biuf":
        raise IngestError(
            f"{hdu.label} column {name!r} holds {values.dtype}, not numbers",
            file=file,
            column=name,
        )
    return values


def _spectrum_arrays(hdu: FitsHDU, file: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked (wavelength Angstrom float64, flux float32, ivar float32) from COADD."""
    loglam = _pixels(hdu, "loglam", file)
    flux = _pixels(hdu, "flux", file)
    ivar = _pixels(hdu, "ivar", file)
    and_mask = _pixels(hdu, "and_mask", file, required=False)
    columns = {"loglam": loglam, "flux": flux, "ivar": ivar}
    if and_mask is not None:
        columns["and_mask"] = and_mask
    lengths = {name: len(v) for name, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise IngestError(f"{hdu.label} columns differ in length: {lengths}", file=file)
    if len(loglam) == 0:
        raise IngestError(f"{hdu.label} holds no pixels", file=file)
    check_strictly_increasing(loglam, file=file, column="loglam")
    check_ivar(ivar, file=file, column="ivar")
    ivar = ivar.astype(np.float32)
    if and_mask is not None:
        ivar[and_mask != 0] = 0.0
    flux = flux.astype(np.float32)
    check_finite(flux, file=file, column="flux", where=ivar > 0)
    flux[~np.isfinite(flux)] = 0.0
    return 10.0 ** loglam.astype(np.float64), flux, ivar


def _meta(hdus: list[FitsHDU], file: str) -> dict[str, object]:
    """The single SPECOBJ/SPALL row as {UPPER column name: value}; empty when absent."""
    hdu = next((h for h in hdus if h.name.upper() in _META_NAMES and h.columns is not None), None)
    if hdu is None:
        return {}
    lengths = {len(v) for v in hdu.columns.values()}
    if lengths != {1}:
        raise IngestError(f"{hdu.label} should hold one row, holds {sorted(lengths)}", file=file)
    row = {}
    for key, values in hdu.columns.items():
        value = values[0]
        row[key.upper()] = value.strip() if isinstance(value, str) else value
    return row


def _int_field(keys: Sequence[str], *sources: Mapping[str, object] | fits.Header) -> int | None:
    """The first of ``keys`` found in ``sources`` (in order), as an int; None when absent."""
    for source in sources:
        for key in keys:
            if key in source:
                try:
                    return int(source[key])
                except (TypeError, ValueError, OverflowError):
                    continue
    return None


def _observation(
    path: Path, meta: Mapping[str, object], header: fits.Header
) -> tuple[int, int, int]:
    """(plate, mjd, fiber) from SPECOBJ, else the header, else the file name."""
    file = str(path)
    from_name = _FILENAME.match(path.name.removesuffix(".gz").removesuffix(".fits"))
    if from_name is None:
        warnings.warn(
            f"{file}: file name does not match spec-PLATE-MJD-FIBER.fits",
            IngestWarning,
            stacklevel=3,
        )
    found = (
        _int_field(("PLATE", "PLATEID"), meta, header),
        _int_field(("MJD",), meta, header),
        _int_field(("FIBERID", "FIBER"), meta, header),
    )
    if None in found:
        if from_name is None:
            raise IngestError(
                "cannot tell plate, MJD and fiber: no PLATE/MJD/FIBERID in SPECOBJ or the "
                "header, and the name is not spec-PLATE-MJD-FIBER.fits",
                file=file,
            )
        named = tuple(int(g) for g in from_name.groups())
        found = tuple(f if f is not None else n for f, n in zip(found, named, strict=True))
    if from_name is not None and tuple(int(g) for g in from_name.groups()) != found:
        warnings.warn(
            f"{file}: the file name says plate-mjd-fiber {from_name.groups()} but the file "
            f"holds {found}; using the file's",
            IngestWarning,
            stacklevel=3,
        )
    return found


def _float_field(key: str, *sources: Mapping[str, object] | fits.Header) -> float | None:
    """``key`` from the first of ``sources`` holding it, as a finite float; else None."""
    for source in sources:
        if key in source:
            try:
                value = float(source[key])
            except (TypeError, ValueError):
                return None
            return value if np.isfinite(value) else None
    return None


def _instrument(meta: Mapping[str, object], header: fits.Header, mjd: int) -> str:
    """ "sdss" or "boss": the INSTRUMENT column, else RUN2D (BOSS runs are "v5_..."), else MJD."""
    named = str(meta.get("INSTRUMENT", "")).strip().lower()
    if named:
        return named
    run2d = str(meta.get("RUN2D", header.get("RUN2D", ""))).strip()
    if run2d:
        return "boss" if run2d.lower().startswith("v") else "sdss"
    return "boss" if mjd >= _BOSS_FIRST_MJD else "sdss"


def _read_one(path: Path) -> tuple[str, Bundle]:
    """Read one spec file into (galaxy id, Bundle)."""
    file = str(path)
    hdus = load_fits(path)
    header = hdus[0].header
    wavelength, flux, ivar = _spectrum_arrays(_coadd(hdus, file), file)
    meta = _meta(hdus, file)
    plate, mjd, fiber = _observation(path, meta, header)
    source_id = f"{plate:04d}-{mjd:05d}-{fiber:04d}"
    ra = _float_field("PLUG_RA", meta, header)
    dec = _float_field("PLUG_DEC", meta, header)
    if (ra is None) != (dec is None):
        raise IngestError("PLUG_RA and PLUG_DEC must both be given", file=file)
    if ra is not None:
        check_ra_dec([ra], [dec], file=file, ra_column="PLUG_RA", dec_column="PLUG_DEC")
    z = _float_field("Z", meta)
    spec_class = str(meta.get("CLASS", "")).strip() or None
    spectrum = SpectrumRecord(
        source_id=source_id,
        wavelength=wavelength,
        flux=flux,
        ivar=ivar,
        instrument=_instrument(meta, header, mjd),
        flux_unit=SDSS_FLUX_UNIT,
        redshift=z,
        redshift_err=_float_field("Z_ERR", meta),
        spec_class=spec_class,
        ra=ra,
        dec=dec,
    )
    galaxies = None
    if ra is not None:
        galaxies = GalaxyRecords(
            source_ids=np.array([source_id]),
            ra=np.array([ra]),
            dec=np.array([dec]),
            provenance="sdss spectrum",
        )
    values = []
    if z is not None and _int_field(("ZWARNING",), meta) in (None, 0):
        values.append(
            ValueRecords(
                task=REDSHIFT_TASK,
                source_ids=np.array([source_id]),
                values=np.array([z]),
                label_source="spectroscopy",
            )
        )
    return source_id, Bundle(source=file, galaxies=galaxies, spectra=[spectrum], values=values)


def read_sdss_spectra(paths: Sequence[Path]) -> Iterator[Bundle]:
    """Yield one Bundle per SDSS/BOSS spec file: the spectrum, its galaxy and redshift label.

    wavelength = 10**loglam (vacuum Angstrom); pixels with and_mask != 0 get ivar 0; NaN
    flux is allowed only where ivar is 0 (and then set to 0). The redshift label (task
    ``redshift``, label_source "spectroscopy") is emitted when Z is finite and ZWARNING is 0
    or absent. Galaxies without PLUG_RA/PLUG_DEC get no GalaxyRecords.
    """
    seen = IdIndex()
    for path in map(Path, paths):
        source_id, bundle = _read_one(path)
        seen.add([source_id], file=str(path), first_row=None)
        yield bundle
