"""File-format detection by signature (magic bytes), never by extension alone.

Like astropy's ``is_fits`` / ``is_votable`` identifiers: a file named ``.fits`` that holds
a PNG is read as a PNG, and a file no reader understands is refused by name.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Literal

from storage.errors import IngestError
from storage.ingest.limits import check_regular_file

Format = Literal["fits", "hdf5", "png", "jpeg", "parquet", "votable", "csv"]

_HEAD_BYTES = 4096
_FITS_MAGIC = b"SIMPLE  ="
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# HDF5 allows a user block before the superblock, at 0 or any power of two from 512 bytes.
_HDF5_OFFSETS = (0, 512, 1024, 2048, 4096, 8192)
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"


def read_head(path: Path, n: int = _HEAD_BYTES, *, offset: int = 0) -> bytes:
    """First ``n`` bytes of ``path`` from ``offset``; IngestError when it cannot be read."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(n)
    except FileNotFoundError as exc:
        raise IngestError("no such file", file=str(path)) from exc
    except IsADirectoryError as exc:
        raise IngestError("is a directory, not a file", file=str(path)) from exc
    except OSError as exc:
        raise IngestError(f"cannot read the file: {exc}", file=str(path)) from exc


def _gunzip_head(head: bytes) -> bytes:
    """Decompressed start of a gzip stream (best effort; empty when it is corrupt)."""
    try:
        return zlib.decompressobj(wbits=31).decompress(head, 64)
    except zlib.error:
        return b""


def _is_hdf5(path: Path, head: bytes) -> bool:
    """Whether an HDF5 superblock signature sits at one of the allowed user-block offsets."""
    if head.startswith(_HDF5_MAGIC):
        return True
    return any(
        read_head(path, len(_HDF5_MAGIC), offset=off) == _HDF5_MAGIC for off in _HDF5_OFFSETS[1:]
    )


def _is_text(head: bytes) -> bool:
    """Whether ``head`` looks like UTF-8 text (a multi-byte character cut at the end is fine)."""
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def detect_format(path: Path | str) -> Format:
    """The format of ``path`` from its first bytes: fits, hdf5, png, jpeg, parquet, votable, csv.

    Gzip-compressed FITS (``.fits.gz``) is reported as ``"fits"``. Any other UTF-8 text is
    reported as ``"csv"``; binary data that matches no signature raises IngestError, and
    so does anything but a regular file within the size limit (:mod:`storage.ingest.limits`).
    """
    path = Path(path)
    check_regular_file(path)  # before any open: a named pipe would block it forever
    head = read_head(path)
    if not head:
        raise IngestError("the file is empty", file=str(path))
    if head.startswith(_FITS_MAGIC):
        return "fits"
    if head.startswith(_GZIP_MAGIC) and _gunzip_head(head).startswith(_FITS_MAGIC):
        return "fits"
    if _is_hdf5(path, head):
        return "hdf5"
    if head.startswith(_PNG_MAGIC):
        return "png"
    if head.startswith(_JPEG_MAGIC):
        return "jpeg"
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    if _is_text(head):
        text = head.lstrip(b"\xef\xbb\xbf").lstrip()
        if text.startswith(b"<") and b"VOTABLE" in head.upper():
            return "votable"
        return "csv"
    raise IngestError(
        f"unrecognised file format (first bytes {head[:8]!r}); expected FITS, HDF5, PNG, "
        "JPEG, Parquet, VOTable or CSV",
        file=str(path),
    )
