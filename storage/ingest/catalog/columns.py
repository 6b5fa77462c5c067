"""Catalog columns as float64 arrays: one value per row, one column per band, or a vector.

Each reader takes rows [start, stop) of an astropy Table and returns (values, missing);
masked entries are missing, and a text entry that is not a number is an ``IngestError``
naming the file, the file row and the column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from astropy.table import Table

from storage.errors import IngestError
from storage.ingest.catalog.column_map import BandRef, Columns, Element


def data_mask(column: object) -> tuple[np.ndarray, np.ndarray]:
    """(values, mask) of a (possibly masked) column slice; mask True = missing."""
    return np.asarray(np.ma.getdata(column)), np.ma.getmaskarray(column)


def numbers(values: np.ndarray, mask: np.ndarray, *, file: str, column: str, first: int):
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


def _vector_rows(
    table: Table, column: str, bands: Sequence[str], start: int, stop: int, file: str
) -> tuple[np.ndarray, np.ndarray]:
    """(values (n, B) float64, missing (n, B)) of a vector column of the B ``bands``."""
    width = len(bands)
    values, mask = data_mask(table[column][start:stop])
    if values.dtype.kind == "O":
        values = numbers(
            values, np.zeros(values.shape, bool), file=file, column=column, first=start
        )
        mask = np.broadcast_to(mask[..., None], values.shape) if mask.ndim == 1 else mask
    if values.ndim != 2 or values.shape[1] != width:
        per_row = values.shape[1:] if values.ndim != 1 else "1 value"
        raise IngestError(
            f"vector column has {per_row} per row but {width} bands {list(bands)}",
            file=file,
            column=column,
        )
    mask = np.broadcast_to(mask, values.shape)
    return numbers(values, mask, file=file, column=column, first=start), mask.copy()


def _scalar_rows(
    table: Table, column: str, start: int, stop: int, file: str
) -> tuple[np.ndarray, np.ndarray]:
    """(values (n,) float64, missing (n,)) of a column of one value per row."""
    values, mask = data_mask(table[column][start:stop])
    if values.ndim != 1:
        raise IngestError(
            f"expected one value per row, got shape {values.shape}", file=file, column=column
        )
    return numbers(values, mask, file=file, column=column, first=start), mask


def band_matrix(
    table: Table, cols: Columns, bands: tuple[str, ...], start: int, stop: int, file: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(values (n, B) float64, missing (n, B), column name per band) for flux-like columns:
    one vector column (a str, B values per row) or one column per band (a tuple)."""
    if isinstance(cols, str):
        values, mask = _vector_rows(table, cols, bands, start, stop, file)
        return values, mask, [cols] * len(bands)
    parts = [_scalar_rows(table, c, start, stop, file) for c in cols]
    values = np.stack([v for v, _ in parts], axis=1)
    mask = np.stack([m for _, m in parts], axis=1)
    return values, mask, list(cols)


def band_refs(
    table: Table,
    refs: Mapping[str, BandRef],
    bands: Sequence[str],
    start: int,
    stop: int,
    file: str,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(values (n, B), missing (n, B), column name per band) of ``refs[b]`` for b in bands.

    Each ref is a column of one value per row or an ``Element`` of a vector column; a
    vector column is read once however many bands it holds.
    """
    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    values, masks, names = [], [], []
    for band in bands:
        ref = refs[band]
        if isinstance(ref, Element):
            if ref.column not in vectors:
                named = {
                    r.index: b
                    for b, r in refs.items()
                    if isinstance(r, Element) and r.column == ref.column
                }
                in_vector = [named.get(i, f"#{i}") for i in range(ref.width)]
                vectors[ref.column] = _vector_rows(table, ref.column, in_vector, start, stop, file)
            v, m = vectors[ref.column]
            v, m, name = v[:, ref.index], m[:, ref.index], ref.column
        else:
            (v, m), name = _scalar_rows(table, ref, start, stop, file), ref
        values.append(v)
        masks.append(m)
        names.append(name)
    n = stop - start
    if not values:
        return np.zeros((n, 0)), np.zeros((n, 0), bool), []
    return np.stack(values, axis=1), np.stack(masks, axis=1), names
