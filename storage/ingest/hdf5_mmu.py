# Over 400 lines: the MMU layout's images, spectra and columns, with their bounds checks.
"""Read HDF5 files in the Multimodal Universe (MMU) layout, in slices of rows.

An MMU file (``<survey>/healpix=<n>/001-of-001.hdf5``) holds flat top-level datasets, one
row per object: ``object_id``, ``ra``, ``dec`` (deg); images ``image_array`` (N, B, H, W),
``image_band`` (N, B) bytes, ``image_ivar`` (N, B, H, W), ``image_mask`` (nonzero = bad;
(N, B, H, W) or (N, H, W)), ``image_scale`` (N, B) arcsec/pixel, ``image_psf_fwhm``;
spectra ``spectrum_flux``, ``spectrum_ivar``, ``spectrum_lambda`` (Angstrom),
``spectrum_mask`` (True = bad), each (N, L) and padded at the end (MMU pads lambda with
-1 or 0 and ivar with 0); catalog scalars such as ``Z``, ``Z_ERR`` / ``ZERR``, ``ZWARNING``
/ ``ZWARN``. Units come from a dataset's ``unit``/``units``/``BUNIT`` attribute when set.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from storage.errors import IngestError, IngestWarning
from storage.ingest.detect import detect_format
from storage.ingest.limits import Limits, check_declared
from storage.ingest.records import (
    Bundle,
    GalaxyRecords,
    ImageRecords,
    SpectrumRecord,
    ValueRecords,
)
from storage.ingest.sdss_spectra import REDSHIFT_TASK
from storage.ingest.validate import (
    IdIndex,
    check_finite,
    check_ivar,
    check_numeric,
    check_ra_dec,
    check_shape,
    check_strictly_increasing,
    raise_first,
)

_IMAGE = ("image_array", "image_band", "image_ivar", "image_mask", "image_scale")
_SPECTRUM = ("spectrum_flux", "spectrum_lambda", "spectrum_ivar", "spectrum_mask")
_Z, _Z_ERR, _Z_WARN = ("Z", "z"), ("Z_ERR", "ZERR", "z_err"), ("ZWARNING", "ZWARN")
_DEFAULT_SPECTRUM_UNIT = "1e-17 erg / (s cm2 Angstrom)"


@dataclass(frozen=True)
class _Layout:
    """The datasets of one file, by role; None where the file lacks one."""

    file: str
    n: int
    datasets: dict[str, h5py.Dataset]

    def get(self, name: str) -> h5py.Dataset | None:
        """The dataset called ``name``, or None."""
        return self.datasets.get(name)

    def first(self, names: tuple[str, ...]) -> h5py.Dataset | None:
        """The first of ``names`` the file holds, or None."""
        return next((self.datasets[n] for n in names if n in self.datasets), None)

    def read(self, name: str, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) of ``name``; IngestError naming the dataset when unreadable."""
        try:
            return np.asarray(self.datasets[name][start:stop])
        except (OSError, ValueError, TypeError, RuntimeError) as exc:
            raise IngestError(
                f"cannot read rows {start}..{stop - 1} of dataset {name!r}: {exc}",
                file=self.file,
                column=name,
            ) from exc


def _open(path: Path) -> h5py.File:
    """Open ``path`` read-only as HDF5 (checked by signature)."""
    if detect_format(path) != "hdf5":
        raise IngestError("not an HDF5 file (no HDF5 signature)", file=str(path))
    try:
        return h5py.File(path, "r")
    except (OSError, ValueError, RuntimeError) as exc:
        raise IngestError(f"cannot open the HDF5 file: {exc}", file=str(path)) from exc


def _layout(h5: h5py.File, file: str) -> _Layout:
    """Collect the top-level datasets and check they share the object_id row count."""
    try:
        datasets = {k: v for k, v in h5.items() if isinstance(v, h5py.Dataset)}
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise IngestError(f"cannot list the HDF5 datasets: {exc}", file=file) from exc
    for name in ("object_id", "ra", "dec"):
        if name not in datasets:
            raise IngestError(
                f"no dataset {name!r} (datasets: {', '.join(sorted(datasets)) or 'none'})",
                file=file,
                column=name,
            )
    ids = datasets["object_id"]
    if ids.ndim != 1:
        raise IngestError(f"dataset 'object_id' has shape {ids.shape}; expected (N,)", file=file)
    n = ids.shape[0]
    used = ("ra", "dec", *_IMAGE, *_SPECTRUM, *_Z, *_Z_ERR, *_Z_WARN)
    for name in used:
        ds = datasets.get(name)
        if ds is not None and (ds.ndim == 0 or ds.shape[0] != n):
            raise IngestError(
                f"dataset {name!r} has {ds.shape[0] if ds.ndim else 0} rows but 'object_id' "
                f"has {n}",
                file=file,
                column=name,
            )
    lay = _Layout(file, n, {k: v for k, v in datasets.items() if k in ("object_id", *used)})
    for name, ds in lay.datasets.items():
        _check_storage(ds, name, file)
    return lay


def _check_storage(ds: h5py.Dataset, name: str, file: str) -> None:
    """IngestError for a dataset whose bytes are not plain values inside this file: external
    raw storage (any file on the machine, e.g. /etc/passwd, read as pixels), virtual datasets
    (other HDF5 files), compound, reference or variable-length values (strings aside)."""
    if ds.is_virtual:
        raise IngestError(f"dataset {name!r} is virtual (maps other files); refused", file=file)
    if ds.external:
        raise IngestError(
            f"dataset {name!r} is stored in external file(s) {[e[0] for e in ds.external]}; "
            "refused: only data inside the file are read",
            file=file,
            column=name,
        )
    dtype = ds.dtype
    if dtype.names is not None or (dtype.kind == "O" and h5py.check_string_dtype(dtype) is None):
        raise IngestError(
            f"dataset {name!r} holds {dtype} values; expected numbers or strings",
            file=file,
            column=name,
        )


def rows_per_read(lay: _Layout, chunk_size: int, limits: Limits) -> int:
    """How many rows one read may hold: at most ``chunk_size``, fewer when rows are large, so
    a chunk's arrays together stay within ``limits.read_bytes``; IngestError when a single
    row is over the limits (e.g. a cutout declared 12000 x 12000)."""
    row_bytes = 0
    for name, ds in lay.datasets.items():
        image = name in ("image_array", "image_ivar", "image_mask") and ds.ndim >= 3
        row = (1, *ds.shape[1:])
        row_bytes += check_declared(
            lay.file, f"dataset {name!r}", row, ds.dtype.itemsize, limits, image=image,
            already=row_bytes,
        )  # fmt: skip
    return max(1, min(chunk_size, limits.read_bytes // max(row_bytes, 1)))


def _decode(values: np.ndarray, *, file: str, column: str, first_row: int) -> np.ndarray:
    """Ids or band names (bytes, str or integers) as stripped str; refuses empty ones."""
    if values.dtype.kind in "iu":
        return values.astype(str)
    if values.dtype.kind not in "SUO":
        raise IngestError(
            f"expected strings or integers, got {values.dtype}", file=file, column=column
        )
    flat = []
    for i, v in enumerate(values.reshape(-1)):
        try:
            text = v.decode("utf-8") if isinstance(v, bytes) else str(v)
        except UnicodeDecodeError as exc:
            row = first_row + int(np.unravel_index(i, values.shape)[0])
            raise IngestError(f"not UTF-8 text: {v!r}", file=file, row=row, column=column) from exc
        flat.append(text.strip())
    out = np.array(flat, dtype=str).reshape(values.shape)
    raise_first(out == "", "empty string(s)", file=file, column=column, first_row=first_row)
    return out


def _text_attr(obj: h5py.HLObject, keys: tuple[str, ...], file: str) -> str | None:
    """The first of the string attributes ``keys`` on ``obj``; None when none is set."""
    where = obj.name.lstrip("/") or "the file"
    for key in keys:
        try:
            if key not in obj.attrs:
                continue
            value = obj.attrs[key]
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise IngestError(
                f"cannot read attribute {key!r} of {where}: {exc}", file=file
            ) from exc
        try:
            return (value.decode() if isinstance(value, bytes) else str(value)).strip()
        except UnicodeDecodeError as exc:
            raise IngestError(f"attribute {key!r} of {where} is not UTF-8", file=file) from exc
    return None


def _units(ds: h5py.Dataset, default: str | None, file: str) -> str:
    """A dataset's unit attribute, else ``default``, else "unknown" (with a warning)."""
    unit = _text_attr(ds, ("unit", "units", "BUNIT"), file)
    if unit:
        return unit
    if default is not None:
        return default
    warnings.warn(
        f"{file}: dataset {ds.name.lstrip('/')!r} has no unit attribute; units recorded as "
        "'unknown'",
        IngestWarning,
        stacklevel=5,
    )
    return "unknown"


def _images(lay: _Layout, ids: np.ndarray, start: int, stop: int) -> list[ImageRecords]:
    """ImageRecords for rows [start, stop), one per (band list, pixel scale) group."""
    file = lay.file
    if lay.get("image_array") is None:
        return []
    for name in ("image_band", "image_scale"):
        if lay.get(name) is None:
            raise IngestError(
                f"'image_array' is present but {name!r} is not", file=file, column=name
            )
    pixels = lay.read("image_array", start, stop)
    n = stop - start
    check_shape(pixels, (n, -1, -1, -1), file=file, column="image_array")
    check_numeric(pixels, file=file, column="image_array")
    pixels = pixels.astype(np.float32)
    check_finite(pixels, file=file, column="image_array", first_row=start)
    n_bands = pixels.shape[1]
    bands = _decode(
        lay.read("image_band", start, stop), file=file, column="image_band", first_row=start
    )
    check_shape(bands, (n, n_bands), file=file, column="image_band")
    scales = _row_scales(lay.read("image_scale", start, stop), n_bands, file, start)
    ivar = _image_ivar(lay, pixels.shape, start, stop)
    units = _units(lay.get("image_array"), None, file)
    groups: dict[tuple, list[int]] = {}
    for i in range(n):
        groups.setdefault((tuple(bands[i]), scales[i]), []).append(i)
    out = []
    for (names, scale), rows in groups.items():
        if len(set(names)) != len(names):
            raise IngestError(
                f"duplicate band in {list(names)}",
                file=file,
                row=start + rows[0],
                column="image_band",
            )
        out.append(
            ImageRecords(
                source_ids=ids[rows],
                pixels=pixels[rows],
                bands=names,
                pixel_scale=scale,
                units=units,
                ivar=None if ivar is None else ivar[rows],
            )
        )
    return out


def _row_scales(scale: np.ndarray, n_bands: int, file: str, start: int) -> list[float]:
    """One pixel scale (arcsec) per row from image_scale (N,) or (N, B) equal across bands."""
    check_numeric(scale, file=file, column="image_scale")
    scale = scale.astype(np.float64)
    if scale.ndim == 2:
        check_shape(scale, (len(scale), n_bands), file=file, column="image_scale")
        raise_first(
            ~np.isclose(scale, scale[:, :1], rtol=1e-6),
            "pixel scale(s) differing between bands of one object",
            file=file,
            column="image_scale",
            first_row=start,
            values=scale,
        )
        scale = scale[:, 0]
    check_shape(scale, (-1,), file=file, column="image_scale")
    check_finite(scale, file=file, column="image_scale", first_row=start)
    raise_first(
        scale <= 0,
        "non-positive pixel scale(s)",
        file=file,
        column="image_scale",
        first_row=start,
        values=scale,
    )
    return [round(float(s), 6) for s in scale]  # drops float32 noise: 0.262, not 0.26199999


def _image_ivar(lay: _Layout, shape: tuple[int, ...], start: int, stop: int) -> np.ndarray | None:
    """image_ivar for the rows, with image_mask pixels (nonzero) set to 0; None if absent."""
    file = lay.file
    if lay.get("image_ivar") is None:
        if lay.get("image_mask") is not None:
            warnings.warn(
                f"{file}: image_mask without image_ivar is ignored", IngestWarning, stacklevel=5
            )
        return None
    ivar = lay.read("image_ivar", start, stop)
    check_shape(ivar, shape, file=file, column="image_ivar")
    check_numeric(ivar, file=file, column="image_ivar")
    ivar = ivar.astype(np.float32)
    check_ivar(ivar, file=file, column="image_ivar", first_row=start)
    if lay.get("image_mask") is not None:
        mask = lay.read("image_mask", start, stop)
        if mask.shape == (shape[0], *shape[2:]):
            mask = np.broadcast_to(mask[:, np.newaxis], shape)
        check_shape(mask, shape, file=file, column="image_mask")
        ivar[mask != 0] = 0.0
    return ivar


def _valid_length(lam: np.ndarray) -> int:
    """Pixels before the trailing padding (lambda NaN or <= 0) of one spectrum."""
    good = np.flatnonzero(np.isfinite(lam) & (lam > 0))
    return 0 if good.size == 0 else int(good[-1]) + 1


def _spectra(
    lay: _Layout, ids: np.ndarray, start: int, stop: int, instrument: str, z: np.ndarray | None
) -> list[SpectrumRecord]:
    """One SpectrumRecord per row of [start, stop) with a spectrum, padding dropped."""
    file = lay.file
    if lay.get("spectrum_flux") is None:
        return []
    for name in ("spectrum_lambda", "spectrum_ivar"):
        if lay.get(name) is None:
            raise IngestError(
                f"'spectrum_flux' is present but {name!r} is not", file=file, column=name
            )
    flux, lam, ivar = (
        lay.read(n, start, stop) for n in ("spectrum_flux", "spectrum_lambda", "spectrum_ivar")
    )
    mask = lay.read("spectrum_mask", start, stop) if lay.get("spectrum_mask") is not None else None
    for name, arr in (
        ("spectrum_flux", flux),
        ("spectrum_lambda", lam),
        ("spectrum_ivar", ivar),
        ("spectrum_mask", mask),
    ):
        if arr is not None:
            check_shape(
                arr, (stop - start, flux.shape[1] if flux.ndim == 2 else -1), file=file, column=name
            )
            check_numeric(arr, file=file, column=name)
    unit = _units(lay.get("spectrum_flux"), _DEFAULT_SPECTRUM_UNIT, file)
    out = []
    for i in range(stop - start):
        row = start + i
        length = _valid_length(lam[i])
        if length == 0:
            continue
        grid = lam[i, :length].astype(np.float64)
        check_strictly_increasing(
            grid[np.newaxis], file=file, column="spectrum_lambda", first_row=row
        )
        w = ivar[i, :length].astype(np.float32)
        check_ivar(w[np.newaxis], file=file, column="spectrum_ivar", first_row=row)
        if mask is not None:
            w[mask[i, :length] != 0] = 0.0
        f = flux[i, :length].astype(np.float32)
        check_finite(
            f[np.newaxis], file=file, column="spectrum_flux", first_row=row, where=w[np.newaxis] > 0
        )
        f[~np.isfinite(f)] = 0.0
        redshift = None if z is None or not np.isfinite(z[i]) else float(z[i])
        out.append(SpectrumRecord(str(ids[i]), grid, f, w, instrument, unit, redshift=redshift))
    return out


def _column(lay: _Layout, names: tuple[str, ...], start: int, stop: int) -> np.ndarray | None:
    """Rows of the first of ``names`` present, as float64 (1-D, numeric); None if absent."""
    ds = lay.first(names)
    if ds is None:
        return None
    name = ds.name.lstrip("/")
    values = lay.read(name, start, stop)
    check_shape(values, (stop - start,), file=lay.file, column=name)
    check_numeric(values, file=lay.file, column=name)
    return values.astype(np.float64)


def _redshift_labels(
    lay: _Layout, ids: np.ndarray, z: np.ndarray | None, start: int, stop: int
) -> list[ValueRecords]:
    """Spectroscopic redshift labels for rows with a finite Z and no redshift warning."""
    if z is None:
        return []
    keep = np.isfinite(z)
    warn = _column(lay, _Z_WARN, start, stop)
    if warn is not None:
        keep &= warn == 0
    if not keep.any():
        return []
    return [
        ValueRecords(
            task=REDSHIFT_TASK, source_ids=ids[keep], values=z[keep], label_source="spectroscopy"
        )
    ]


def _instrument(h5: h5py.File, given: str | None, file: str) -> str:
    """``given``, else the file's ``instrument`` or ``survey`` attribute, else "unknown"."""
    if given:
        return given
    return (_text_attr(h5, ("instrument", "survey"), file) or "unknown").lower()


def _chunk(lay: _Layout, start: int, stop: int, seen: IdIndex, instrument: str) -> Bundle:
    """The Bundle of rows [start, stop)."""
    file = lay.file
    raw_ids = lay.read("object_id", start, stop)
    ids = _decode(raw_ids, file=file, column="object_id", first_row=start)
    seen.add(ids, file=file, column="object_id", first_row=start)
    ra, dec = _column(lay, ("ra",), start, stop), _column(lay, ("dec",), start, stop)
    check_ra_dec(ra, dec, file=file, first_row=start)
    z = _column(lay, _Z, start, stop)
    spectra = _spectra(lay, ids, start, stop, instrument, z)
    return Bundle(
        source=file,
        galaxies=GalaxyRecords(source_ids=ids, ra=ra, dec=dec, provenance="mmu hdf5"),
        images=_images(lay, ids, start, stop),
        spectra=spectra,
        values=_redshift_labels(lay, ids, z, start, stop),
    )


def read_mmu_hdf5(
    path: Path, *, chunk_size: int = 1024, instrument: str | None = None
) -> Iterator[Bundle]:
    """Yield Bundles of up to ``chunk_size`` rows of an MMU-layout HDF5 file.

    Each Bundle has the rows' galaxies (object_id, ra, dec), their images (one ImageRecords
    per band list and pixel scale), spectra (each on its own grid, trailing padding
    dropped) and spectroscopic redshift labels (finite Z, ZWARNING/ZWARN 0 when present).
    instrument: spectrum instrument name (default: the file's ``instrument``/``survey``
    attribute, else "unknown"). Only ``chunk_size`` rows are in memory at once, fewer when
    the rows are large (:func:`rows_per_read`); external, virtual and compound datasets and
    declared sizes over :mod:`storage.ingest.limits` are refused before anything is read.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
    path = Path(path)
    file = str(path)
    with _open(path) as h5:
        lay = _layout(h5, file)
        name = _instrument(h5, instrument, file)
        if lay.get("spectrum_flux") is not None and name == "unknown":
            warnings.warn(
                f"{file}: no instrument given or stored; spectra recorded as 'unknown'",
                IngestWarning,
                stacklevel=2,
            )
        seen = IdIndex()
        step = rows_per_read(lay, chunk_size, Limits.from_env())
        for start in range(0, lay.n, step):
            yield _chunk(lay, start, min(start + step, lay.n), seen, name)
