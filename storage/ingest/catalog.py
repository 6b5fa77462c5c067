"""Read galaxy catalogs (FITS, CSV, Parquet, VOTable) through a user's column mapping.

Anything astropy's ``Table.read`` reads works; the format is found by file signature.
The table is read whole (FITS memory-mapped by astropy) and yielded in chunks of rows.
Rows in errors are 0-based data rows (the CSV header line is not counted).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

import numpy as np
from astropy.table import Table
from astropy.units import UnitsWarning

from storage.errors import IngestError
from storage.ingest.detect import detect_format
from storage.ingest.records import (
    Bundle,
    GalaxyRecords,
    LabelSource,
    PhotometryRecords,
    TaskSpec,
    ValueRecords,
)
from storage.ingest.validate import IdIndex, check_ivar, check_ra_dec, raise_first

Columns = str | tuple[str, ...]
_ASTROPY_FORMATS = {"fits": "fits", "csv": "ascii.csv", "parquet": "parquet", "votable": "votable"}
_ROW_NOTE = " (0-based data rows)"


def _as_columns(
    value: Columns | list[str] | None, bands: tuple[str, ...], key: str
) -> Columns | None:
    """Normalise one flux-like mapping entry: a vector column name or one name per band."""
    if value is None or isinstance(value, str):
        return value
    value = tuple(value)
    if len(value) != len(bands):
        raise ValueError(f"{key} names {len(value)} columns {value} for {len(bands)} bands {bands}")
    return value


@dataclass(frozen=True)
class ColumnMap:
    """Which catalog columns hold what.

    id, ra, dec: column names (ra/dec in degrees). fluxes: one column per band (a tuple in
    ``bands`` order) or one vector column of B values per row (a str); flux_ivar or
    flux_err (ivar = 1/err**2) in the same form; flux_units: the fluxes' unit. mags: band ->
    AB magnitude column; ref_band: the band of ``GalaxyRecords.ref_mag`` (a key of mags).
    truth / labels: task name -> column of hidden truth / visible labels; label_source:
    where the labels came from.
    """

    id: str
    ra: str
    dec: str
    bands: tuple[str, ...] = ()
    fluxes: Columns | None = None
    flux_ivar: Columns | None = None
    flux_err: Columns | None = None
    flux_units: str = "nanomaggy"
    mags: Mapping[str, str] = field(default_factory=dict)
    ref_band: str | None = None
    truth: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    label_source: LabelSource = "expert"

    def __post_init__(self) -> None:
        """Check the mapping is complete and consistent; ValueError naming the bad entry."""
        for key in ("id", "ra", "dec"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ValueError(f"ColumnMap.{key} must name a column, got {getattr(self, key)!r}")
        bands = tuple(self.bands)
        object.__setattr__(self, "bands", bands)
        if len(set(bands)) != len(bands):
            raise ValueError(f"duplicate band in bands={bands}")
        for key in ("fluxes", "flux_ivar", "flux_err"):
            object.__setattr__(self, key, _as_columns(getattr(self, key), bands, key))
        if self.fluxes is None and (self.flux_ivar or self.flux_err):
            raise ValueError("flux_ivar/flux_err given without fluxes")
        if self.fluxes is not None:
            if not bands:
                raise ValueError("fluxes need bands=(...) naming the band of each flux")
            if (self.flux_ivar is None) == (self.flux_err is None):
                raise ValueError("give exactly one of flux_ivar and flux_err with fluxes")
        if self.ref_band is not None and self.ref_band not in self.mags:
            raise ValueError(f"ref_band {self.ref_band!r} is not a key of mags {dict(self.mags)}")
        if self.label_source not in get_args(LabelSource):
            raise ValueError(
                f"label_source must be one of {get_args(LabelSource)}, got {self.label_source!r}"
            )
        for key in ("mags", "truth", "labels"):
            object.__setattr__(self, key, dict(getattr(self, key)))

    @classmethod
    def from_spec(cls, spec: str) -> ColumnMap:
        """Parse a command-line mapping: comma-separated ``key=value`` items.

        Keys (commas inside ``[...]`` do not split items; spaces around items are ignored):

        * ``id=COL``, ``ra=COL``, ``dec=COL`` — required;
        * ``flux=COL[u,g,r,i,z]`` — one vector column, bands in brackets; or
          ``flux.u=COL_U,flux.g=COL_G,...`` — one column per band, in band order;
        * ``flux_ivar=COL`` / ``flux_err=COL`` (vector, same bands; ``COL[u,g,...]`` also
          accepted) or ``flux_ivar.u=COL_U,...`` / ``flux_err.u=...`` (per band);
        * ``units=nanomaggy`` — flux units; ``mag.r=COL`` — AB magnitudes per band;
          ``ref_band=r`` — band of the reference magnitude;
        * ``truth.TASK=COL`` — hidden truth; ``label.TASK=COL`` — visible labels;
          ``label_source=expert|oracle|spectroscopy``.

        Example: ``id=objid,ra=ra,dec=dec,flux=flux[u,g,r,i,z],flux_ivar=flux_ivar,
        truth.redshift=z``. Raises ValueError naming the item it cannot parse.
        """
        items = _split_items(spec)
        single: dict[str, str] = {}
        dotted: dict[str, dict[str, str]] = {}
        for item in items:
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key or not value:
                raise ValueError(f"mapping item {item!r} is not key=value")
            head, dot, sub = key.partition(".")
            if dot:
                if head not in _DOTTED_KEYS or not sub:
                    raise ValueError(f"unknown mapping key {key!r}; {_KEYS_HELP}")
                group = dotted.setdefault(head, {})
                if sub in group:
                    raise ValueError(f"mapping key {key!r} given twice")
                group[sub] = value
            else:
                if key not in _SINGLE_KEYS:
                    raise ValueError(f"unknown mapping key {key!r}; {_KEYS_HELP}")
                if key in single:
                    raise ValueError(f"mapping key {key!r} given twice")
                single[key] = value
        return cls(**_build_kwargs(single, dotted))


_SINGLE_KEYS = (
    "id",
    "ra",
    "dec",
    "flux",
    "flux_ivar",
    "flux_err",
    "units",
    "ref_band",
    "label_source",
)
_DOTTED_KEYS = ("flux", "flux_ivar", "flux_err", "mag", "truth", "label")
_KEYS_HELP = (
    "known keys: id, ra, dec, flux, flux_ivar, flux_err, units, ref_band, label_source, "
    "and flux.BAND, flux_ivar.BAND, flux_err.BAND, mag.BAND, truth.TASK, label.TASK"
)
_VECTOR = re.compile(r"^([^\[\]]+)\[([^\[\]]*)\]$")


def _split_items(spec: str) -> list[str]:
    """Split ``spec`` on commas outside brackets; ValueError on unbalanced brackets."""
    items, depth, current = [], 0, []
    for char in spec:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ']' in mapping {spec!r}")
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth:
        raise ValueError(f"unbalanced '[' in mapping {spec!r}")
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _vector(value: str) -> tuple[str, tuple[str, ...] | None]:
    """``COL[u,g,r]`` -> ("COL", ("u", "g", "r")); ``COL`` -> ("COL", None)."""
    match = _VECTOR.match(value)
    if match is None:
        if "[" in value or "]" in value:
            raise ValueError(f"cannot parse {value!r}; expected COL or COL[band,band,...]")
        return value, None
    bands = tuple(b.strip() for b in match.group(2).split(","))
    if not all(bands):
        raise ValueError(f"empty band name in {value!r}")
    return match.group(1).strip(), bands


def _build_kwargs(single: dict[str, str], dotted: dict[str, dict[str, str]]) -> dict:
    """ColumnMap keyword arguments from parsed spec items."""
    missing = [k for k in ("id", "ra", "dec") if k not in single]
    if missing:
        raise ValueError(f"mapping lacks required key(s) {missing}")
    kwargs: dict = {k: single[k] for k in ("id", "ra", "dec")}
    bands: tuple[str, ...] = ()
    for key, target in (("flux", "fluxes"), ("flux_ivar", "flux_ivar"), ("flux_err", "flux_err")):
        if key in single and key in dotted:
            raise ValueError(f"give {key}=COL or {key}.BAND=COL, not both")
        if key in single:
            column, named = _vector(single[key])
            if key == "flux":
                if named is None:
                    raise ValueError(f"flux={column} needs its bands: flux={column}[u,g,r,...]")
                bands = named
            elif named is not None and named != bands:
                raise ValueError(f"{key} bands {named} differ from flux bands {bands}")
            kwargs[target] = column
        elif key in dotted:
            per_band = dotted[key]
            if key == "flux":
                bands = tuple(per_band)
            elif set(per_band) != set(bands):
                raise ValueError(
                    f"{key}.BAND bands {tuple(per_band)} differ from flux bands {bands}"
                )
            kwargs[target] = tuple(per_band[b] for b in bands)
    kwargs["bands"] = bands
    if "units" in single:
        kwargs["flux_units"] = single["units"]
    for key in ("ref_band", "label_source"):
        if key in single:
            kwargs[key] = single[key]
    kwargs["mags"] = dotted.get("mag", {})
    kwargs["truth"] = dotted.get("truth", {})
    kwargs["labels"] = dotted.get("label", {})
    return kwargs


def _read_table(path: Path, format: str | None) -> Table:
    """The whole table via astropy, format by signature unless ``format`` is given."""
    file = str(path)
    if format is None:
        found = detect_format(path)
        if found not in _ASTROPY_FORMATS:
            raise IngestError(
                f"a {found.upper()} file is not a catalog; expected FITS, CSV, Parquet or VOTable",
                file=file,
            )
        format = found
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnitsWarning)
            astropy_format = _ASTROPY_FORMATS.get(format, format)
            # astropy masks NaN in FITS columns by default; keep NaN so a NaN flux with
            # ivar > 0 is refused instead of silently becoming a missing measurement.
            options = {"mask_invalid": False} if astropy_format == "fits" else {}
            table = Table.read(path, format=astropy_format, **options)
    except Exception as exc:
        # Each astropy reader (and pyarrow, expat, numpy underneath) fails in its own
        # exception type on damaged input; all of them mean "cannot read this file".
        raise IngestError(f"cannot read as a {format} table: {exc}", file=file) from exc
    if len(table) == 0:
        raise IngestError("the catalog has no rows", file=file)
    return table


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

    return ColumnMap(
        id=one(m.id, "id"),
        ra=one(m.ra, "ra"),
        dec=one(m.dec, "dec"),
        bands=m.bands,
        fluxes=many(m.fluxes, "flux"),
        flux_ivar=many(m.flux_ivar, "flux_ivar"),
        flux_err=many(m.flux_err, "flux_err"),
        flux_units=m.flux_units,
        mags={b: one(c, f"mag.{b}") for b, c in m.mags.items()},
        ref_band=m.ref_band,
        truth={t: one(c, f"truth.{t}") for t, c in m.truth.items()},
        labels={t: one(c, f"label.{t}") for t, c in m.labels.items()},
        label_source=m.label_source,
    )


def _data_mask(column: object) -> tuple[np.ndarray, np.ndarray]:
    """(values, mask) of a (possibly masked) column slice; mask True = missing."""
    return np.asarray(np.ma.getdata(column)), np.ma.getmaskarray(column)


def _numbers(values: np.ndarray, mask: np.ndarray, *, file: str, column: str, first: int):
    """float64 values; for text columns, names the first entry that is not a number."""
    if values.dtype.kind in "biuf":
        return values.astype(np.float64)
    if values.dtype.kind == "O":
        try:
            return np.array(values.tolist(), dtype=np.float64)
        except (TypeError, ValueError):
            pass
    out = np.zeros(values.shape, dtype=np.float64)
    for index, value in np.ndenumerate(values):
        if mask[index]:
            continue
        try:
            out[index] = float(value)
        except (TypeError, ValueError) as exc:
            raise IngestError(
                f"not a number: {str(value)!r}", file=file, row=first + index[0], column=column
            ) from exc
    return out


def _ids(table: Table, column: str, start: int, stop: int, file: str) -> np.ndarray:
    """Ids of rows [start, stop) as str; refuses missing, empty or non-integer float ids."""
    values, mask = _data_mask(table[column][start:stop])
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
    values, mask = _data_mask(table[column][start:stop])
    raise_first(mask, "missing value(s)", file=file, column=column, first_row=start)
    if values.ndim != 1:
        raise IngestError(
            f"expected one value per row, got shape {values.shape}", file=file, column=column
        )
    return _numbers(values, mask, file=file, column=column, first=start)


def _band_matrix(
    table: Table, cols: Columns, bands: tuple[str, ...], start: int, stop: int, file: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(values (n, B) float64, missing (n, B), column name per band) for flux-like columns."""
    if isinstance(cols, str):
        values, mask = _data_mask(table[cols][start:stop])
        if values.dtype.kind == "O":
            values = _numbers(
                values, np.zeros(values.shape, bool), file=file, column=cols, first=start
            )
            mask = np.broadcast_to(mask[..., None], values.shape) if mask.ndim == 1 else mask
        if values.ndim != 2 or values.shape[1] != len(bands):
            per_row = values.shape[1:] if values.ndim != 1 else "1 value"
            raise IngestError(
                f"vector column has {per_row} per row but {len(bands)} bands {list(bands)}",
                file=file,
                column=cols,
            )
        mask = np.broadcast_to(mask, values.shape)
        return (
            _numbers(values, mask, file=file, column=cols, first=start),
            mask.copy(),
            [cols] * len(bands),
        )
    parts = [_data_mask(table[c][start:stop]) for c in cols]
    for c, (v, _) in zip(cols, parts, strict=True):
        if v.ndim != 1:
            raise IngestError(
                f"expected one value per row, got shape {v.shape}", file=file, column=c
            )
    values = np.stack(
        [
            _numbers(v, m, file=file, column=c, first=start)
            for c, (v, m) in zip(cols, parts, strict=True)
        ],
        axis=1,
    )
    mask = np.stack([m for _, m in parts], axis=1)
    return values, mask, list(cols)


def _photometry(
    table: Table, m: ColumnMap, ids: np.ndarray, start: int, stop: int, file: str
) -> list[PhotometryRecords]:
    """Fluxes and ivar of rows [start, stop); masked fluxes become flux 0, ivar 0."""
    if m.fluxes is None:
        return []
    flux, flux_missing, flux_cols = _band_matrix(table, m.fluxes, m.bands, start, stop, file)
    if m.flux_ivar is not None:
        ivar, ivar_missing, ivar_cols = _band_matrix(table, m.flux_ivar, m.bands, start, stop, file)
        ivar[ivar_missing] = 0.0
    else:
        err, err_missing, ivar_cols = _band_matrix(table, m.flux_err, m.bands, start, stop, file)
        err_missing |= np.isnan(err)
        for b, column in enumerate(ivar_cols):
            raise_first(
                ~err_missing[:, b] & (~(err[:, b] > 0) | np.isinf(err[:, b])),
                f"flux error(s) that are not positive and finite (band {m.bands[b]!r})",
                file=file,
                column=column,
                first_row=start,
                values=err[:, b],
            )
        with np.errstate(divide="ignore"):
            ivar = np.where(err_missing, 0.0, 1.0 / np.where(err_missing, 1.0, err) ** 2)
    missing = flux_missing
    ivar[missing] = 0.0
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
    flux[missing | ~np.isfinite(flux)] = 0.0
    return [
        PhotometryRecords(
            source_ids=ids,
            flux=flux.astype(np.float32),
            ivar=ivar.astype(np.float32),
            bands=m.bands,
            units=m.flux_units,
        )
    ]


def _magnitudes(
    table: Table, m: ColumnMap, start: int, stop: int, file: str
) -> dict[str, np.ndarray]:
    """band -> AB magnitudes of rows [start, stop); missing values become NaN."""
    out = {}
    for band, column in m.mags.items():
        values, mask = _data_mask(table[column][start:stop])
        mags = _numbers(values, mask, file=file, column=column, first=start)
        raise_first(
            np.isinf(mags), "infinite magnitude(s)", file=file, column=column, first_row=start
        )
        mags[mask] = np.nan
        out[band] = mags
    return out


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
            values, mask = _data_mask(table[column][start:stop])
            if values.ndim != 1:
                raise IngestError(
                    f"expected one value per row, got shape {values.shape}",
                    file=file,
                    column=column,
                )
            task = _task(name, column, values, tasks, file)
            if task.kind == "classification":
                numbers, present = _class_indices(task, values, mask, column, start, file)
            else:
                numbers = _numbers(values, mask, file=file, column=column, first=start)
                raise_first(
                    np.isinf(numbers) & ~mask,
                    "infinite value(s)",
                    file=file,
                    column=column,
                    first_row=start,
                )
                present = ~mask & np.isfinite(numbers)
            if not present.any():
                continue
            extra = {"truth_kind": "truth"} if kind == "truth" else {"label_source": m.label_source}
            out.append(
                ValueRecords(task=task, source_ids=ids[present], values=numbers[present], **extra)
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
    mags = _magnitudes(table, m, start, stop, file)
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
        photometry=_photometry(table, m, ids, start, stop, file),
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
