"""Bounds on what an ingest reads, checked before anything is allocated.

A 1.5 MiB gzipped FITS file can declare a 20000 x 20000 band and a 5 kB HDF5 file a
(6, 3, 12000, 12000) cube: the sizes a file declares are checked against these limits
before its data are read, so a hostile or broken file costs an error naming it, not the
machine's memory. Defaults fit every real cutout, spectrum and catalog we know of; each can
be raised with an environment variable (bytes or pixels, an integer).
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from storage.errors import IngestError

_ENV = {
    "file_bytes": "GALACTIVE_MAX_FILE_BYTES",
    "read_bytes": "GALACTIVE_MAX_READ_BYTES",
    "cutout_pixels": "GALACTIVE_MAX_CUTOUT_PIXELS",
}


@dataclass(frozen=True)
class Limits:
    """file_bytes: size of a file on disk. read_bytes: the data one read holds in memory (a
    FITS file's HDUs together, one chunk of HDF5 rows, one catalog). cutout_pixels: pixels in
    one band of one cutout (2048 x 2048 by default; survey cutouts are 64-512 on a side)."""

    file_bytes: int = 16 << 30
    read_bytes: int = 256 << 20
    cutout_pixels: int = 2048 * 2048

    @classmethod
    def from_env(cls) -> Limits:
        """The defaults, overridden by GALACTIVE_MAX_FILE_BYTES, _READ_BYTES, _CUTOUT_PIXELS."""
        values = {}
        for field, name in _ENV.items():
            raw = os.environ.get(name)
            if raw is None:
                continue
            try:
                values[field] = int(raw)
            except ValueError:
                raise ValueError(f"{name} must be an integer, got {raw!r}") from None
            if values[field] < 1:
                raise ValueError(f"{name} must be positive, got {raw!r}")
        return cls(**values)


def check_regular_file(path: Path | str, limits: Limits | None = None) -> None:
    """IngestError unless ``path`` is a regular file within the size limit.

    Checked with stat, before opening: opening a named pipe blocks until something writes
    to it, and a device or /proc file can be endless.
    """
    limits = limits or Limits.from_env()
    file = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError as exc:
        raise IngestError("no such file", file=file) from exc
    except OSError as exc:
        raise IngestError(f"cannot read the file: {exc}", file=file) from exc
    if stat.S_ISDIR(info.st_mode):
        raise IngestError("is a directory, not a file", file=file)
    if not stat.S_ISREG(info.st_mode):
        kind = "a named pipe" if stat.S_ISFIFO(info.st_mode) else "not a regular file"
        raise IngestError(f"is {kind}; only regular files are read", file=file)
    if info.st_size > limits.file_bytes:
        raise IngestError(
            f"is {info.st_size:,} bytes, over the limit of {limits.file_bytes:,} "
            f"({_ENV['file_bytes']})",
            file=file,
        )


def check_declared(
    file: str,
    where: str,
    shape: tuple[int, ...],
    itemsize: int,
    limits: Limits,
    *,
    image: bool = False,
    already: int = 0,
) -> int:
    """IngestError if data of ``shape`` (as the file declares it) would exceed the limits;
    returns its size in bytes. ``image``: the last two axes are a cutout's pixels.
    ``already``: bytes this read holds already (earlier HDUs of the same file)."""
    if any(d < 0 for d in shape):
        raise IngestError(f"{where} declares a negative size {shape}", file=file)
    if image and len(shape) >= 2 and shape[-1] * shape[-2] > limits.cutout_pixels:
        raise IngestError(
            f"{where} declares {shape[-2]} x {shape[-1]} pixels per band, over the limit of "
            f"{limits.cutout_pixels:,} ({_ENV['cutout_pixels']})",
            file=file,
        )
    size = math.prod(shape) * itemsize
    if already + size > limits.read_bytes:
        raise IngestError(
            f"{where} declares {shape} of {itemsize}-byte values ({size:,} bytes), over the "
            f"limit of {limits.read_bytes:,} bytes in memory at once ({_ENV['read_bytes']})",
            file=file,
        )
    return size
