"""Errors raised at the storage boundary, each naming where the bad input is."""

from __future__ import annotations


class IngestError(ValueError):
    """Bad input: names the file, and the row and column when they are known.

    Raised before anything is written, so the database and array store stay as they were.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        self.reason = message
        where = []
        if file is not None:
            where.append(f"file {file}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class IngestWarning(UserWarning):
    """Input that was read, but with a choice made for the user (named in the message)."""
