"""Checks shared by every reader, so each rule (and its error message) lives once.

Arrays with rows are (N, ...) with the row axis first; ``first_row`` is the file row of
index 0, so a chunked reader reports file rows, not chunk rows. Each check raises
``IngestError`` naming the file, the row and the column (or HDU / dataset) it found.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from storage.errors import IngestError


def _position(index: tuple[int, ...]) -> str:
    """Index tuple as text: ``(3, 2)`` or ``3``."""
    return str(index[0]) if len(index) == 1 else str(tuple(int(i) for i in index))


def raise_first(
    bad: np.ndarray,
    reason: str,
    *,
    file: str,
    column: str | None,
    label: str | None = None,
    first_row: int | None = 0,
    values: np.ndarray | None = None,
) -> None:
    """Raise for the first True entry of ``bad``: (N, ...) or, with first_row=None, unrowed.

    The message gives the count, ``reason`` and the first position; ``values`` (same shape)
    adds the offending value. Returns quietly when nothing is bad.
    """
    bad = np.asarray(bad, dtype=bool)
    if not bad.any():
        return
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    count = int(bad.sum())
    what = label or (repr(column) if column else "the data")
    shown = "" if values is None else f" ({np.asarray(values)[index].item()!r})"
    if first_row is None or bad.ndim == 0:
        where = f" (first at index {_position(index)}{shown})" if index else shown
        raise IngestError(f"{count} {reason} in {what}{where}", file=file, column=column)
    row = first_row + index[0]
    rest = f", index {_position(index[1:])}" if len(index) > 1 else ""
    raise IngestError(
        f"{count} {reason} in {what} (first at row {row}{rest}{shown})",
        file=file,
        row=row,
        column=column,
    )


def check_numeric(values: np.ndarray, *, file: str, column: str) -> None:
    """Refuse a column whose dtype is not a number (strings, objects, bytes)."""
    kind = np.asarray(values).dtype.kind
    if kind not in "biuf":
        raise IngestError(
            f"expected numbers, got values of type {np.asarray(values).dtype}",
            file=file,
            column=column,
        )


def check_finite(
    values: np.ndarray,
    *,
    file: str,
    column: str | None,
    label: str | None = None,
    first_row: int | None = 0,
    where: np.ndarray | None = None,
) -> None:
    """Refuse NaN or infinite entries (only those where ``where`` is True, when given)."""
    values = np.asarray(values)
    bad = ~np.isfinite(values)
    if where is not None:
        bad &= np.asarray(where, dtype=bool)
    reason = "non-finite value(s)" if where is None else "non-finite value(s) with ivar > 0"
    raise_first(bad, reason, file=file, column=column, label=label, first_row=first_row)


def check_ivar(
    ivar: np.ndarray,
    *,
    file: str,
    column: str | None,
    label: str | None = None,
    first_row: int | None = 0,
) -> None:
    """Refuse inverse variances that are NaN, infinite or negative (0 marks a bad pixel)."""
    check_finite(ivar, file=file, column=column, label=label, first_row=first_row)
    ivar = np.asarray(ivar)
    raise_first(
        ivar < 0,
        "negative inverse variance(s)",
        file=file,
        column=column,
        label=label,
        first_row=first_row,
        values=ivar,
    )


def check_strictly_increasing(
    values: np.ndarray,
    *,
    file: str,
    column: str | None,
    label: str | None = None,
    first_row: int | None = 0,
) -> None:
    """Refuse a grid not strictly increasing along its last axis; names the first break.

    values: (L,) with one pixel per row, or (N, L) with one grid per row.
    """
    values = np.asarray(values)
    check_finite(values, file=file, column=column, label=label, first_row=first_row)
    bad = np.zeros(values.shape, dtype=bool)
    bad[..., 1:] = np.diff(values, axis=-1) <= 0
    raise_first(
        bad,
        "value(s) not strictly increasing",
        file=file,
        column=column,
        label=label,
        first_row=first_row,
        values=values,
    )


def check_ra_dec(
    ra: np.ndarray,
    dec: np.ndarray,
    *,
    file: str,
    ra_column: str = "ra",
    dec_column: str = "dec",
    first_row: int | None = 0,
) -> None:
    """Refuse positions that are not finite, RA outside [0, 360) or Dec outside [-90, 90] deg."""
    ra, dec = np.asarray(ra, dtype=np.float64), np.asarray(dec, dtype=np.float64)
    check_finite(ra, file=file, column=ra_column, first_row=first_row)
    check_finite(dec, file=file, column=dec_column, first_row=first_row)
    raise_first(
        (ra < 0) | (ra >= 360),
        "RA value(s) outside [0, 360) degrees",
        file=file,
        column=ra_column,
        first_row=first_row,
        values=ra,
    )
    raise_first(
        (dec < -90) | (dec > 90),
        "Dec value(s) outside [-90, 90] degrees",
        file=file,
        column=dec_column,
        first_row=first_row,
        values=dec,
    )


def check_shape(
    values: np.ndarray,
    expected: tuple[int, ...],
    *,
    file: str,
    column: str | None,
    label: str | None = None,
) -> None:
    """Refuse an array whose shape is not ``expected`` (-1 matches any length)."""
    shape = np.shape(values)
    ok = len(shape) == len(expected) and all(
        e in (-1, s) for s, e in zip(shape, expected, strict=True)
    )
    if not ok:
        want = "(" + ", ".join("any" if e == -1 else str(e) for e in expected) + ")"
        what = label or repr(column)
        raise IngestError(
            f"{what} has shape {shape}; expected {want}",
            file=file,
            column=column,
        )


@dataclass
class IdIndex:
    """Ids seen so far in one ingest, so duplicates are caught across chunks and files."""

    _seen: dict[str, tuple[str, int | None]] = field(default_factory=dict)

    def add(
        self,
        ids: Iterable[str],
        *,
        file: str,
        column: str | None = None,
        first_row: int | None = 0,
        row_note: str = "",
    ) -> None:
        """Record ``ids`` (rows from ``first_row``; None for one id per file); raise on a repeat."""
        for offset, source_id in enumerate(map(str, ids)):
            row = None if first_row is None else first_row + offset
            if source_id in self._seen:
                raise _duplicate(source_id, self._seen[source_id], file, row, column, row_note)
            self._seen[source_id] = (file, row)


def _duplicate(
    source_id: str,
    first: tuple[str, int | None],
    file: str,
    row: int | None,
    column: str | None,
    row_note: str,
) -> IngestError:
    """The error for ``source_id`` seen at ``first`` and again at (file, row)."""
    first_file, first_row = first
    if first_file == file and first_row is not None:
        where = f"rows {first_row} and {row}{row_note}"
    elif first_row is not None:
        where = f"row {row}{row_note} here and row {first_row} of file {first_file}"
    else:
        where = f"here and in file {first_file}"
    return IngestError(f"duplicate id {source_id!r}: {where}", file=file, row=row, column=column)
