# Over 400 lines: two FITS layouts, WCS cut-outs and every header check with its error message.
"""Read multi-band FITS cutouts, one galaxy per file, into ``ImageRecords``.

Two layouts are understood:

* one 2-D image HDU per band; the band is the HDU's EXTNAME, else its BAND or FILTER
  keyword (or, when no HDU names a band, the ``bands`` argument in HDU order);
* one 3-D cube (NAXIS3 = bands); band names from ``bands``, else BAND1.. / FILTER1..
  keywords.

Inverse variances come from HDUs named ``IVAR_<band>`` (per-band layout) or ``IVAR``
(cube). HDUs named ``MASK*`` are ignored. Files are read by
:func:`storage.ingest.fits_file.load_fits` (bounded, every failure an ``IngestError``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from storage.errors import IngestError, IngestWarning
from storage.ingest.fits_file import FitsHDU, load_fits
from storage.ingest.orientation import orientation_from_wcs
from storage.ingest.records import Bundle, GalaxyRecords, ImageRecords, Orientation
from storage.ingest.validate import IdIndex, check_finite, check_ivar, check_ra_dec

DEFAULT_CHUNK_FILES = 256
_IGNORED_PREFIXES = ("MASK",)


def _band_of(hdu: FitsHDU) -> str | None:
    """The band an image HDU holds: EXTNAME (unless PRIMARY), else BAND, else FILTER.

    EXTNAME is lower-cased: FITS treats it case-insensitively and astropy writes it in
    upper case, so its case carries no meaning (BAND/FILTER values are kept as written).
    """
    if hdu.name and hdu.name.upper() != "PRIMARY":
        return hdu.name.lower()
    for key in ("BAND", "FILTER"):
        value = str(hdu.header.get(key, "")).strip()
        if value:
            return value
    return None


def _image_hdus(hdus: list[FitsHDU], file: str) -> tuple[list[FitsHDU], list[FitsHDU]]:
    """Split the image HDUs holding data into (science, ivar); tables and masks are skipped."""
    science, ivar = [], []
    for hdu in hdus:
        if hdu.data is None or hdu.data.size == 0:
            continue
        upper = hdu.name.upper()
        if upper.startswith(_IGNORED_PREFIXES):
            continue
        (ivar if upper.startswith("IVAR") else science).append(hdu)
    if not science:
        names = ", ".join(h.label for h in hdus)
        raise IngestError(f"no image HDU with pixels (HDUs: {names})", file=file)
    return science, ivar


def _as_float32(hdu: FitsHDU, file: str) -> np.ndarray:
    """HDU pixels as native float32; refuses non-numeric data."""
    if hdu.data.dtype.kind not in "biuf":
        raise IngestError(f"{hdu.label} holds {hdu.data.dtype} data, not pixels", file=file)
    return np.asarray(hdu.data, dtype=np.float32)


@dataclass(frozen=True)
class _Cutout:
    """One file's cutout before grouping: pixels (B, H, W), ivar same or None."""

    pixels: np.ndarray
    ivar: np.ndarray | None
    bands: tuple[str, ...]
    header: fits.Header


def _per_band(
    science: list[FitsHDU], ivar: list[FitsHDU], bands: Sequence[str] | None, file: str
) -> _Cutout:
    """Stack one 2-D HDU per band (ordered as ``bands`` when given) with IVAR_<band> HDUs."""
    named = [_band_of(h) for h in science]
    if bands is not None and not any(named) and len(bands) == len(science):
        named = list(bands)
    by_band: dict[str, FitsHDU] = {}
    for hdu, band in zip(science, named, strict=True):
        if band is None:
            raise IngestError(
                f"{hdu.label} names no band (no EXTNAME, BAND or FILTER keyword); "
                "pass bands=... to name the HDUs in order",
                file=file,
            )
        if band.lower() in {b.lower() for b in by_band}:
            raise IngestError(f"duplicate band {band!r} in {hdu.label}", file=file)
        by_band[band] = hdu
    chosen = _choose_bands(list(by_band), bands, file)
    lookup = {b.lower(): h for b, h in by_band.items()}
    hdus = [lookup[b.lower()] for b in chosen]
    shapes = {h.label: h.data.shape for h in hdus}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{k} {v}" for k, v in shapes.items())
        raise IngestError(f"bands have different shapes: {listed}", file=file)
    pixels = np.stack([_as_float32(h, file) for h in hdus])
    return _Cutout(
        pixels, _band_ivar(ivar, chosen, pixels.shape, file), tuple(chosen), hdus[0].header
    )


def _choose_bands(found: list[str], bands: Sequence[str] | None, file: str) -> list[str]:
    """The requested bands, as the caller spells them (all found ones, in file order, if None)."""
    if bands is None:
        return found
    lookup = {b.lower(): b for b in found}
    missing = [b for b in bands if b.lower() not in lookup]
    if missing:
        raise IngestError(
            f"band(s) {missing} requested but the file holds {found}", file=file, column=None
        )
    return list(bands)


def _band_ivar(
    ivar: list[FitsHDU], bands: list[str], shape: tuple[int, ...], file: str
) -> np.ndarray | None:
    """Stack IVAR_<band> HDUs in ``bands`` order; None when the file has none."""
    by_band = {h.name.upper().removeprefix("IVAR").lstrip("_-"): h for h in ivar}
    if not by_band:
        return None
    missing = [b for b in bands if b.upper() not in by_band]  # EXTNAME is case-insensitive
    if missing:
        raise IngestError(
            f"IVAR HDUs found for {sorted(by_band)} but not for band(s) {missing}", file=file
        )
    planes = []
    for band in bands:
        hdu = by_band[band.upper()]
        if hdu.data.shape != shape[1:]:
            raise IngestError(
                f"{hdu.label} has shape {hdu.data.shape}; the band images are {shape[1:]}",
                file=file,
            )
        planes.append(_as_float32(hdu, file))
    return np.stack(planes)


def _cube_bands(hdu: FitsHDU, bands: Sequence[str] | None, file: str) -> tuple[str, ...]:
    """Band names of a cube's NAXIS3 planes: ``bands``, else BAND1.. or FILTER1.. keywords."""
    depth = hdu.data.shape[0]
    if bands is None:
        for key in ("BAND", "FILTER"):
            names = [str(hdu.header.get(f"{key}{i + 1}", "")).strip() for i in range(depth)]
            if all(names):
                bands = names
                break
    if bands is None:
        raise IngestError(
            f"{hdu.label} is a cube of {depth} planes without BAND1../FILTER1.. keywords; "
            "pass bands=... to name them",
            file=file,
        )
    if len(bands) != depth:
        raise IngestError(
            f"{hdu.label} has {depth} planes (NAXIS3) but {len(bands)} band names {list(bands)}",
            file=file,
        )
    if len({b.lower() for b in bands}) != len(bands):
        raise IngestError(f"duplicate band in {list(bands)} for {hdu.label}", file=file)
    return tuple(bands)


def _cube(hdu: FitsHDU, ivar: list[FitsHDU], bands: Sequence[str] | None, file: str) -> _Cutout:
    """Read a 3-D cube HDU (and an optional IVAR cube of the same shape)."""
    names = _cube_bands(hdu, bands, file)
    pixels = _as_float32(hdu, file)
    cube_ivar = None
    if ivar:
        if len(ivar) > 1 or ivar[0].data.shape != pixels.shape:
            shapes = ", ".join(f"{h.label} {h.data.shape}" for h in ivar)
            raise IngestError(
                f"expected one IVAR cube of shape {pixels.shape}, found {shapes}", file=file
            )
        cube_ivar = _as_float32(ivar[0], file)
    return _Cutout(pixels, cube_ivar, names, hdu.header)


def _cutout(hdus: list[FitsHDU], bands: Sequence[str] | None, file: str) -> _Cutout:
    """The file's cutout in either layout, with its pixels checked."""
    science, ivar = _image_hdus(hdus, file)
    for hdu in science + ivar:
        if hdu.data.ndim not in (2, 3):
            raise IngestError(
                f"{hdu.label} has {hdu.data.ndim} dimension(s) {hdu.data.shape}; expected a "
                "2-D image per band or one 3-D cube",
                file=file,
            )
    cubes = [h for h in science if h.data.ndim == 3]
    if cubes and len(science) > 1:
        listed = ", ".join(f"{h.label} {h.data.shape}" for h in science)
        raise IngestError(f"expected one 3-D cube or only 2-D images, found {listed}", file=file)
    cut = _cube(cubes[0], ivar, bands, file) if cubes else _per_band(science, ivar, bands, file)
    check_finite(cut.pixels, file=file, column=None, label="the pixels", first_row=None)
    if cut.ivar is not None:
        check_ivar(cut.ivar, file=file, column=None, label="the IVAR pixels", first_row=None)
    return cut


def _celestial_wcs(header: fits.Header) -> WCS | None:
    """The header's celestial WCS, or None when it has none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        try:
            wcs = WCS(header)
        except (ValueError, KeyError, MemoryError, TypeError) as exc:
            warnings.warn(f"ignoring an unreadable WCS: {exc}", IngestWarning, stacklevel=4)
            return None
    return wcs.celestial if wcs.has_celestial else None


def _pixel_scale(
    wcs: WCS | None, headers: list[fits.Header], given: float | None, file: str
) -> float:
    """Arcsec per pixel: from the WCS, else a PIXSCALE keyword, else ``given``."""
    found = None
    if wcs is not None:
        scales = proj_plane_pixel_scales(wcs) * 3600.0
        found = float(np.mean(scales))
    else:
        for header in headers:
            if "PIXSCALE" in header:
                found = _float_keyword(header, "PIXSCALE", file)
                break
    if found is None:
        if given is None:
            raise IngestError(
                "no pixel scale: the header has no celestial WCS or PIXSCALE keyword; "
                "pass pixel_scale=... (arcsec per pixel)",
                file=file,
            )
        return given
    if not np.isfinite(found) or found <= 0:
        raise IngestError(f"pixel scale {found} arcsec from the header is not positive", file=file)
    if given is not None and not np.isclose(found, given, rtol=0.01):
        warnings.warn(
            f"{file}: header pixel scale {found:.6g} arcsec differs from pixel_scale={given}; "
            "using the header's",
            IngestWarning,
            stacklevel=4,
        )
    return round(found, 6)


def _float_keyword(header: fits.Header, key: str, file: str) -> float:
    """A header keyword as a float; IngestError naming it when it is not a number."""
    value = header[key]
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise IngestError(f"header keyword {key} = {value!r} is not a number", file=file) from exc


def _position(
    wcs: WCS | None, headers: list[fits.Header], shape: tuple[int, ...], file: str
) -> tuple[float, float] | None:
    """RA, Dec (deg) from RA/DEC or OBJRA/OBJDEC keywords, else the WCS at the image centre."""
    for header in headers:
        for ra_key, dec_key in (("RA", "DEC"), ("OBJRA", "OBJDEC")):
            if ra_key in header and dec_key in header:
                ra, dec = (
                    _float_keyword(header, ra_key, file),
                    _float_keyword(header, dec_key, file),
                )
                check_ra_dec([ra], [dec], file=file, ra_column=ra_key, dec_column=dec_key)
                return ra, dec
    if wcs is None:
        return None
    height, width = shape[-2:]
    ra, dec = wcs.pixel_to_world_values((width - 1) / 2.0, (height - 1) / 2.0)
    ra = float(ra) % 360.0
    check_ra_dec([ra], [float(dec)], file=file, ra_column="CRVAL1", dec_column="CRVAL2")
    return ra, float(dec)


def _units(headers: list[fits.Header], file: str) -> str:
    """BUNIT of the science header (else primary); "unknown", with a warning, when absent."""
    for header in headers:
        unit = str(header.get("BUNIT", "")).strip()
        if unit:
            return unit
    warnings.warn(
        f"{file}: no BUNIT keyword; units recorded as 'unknown'", IngestWarning, stacklevel=4
    )
    return "unknown"


@dataclass(frozen=True)
class _Galaxy:
    """One file's cutout with its id, position and metadata, ready to group."""

    source_id: str
    file: str
    cutout: _Cutout
    pixel_scale: float
    units: str
    position: tuple[float, float] | None
    orientation: Orientation | None

    @property
    def group(self) -> tuple:
        """Galaxies with equal keys share one ImageRecords."""
        has_ivar = self.cutout.ivar is not None
        shape = self.cutout.pixels.shape
        return (self.cutout.bands, shape, self.pixel_scale, self.units, has_ivar, self.orientation)


def _read_one(
    path: Path, bands: Sequence[str] | None, pixel_scale: float | None, id_key: str
) -> _Galaxy:
    """Read and check one cutout file."""
    file = str(path)
    hdus = load_fits(path)
    cut = _cutout(hdus, bands, file)
    headers = [cut.header] + ([hdus[0].header] if hdus[0].header is not cut.header else [])
    wcs = _celestial_wcs(cut.header)
    source_id = str(cut.header.get(id_key, hdus[0].header.get(id_key, path.stem))).strip()
    if not source_id:
        raise IngestError(f"header keyword {id_key} is empty", file=file)
    return _Galaxy(
        source_id=source_id,
        file=file,
        cutout=cut,
        pixel_scale=_pixel_scale(wcs, headers, pixel_scale, file),
        units=_units(headers, file),
        position=_position(wcs, headers, cut.pixels.shape, file),
        orientation=orientation_from_wcs(wcs, cut.pixels.shape),
    )


def chunk_source(files: Sequence[str]) -> str:
    """``Bundle.source`` for a chunk of files: the path, or "first .. last (n files)"."""
    if len(files) == 1:
        return files[0]
    return f"{files[0]} .. {files[-1]} ({len(files)} files)"


def _bundle(galaxies: list[_Galaxy]) -> Bundle:
    """One Bundle: galaxies with positions, and one ImageRecords per (bands, shape, ...) group."""
    groups: dict[tuple, list[_Galaxy]] = {}
    for galaxy in galaxies:
        groups.setdefault(galaxy.group, []).append(galaxy)
    images = []
    for members in groups.values():
        first = members[0]
        ivar = None
        if first.cutout.ivar is not None:
            ivar = np.stack([g.cutout.ivar for g in members])
        images.append(
            ImageRecords(
                source_ids=np.array([g.source_id for g in members], dtype=str),
                pixels=np.stack([g.cutout.pixels for g in members]),
                bands=first.cutout.bands,
                pixel_scale=first.pixel_scale,
                units=first.units,
                ivar=ivar,
                orientation=first.orientation,
            )
        )
    placed = [g for g in galaxies if g.position is not None]
    records = None
    if placed:
        records = GalaxyRecords(
            source_ids=np.array([g.source_id for g in placed], dtype=str),
            ra=np.array([g.position[0] for g in placed], dtype=np.float64),
            dec=np.array([g.position[1] for g in placed], dtype=np.float64),
            provenance="fits cutout",
        )
    return Bundle(source=chunk_source([g.file for g in galaxies]), galaxies=records, images=images)


def read_fits_images(
    paths: Sequence[Path],
    *,
    bands: Sequence[str] | None = None,
    pixel_scale: float | None = None,
    id_key: str = "OBJID",
    chunk_files: int = DEFAULT_CHUNK_FILES,
) -> Iterator[Bundle]:
    """Yield Bundles of up to ``chunk_files`` FITS cutouts (one galaxy per file).

    bands: band names to keep, in this order (per-band layout) or the names of a cube's
    planes; pixel_scale: arcsec per pixel when the header has neither WCS nor PIXSCALE;
    id_key: header keyword holding the galaxy id (else the file stem). Galaxies without a
    position (no RA/DEC keywords, no WCS) get images but no GalaxyRecords.
    """
    if pixel_scale is not None and not (np.isfinite(pixel_scale) and pixel_scale > 0):
        raise ValueError(f"pixel_scale must be a positive number of arcsec, got {pixel_scale!r}")
    if chunk_files < 1:
        raise ValueError(f"chunk_files must be >= 1, got {chunk_files!r}")
    seen = IdIndex()
    chunk: list[_Galaxy] = []
    for path in paths:
        galaxy = _read_one(Path(path), bands, pixel_scale, id_key)
        seen.add([galaxy.source_id], file=galaxy.file, first_row=None)
        chunk.append(galaxy)
        if len(chunk) == chunk_files:
            yield _bundle(chunk)
            chunk = []
    if chunk:
        yield _bundle(chunk)
