"""The chunked array store: one immutable HDF5 file per ingest, referenced from the DB.

Pixels, spectra and fluxes are too large for row blobs. Each ingest writes its arrays to
``<root>/<uuid>.h5.partial`` and renames it to ``<uuid>.h5`` only when complete; the
database rows that point at it commit after the rename, and an aborted ingest deletes
the file. While it writes, the ingest holds an exclusive lock on ``<uuid>.lock`` until its
database rows are committed, so a crash at any point (the kernel drops the lock with the
process) leaves files that :mod:`storage.store_check` can tell from a live ingest's and remove.
Files are never modified afterwards, so readers need no locks. Datasets are chunked per
galaxy (images) or in small blocks (spectra, photometry), so reading one galaxy reads only
its own chunks.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import h5py
import numpy as np

SPECTRUM_CHUNK = 8192
PHOTOMETRY_CHUNK = 4096
DENSE_READ = 4  # read a slice when it spans at most this many times the rows wanted


@dataclass(frozen=True)
class RowRef:
    """Where one galaxy's fixed-size array lives: file, dataset group and row."""

    array_file: str
    dataset: str
    row: int


@dataclass(frozen=True)
class SpanRef:
    """Where one spectrum lives: file, dataset group, first sample and length."""

    array_file: str
    dataset: str
    offset: int
    length: int


PUBLISHED, PARTIAL, LOCK = ".h5", ".h5.partial", ".lock"


def lock_path(root: Path, stem: str) -> Path:
    """The lock file an ingest holds while its file ``<stem>.h5`` is not yet committed."""
    return root / f"{stem}{LOCK}"


def try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive lock on ``path`` (created if absent), or None
    if another process holds it. Closing the descriptor releases the lock."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class ArrayWriter:
    """Appends one ingest's arrays to a partial file; ``commit`` publishes it atomically.

    The writer holds ``<uuid>.lock`` from creation until :meth:`release`, which the ingest
    calls once its database rows are committed (or :meth:`abort`).
    """

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        stem = uuid.uuid4().hex
        self.name = f"{stem}{PUBLISHED}"
        self.path = root / self.name
        self._partial = root / f"{stem}{PARTIAL}"
        self._lock = lock_path(root, stem)
        self._lock_fd = try_lock(self._lock)  # a fresh uuid: nobody else holds it
        self._file: h5py.File | None = None

    def _h5(self) -> h5py.File:
        if self._file is None:
            self._file = h5py.File(self._partial, "w")
        return self._file

    @property
    def used(self) -> bool:
        """Whether anything was written (an ingest of positions only writes no file)."""
        return self._file is not None

    def append_images(
        self,
        bands: Sequence[str],
        pixels: np.ndarray,
        ivar: np.ndarray | None,
        *,
        network: np.ndarray | None = None,
    ) -> tuple[str, int]:
        """Append (N, B, H, W) cutouts, and ``network``, the same cutouts in the form a model
        reads them when the caller gives it; returns the dataset group and the first row.

        A group holds "network" for all of its rows or none: a writer is one ingest, and its
        caller passes the form every time or never."""
        _, b, h, w = pixels.shape
        group = f"images/{'-'.join(bands)}_{h}x{w}"
        first = self._append(group, "pixels", pixels.astype(np.float32), (1, b, h, w))
        if ivar is not None:
            self._append(group, "ivar", ivar.astype(np.float32), (1, b, h, w))
        if network is not None:
            if network.shape != pixels.shape:
                raise ValueError(f"network form {network.shape} differs from pixels {pixels.shape}")
            # float16: half the bytes every scoring pass reads, and a rounding (<= 2^-11 of a
            # value) far below a stretched cutout's noise (docs/benchmarks.md); uncompressed:
            # LZF saved 7% of it on the mock and cost 0.2 ms per galaxy to undo
            self._append(group, "network", network.astype(np.float16), (1, b, h, w), lzf=False)
        return group, first

    def append_spectra(
        self, wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray
    ) -> tuple[str, int]:
        """Append spectra's samples, concatenated; returns the group and the first offset."""
        group = "spectra"
        first = self._append(group, "wavelength", wavelength.astype(np.float64), (SPECTRUM_CHUNK,))
        self._append(group, "flux", flux.astype(np.float32), (SPECTRUM_CHUNK,))
        self._append(group, "ivar", ivar.astype(np.float32), (SPECTRUM_CHUNK,))
        return group, first

    def append_photometry(
        self, bands: Sequence[str], flux: np.ndarray, ivar: np.ndarray
    ) -> tuple[str, int]:
        """Append (N, B) fluxes and inverse variances; returns the group and first row."""
        group = f"photometry/{'-'.join(bands)}"
        chunk = (PHOTOMETRY_CHUNK, flux.shape[1])
        first = self._append(group, "flux", flux.astype(np.float64), chunk)
        self._append(group, "ivar", ivar.astype(np.float64), chunk)
        return group, first

    def _append(
        self, group: str, name: str, data: np.ndarray, chunks: tuple[int, ...], *, lzf: bool = True
    ) -> int:
        g = self._h5().require_group(group)
        if name not in g:
            g.create_dataset(
                name,
                shape=(0, *data.shape[1:]),
                maxshape=(None, *data.shape[1:]),
                dtype=data.dtype,
                chunks=chunks,
                compression="lzf" if lzf else None,
                shuffle=lzf,
            )
        ds = g[name]
        first = ds.shape[0]
        ds.resize(first + data.shape[0], axis=0)
        ds[first:] = data
        return first

    def commit(self) -> str | None:
        """Flush, fsync and rename the file into place; returns its name (None if unused)."""
        if self._file is None:
            return None
        self._file.flush()
        self._file.close()
        with open(self._partial, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(self._partial, self.path)
        return self.name

    def release(self) -> None:
        """Drop the lock: the file is committed in the database, or gone (idempotent)."""
        if self._lock_fd is not None:
            self._lock.unlink(missing_ok=True)
            os.close(self._lock_fd)
            self._lock_fd = None

    def abort(self) -> None:
        """Delete whatever was written and release the lock; the store is left as it was."""
        if self._file is not None:
            self._file.close()
        for path in (self._partial, self.path):
            path.unlink(missing_ok=True)
        self.release()


class ArrayStore:
    """Reads arrays by reference; writes go through ``ArrayWriter``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def writer(self) -> ArrayWriter:
        """A writer for a new immutable file in this store."""
        return ArrayWriter(self.root)

    def _open(self, array_file: str) -> h5py.File:
        return _open_readonly(str(self.root / array_file))

    def read_rows(self, refs: Sequence[RowRef], name: str) -> np.ndarray:
        """Stack dataset ``name`` ("pixels", "ivar", "network", "flux") for each ref, in order.

        Rows are read per file and group in sorted order, so a batch of galaxies costs
        one pass over the chunks they occupy.
        """
        if not refs:
            raise ValueError("read_rows needs at least one reference")
        out: np.ndarray | None = None
        by_source: dict[tuple[str, str], list[int]] = {}
        for i, ref in enumerate(refs):
            by_source.setdefault((ref.array_file, ref.dataset), []).append(i)
        for (array_file, dataset), positions in by_source.items():
            ds = self._open(array_file)[dataset][name]
            rows = np.array([refs[i].row for i in positions])
            if len(by_source) == 1 and _is_run(rows):
                # the common case (a chunk of consecutive galaxies of one ingest): one slice,
                # returned as read, with no copy of a chunk-sized array
                return ds[int(rows[0]) : int(rows[-1]) + 1]
            order = np.argsort(rows)
            unique_rows, inverse = np.unique(rows[order], return_inverse=True)
            first, last = int(unique_rows[0]), int(unique_rows[-1])
            if last - first + 1 <= DENSE_READ * len(unique_rows):
                # h5py point selections cost per point; a dense set is cheaper as one slice
                block = ds[first : last + 1][(unique_rows - first)[inverse]]
            else:
                block = ds[unique_rows][inverse]
            if out is None:
                out = np.empty((len(refs), *ds.shape[1:]), dtype=ds.dtype)
            elif out.shape[1:] != ds.shape[1:]:
                raise ValueError(
                    f"cannot stack {dataset}/{name} of shape {ds.shape[1:]} with {out.shape[1:]}"
                )
            out[np.asarray(positions)[order]] = block
        assert out is not None  # refs is non-empty
        return out

    def holds(self, refs: Sequence[RowRef], name: str) -> bool:
        """Whether the group of every ref holds dataset ``name`` (e.g. "network")."""
        sources = {(ref.array_file, ref.dataset) for ref in refs}
        return all(name in self._open(f)[dataset] for f, dataset in sources)

    def read_spectrum(self, ref: SpanRef) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One spectrum's (wavelength Å, flux, ivar), each (L,)."""
        group = self._open(ref.array_file)[ref.dataset]
        span = slice(ref.offset, ref.offset + ref.length)
        return group["wavelength"][span], group["flux"][span], group["ivar"][span]

    def read_spectra(
        self, refs: Sequence[SpanRef]
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Spectra of ``refs``, in order, as :meth:`read_spectrum` gives each: the spans of one
        file and group are read as one slice of each dataset when they lie close together
        (three reads for a chunk's spectra instead of three per spectrum)."""
        out: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = [None] * len(refs)
        by_source: dict[tuple[str, str], list[int]] = {}
        for i, ref in enumerate(refs):
            by_source.setdefault((ref.array_file, ref.dataset), []).append(i)
        for (array_file, dataset), positions in by_source.items():
            spans = [refs[i] for i in positions]
            first = min(r.offset for r in spans)
            last = max(r.offset + r.length for r in spans)
            if last - first > DENSE_READ * sum(r.length for r in spans):
                for i in positions:
                    out[i] = self.read_spectrum(refs[i])
                continue
            group = self._open(array_file)[dataset]
            wave, flux, ivar = (group[n][first:last] for n in ("wavelength", "flux", "ivar"))
            for i, r in zip(positions, spans, strict=True):
                cut = slice(r.offset - first, r.offset - first + r.length)
                out[i] = (wave[cut], flux[cut], ivar[cut])
        return out  # type: ignore[return-value]  # every position was filled

    def files(self) -> set[str]:
        """Names of the published files (partial files excluded)."""
        if not self.root.exists():
            return set()
        return {p.name for p in self.root.glob(f"*{PUBLISHED}")}


def _is_run(rows: np.ndarray) -> bool:
    """Whether ``rows`` are consecutive and ascending (first, first + 1, ...)."""
    return bool(len(rows)) and bool((np.diff(rows) == 1).all())


@lru_cache(maxsize=64)
def _open_readonly(path: str) -> h5py.File:
    """Cached read-only handle; safe because published files never change."""
    return h5py.File(path, "r")
