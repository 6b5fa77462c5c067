"""Read galaxy catalogs (FITS, CSV, Parquet, VOTable) through a user's column mapping.

The mapping (``ColumnMap``, its command-line syntax ``MAP_SYNTAX``) lives in
:mod:`storage.ingest.catalog.column_map`; fluxes, magnitudes and extinction are read by
:mod:`storage.ingest.catalog.photometry`.

Anything astropy's ``Table.read`` reads works; the format is found by file signature.
The table is read whole (FITS memory-mapped by astropy) and yielded in chunks of rows.
Rows in errors are 0-based data rows (the CSV header line is not counted).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.units import UnitsWarning

from storage.errors import IngestError
from storage.ingest.catalog.column_map import (
    MAP_SYNTAX,
    ROW_ID,
    BandRef,
    ColumnMap,
    Columns,
    Element,
)
from storage.ingest.catalog.columns import data_mask, numbers
from storage.ingest.catalog.photometry import photometry_and_magnitudes
from storage.ingest.detect import detect_format
from storage.ingest.fits_file import fits_source
from storage.ingest.limits import check_regular_file
from storage.ingest.records import Bundle, GalaxyRecords, TaskSpec, ValueRecords
from storage.ingest.validate import IdIndex, check_ra_dec, raise_first

__all__ = ["MAP_SYNTAX", "ColumnMap", "read_catalog"]
_ASTROPY_FORMATS = {"fits": "fits", "csv": "ascii.csv", "parquet": "parquet", "votable": "votable"}
_ROW_NOTE = " (0-based data rows)"
MAX_LINE_BYTES = 1 << 20


def _read_table(path: Path, format: str | None) -> Table:
    """The whole table via astropy, format by signature unless ``format`` is given."""
    file = str(path)
    check_regular_file(path)  # also when the format is given: a named pipe would block
    if format is None:
        found = detect_format(path)
        if found not in _ASTROPY_FORMATS:
            raise IngestError(
                f"a {found.upper()} file is not a catalog; expected FITS, CSV, Parquet or VOTable",
                file=file,
            )
        format = found
    astropy_format = _ASTROPY_FORMATS.get(format, format)
    if astropy_format == "ascii.csv":
        _check_line_lengths(path, file)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnitsWarning)
            # astropy masks NaN in FITS columns by default; keep NaN so a NaN flux with
            # ivar > 0 is refused instead of silently becoming a missing measurement.
            options = {"mask_invalid": False} if astropy_format == "fits" else {}
            source = fits_source(path) if astropy_format == "fits" else path
            table = Table.read(source, format=astropy_format, **options)
    except Exception as exc:
        # Each astropy reader (and pyarrow, expat, numpy underneath) fails in its own
        # exception type on damaged input; all of them mean "cannot read this file".
        raise IngestError(f"cannot read as a {format} table: {exc}", file=file) from exc
    if len(table) == 0:
        raise IngestError("the catalog has no rows", file=file)
    _check_unique_columns(source, astropy_format, file)
    return table


def _check_line_lengths(path: Path, file: str) -> None:
    """IngestError for a text line over MAX_LINE_BYTES: astropy's CSV reader takes minutes
    on a single 8 MiB line, and no catalog row is that long. One streaming pass."""
    line, length = 1, 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            pieces = block.split(b"\n")
            for i, piece in enumerate(pieces):
                length += len(piece)
                if length > MAX_LINE_BYTES:
                    raise IngestError(
                        f"line {line} is over {MAX_LINE_BYTES:,} bytes long; not a catalog row",
                        file=file,
                    )
                if i < len(pieces) - 1:
                    line, length = line + 1, 0


def _declared_columns(path: Path | io.BytesIO, astropy_format: str) -> list[str]:
    """Column names as the file writes them (astropy renames a repeated one ``ra_1``):
    a CSV's header line, a FITS table's TTYPEn; [] for other formats."""
    if astropy_format == "ascii.csv":
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip() and not line.lstrip().startswith("#"):
                    return [c.strip() for c in next(csv.reader([line]))]
    if astropy_format == "fits":
        if isinstance(path, io.BytesIO):
            path.seek(0)
        with fits.open(path) as hdul:
            for hdu in hdul:
                if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
                    return list(hdu.columns.names)
    return []


def _check_unique_columns(path: Path | io.BytesIO, astropy_format: str, file: str) -> None:
    """IngestError when two columns share a name: which one a map means would be a guess."""
    seen: set[str] = set()
    for name in _declared_columns(path, astropy_format):
        if name in seen:
            raise IngestError(f"the column name {name!r} appears twice", file=file, column=name)
        seen.add(name)


def _resolve(table: Table, name: str, key: str, file: str) -> str:
    """The table's column for ``name`` (exact, else the one case-insensitive match)."""
    if name in table.colnames:
        return name
    folded = [c for c in table.colnames if c.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    raise IngestError(
        f"no column {name!r} (mapping key {key}); available columns: {', '.join(table.colnames)}",
        file=file,
        column=name,
    )


def _resolved_map(table: Table, m: ColumnMap, file: str) -> ColumnMap:
    """``m`` with every column name replaced by the table's spelling (checks they exist)."""

    def one(name: str, key: str) -> str:
        return _resolve(table, name, key, file)

    def many(cols: Columns | None, key: str) -> Columns | None:
        if cols is None or isinstance(cols, str):
            return None if cols is None else one(cols, key)
        return tuple(one(c, f"{key}.{b}") for c, b in zip(cols, m.bands, strict=True))

    def per_band(refs: Mapping[str, BandRef], key: str) -> dict[str, BandRef]:
        return {
            b: r._replace(column=one(r.column, key)) if isinstance(r, Element)
            else one(r, f"{key}.{b}")
            for b, r in refs.items()
        }  # fmt: skip

    return dataclasses.replace(
        m,
        id=m.id if m.row_ids else one(m.id, "id"),
        ra=one(m.ra, "ra"),
        dec=one(m.dec, "dec"),
        fluxes=many(m.fluxes, "flux"),
        flux_ivar=many(m.flux_ivar, "flux_ivar"),
        flux_err=many(m.flux_err, "flux_err"),
        mags=per_band(m.mags, "mag"),
        mag_err=per_band(m.mag_err, "mag_err"),
        extinction=per_band(m.extinction, "extinction"),
        truth={t: one(c, f"truth.{t}") for t, c in m.truth.items()},
        labels={t: one(c, f"label.{t}") for t, c in m.labels.items()},
    )


def _ids(table: Table, column: str, start: int, stop: int, file: str) -> np.ndarray:
    """Ids of rows [start, stop) as str; refuses missing, empty or non-integer float ids.

    ``column`` "@row" gives the 0-based data row numbers "start", ..., "stop - 1".
    """
    if column == ROW_ID:
        return np.arange(start, stop).astype(str)
    values, mask = data_mask(table[column][start:stop])
    raise_first(mask, "missing id(s)", file=file, column=column, first_row=start)
    kind = values.dtype.kind
    if kind in "iu":
        return values.astype(str)
    if kind == "f":
        raise_first(
            ~np.isfinite(values) | (values != np.round(values)),
            "id(s) that are not whole numbers",
            file=file,
            column=column,
            first_row=start,
            values=values,
        )
        return values.astype(np.int64).astype(str)
    if kind not in "USO" or values.ndim != 1:
        raise IngestError(
            f"ids must be integers or strings, got {values.dtype}", file=file, column=column
        )
    ids = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=str)
    ids = np.char.strip(ids)
    raise_first(ids == "", "empty id(s)", file=file, column=column, first_row=start)
    return ids


def _position(table: Table, column: str, start: int, stop: int, file: str) -> np.ndarray:
    """RA or Dec (deg) of rows [start, stop); refuses missing and non-numeric values."""
    values, mask = data_mask(table[column][start:stop])
    raise_first(mask, "missing value(s)", file=file, column=column, first_row=start)
    if values.ndim != 1:
        raise IngestError(
            f"expected one value per row, got shape {values.shape}", file=file, column=column
        )
    return numbers(values, mask, file=file, column=column, first=start)


def _task(
    name: str, column: str, values: np.ndarray, tasks: Mapping[str, TaskSpec], file: str
) -> TaskSpec:
    """The task of a truth/label column: ``tasks[name]``, else a regression on ``name``."""
    if name in tasks:
        return tasks[name]
    if values.dtype.kind in "USO":
        raise IngestError(
            f"column holds class names for task {name!r}; pass tasks={{{name!r}: TaskSpec("
            f"{name!r}, 'classification', classes=(...))}}",
            file=file,
            column=column,
        )
    return TaskSpec(name, "regression", target=name)


def _class_indices(
    task: TaskSpec, values: np.ndarray, mask: np.ndarray, column: str, start: int, file: str
) -> tuple[np.ndarray, np.ndarray]:
    """(class index per row, present) for a classification column of names or indices."""
    index = {c: i for i, c in enumerate(task.classes)}
    out = np.zeros(len(values), dtype=np.int64)
    present = ~mask
    for i, value in enumerate(values):
        if mask[i]:
            continue
        if isinstance(value, bytes | str | np.str_ | np.bytes_):
            text = (value.decode() if isinstance(value, bytes) else str(value)).strip()
            if not text:
                present[i] = False
                continue
            if text not in index:
                raise IngestError(
                    f"unknown class {text!r} for task {task.name!r}; classes: {list(task.classes)}",
                    file=file,
                    row=start + i,
                    column=column,
                )
            out[i] = index[text]
            continue
        number = float(value)
        if np.isnan(number):
            present[i] = False
        elif number != int(number) or not 0 <= number < len(task.classes):
            raise IngestError(
                f"class index {value!r} is not one of 0..{len(task.classes) - 1} "
                f"({list(task.classes)})",
                file=file,
                row=start + i,
                column=column,
            )
        else:
            out[i] = int(number)
    return out, present


def _values(
    table: Table,
    m: ColumnMap,
    tasks: Mapping[str, TaskSpec],
    ids: np.ndarray,
    start: int,
    stop: int,
    file: str,
) -> list[ValueRecords]:
    """Truth and label ValueRecords of rows [start, stop); missing values are left out."""
    out = []
    for kind, columns in (("truth", m.truth), ("label", m.labels)):
        for name, column in columns.items():
            values, mask = data_mask(table[column][start:stop])
            if values.ndim != 1:
                raise IngestError(
                    f"expected one value per row, got shape {values.shape}",
                    file=file,
                    column=column,
                )
            task = _task(name, column, values, tasks, file)
            if task.kind == "classification":
                parsed, present = _class_indices(task, values, mask, column, start, file)
            else:
                parsed = numbers(values, mask, file=file, column=column, first=start)
                raise_first(
                    np.isinf(parsed) & ~mask,
                    "infinite value(s)",
                    file=file,
                    column=column,
                    first_row=start,
                )
                present = ~mask & np.isfinite(parsed)
            if not present.any():
                continue
            extra = {"truth_kind": "truth"} if kind == "truth" else {"label_source": m.label_source}
            out.append(
                ValueRecords(task=task, source_ids=ids[present], values=parsed[present], **extra)
            )
    return out


def _chunk(
    table: Table,
    m: ColumnMap,
    tasks: Mapping[str, TaskSpec],
    start: int,
    stop: int,
    seen: IdIndex,
    file: str,
) -> Bundle:
    """The Bundle of rows [start, stop)."""
    ids = _ids(table, m.id, start, stop, file)
    seen.add(ids, file=file, column=m.id, first_row=start, row_note=_ROW_NOTE)
    ra = _position(table, m.ra, start, stop, file)
    dec = _position(table, m.dec, start, stop, file)
    check_ra_dec(ra, dec, file=file, ra_column=m.ra, dec_column=m.dec, first_row=start)
    photometry, mags = photometry_and_magnitudes(table, m, ids, start, stop, file)
    galaxies = GalaxyRecords(
        source_ids=ids,
        ra=ra,
        dec=dec,
        ref_mag=mags[m.ref_band] if m.ref_band is not None else None,
        ref_band=m.ref_band,
        magnitudes=mags,
        provenance="catalog",
    )
    return Bundle(
        source=file,
        galaxies=galaxies,
        photometry=photometry,
        values=_values(table, m, tasks, ids, start, stop, file),
    )


def read_catalog(
    path: Path,
    mapping: ColumnMap,
    *,
    format: str | None = None,
    tasks: Mapping[str, TaskSpec] | None = None,
    chunk_size: int = 10_000,
) -> Iterator[Bundle]:
    """Yield Bundles of up to ``chunk_size`` catalog rows: galaxies, photometry, values.

    format: "fits", "csv", "parquet", "votable" or any astropy format name (default: by
    signature). tasks: task name -> TaskSpec for truth/label columns; classification
    columns of class names map through ``classes``; a column without a TaskSpec is a
    regression. Masked fluxes become flux 0 with ivar 0; missing id/ra/dec are errors.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
    path = Path(path)
    file = str(path)
    table = _read_table(path, format)
    resolved = _resolved_map(table, mapping, file)
    seen = IdIndex()
    for start in range(0, len(table), chunk_size):
        stop = min(start + chunk_size, len(table))
        yield _chunk(table, resolved, tasks or {}, start, stop, seen, file)
