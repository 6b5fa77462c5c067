"""The latent cache: a trunk's latents of a survey's galaxies, so a rescoring skips the trunk.

A model's trunk is a deterministic function of a galaxy's arrays, which never change once
ingested, so its latents are fixed by the trunk's weights — their digest, a string computed
by whoever owns the model. A scoring pass that runs the trunk writes one file per (survey,
digest) holding, per galaxy, the latents (N, E, D) float32, the expert mask (N, E) and the
artifact screen's flag; a later version with the same trunk (a heads-only round) reads them
instead. Files are written to ``.h5.partial`` and renamed when complete, never modified
after; a survey keeps its KEEP newest files.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

import h5py
import numpy as np

KEEP = 2  # files kept per survey: the active trunk's and the one before it
ROWS = 1024  # HDF5 chunk, in galaxies
DIGEST = re.compile(r"[0-9a-f]{16,64}")


class LatentReader:
    """The cached latents of one (survey, trunk) that hold every galaxy asked for."""

    def __init__(self, path: Path) -> None:
        self.path = path
        h5 = _open(str(path), path.stat().st_mtime_ns)
        self._h5 = h5
        ids = h5["galaxy_id"][:]
        self._order = np.argsort(ids, kind="stable")
        self._sorted = ids[self._order]

    def rows(self, galaxy_id: np.ndarray) -> np.ndarray | None:
        """The file's rows of ``galaxy_id``, or None unless it holds every one."""
        pos = np.searchsorted(self._sorted, galaxy_id)
        pos = np.minimum(pos, len(self._sorted) - 1) if len(self._sorted) else pos
        if not len(self._sorted) or not np.array_equal(self._sorted[pos], galaxy_id):
            return None
        return self._order[pos]

    def read(self, galaxy_id: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(latents (n, E, D), mask (n, E), screen flag (n,)) of ``galaxy_id``, in its order."""
        rows = self.rows(galaxy_id)
        if rows is None:
            raise KeyError(f"{self.path.name} does not hold every galaxy asked for")
        order = np.argsort(rows)
        unique = rows[order]
        first, last = int(unique[0]), int(unique[-1])
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        if last - first + 1 == len(unique):  # the usual case: a run of consecutive rows
            span = slice(first, last + 1)
            parts = [self._h5[k][span] for k in ("latents", "mask", "flagged")]
        else:
            parts = [self._h5[k][unique] for k in ("latents", "mask", "flagged")]
        return tuple(p[inverse] for p in parts)  # type: ignore[return-value]


class LatentWriter:
    """Appends one scoring pass's latents; :meth:`commit` publishes the file atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._partial = path.with_suffix(".h5.partial")
        self._h5: h5py.File | None = None

    def append(
        self, galaxy_id: np.ndarray, latents: np.ndarray, mask: np.ndarray, flagged: np.ndarray
    ) -> None:
        """Add the galaxies ``galaxy_id`` (n,) with latents (n, E, D), mask (n, E), flag (n,)."""
        arrays = {
            "galaxy_id": np.asarray(galaxy_id, np.int64),
            "latents": np.asarray(latents, np.float32),
            "mask": np.asarray(mask, bool),
            "flagged": np.asarray(flagged, bool),
        }
        if len({len(a) for a in arrays.values()}) != 1:
            raise ValueError(f"latent cache rows disagree: {[a.shape for a in arrays.values()]}")
        if self._h5 is None:
            self._h5 = h5py.File(self._partial, "w")
            for name, a in arrays.items():
                self._h5.create_dataset(
                    name, shape=(0, *a.shape[1:]), maxshape=(None, *a.shape[1:]),
                    dtype=a.dtype, chunks=(ROWS, *a.shape[1:]),
                )  # fmt: skip
        for name, a in arrays.items():
            ds = self._h5[name]
            first = ds.shape[0]
            ds.resize(first + len(a), axis=0)
            ds[first:] = a

    def commit(self) -> Path | None:
        """Publish the file (None if nothing was appended) and drop the survey's old ones."""
        if self._h5 is None:
            return None
        self._h5.close()
        with open(self._partial, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(self._partial, self.path)
        survey = self.path.name.split("-")[0]
        files = sorted(self.path.parent.glob(f"{survey}-*.h5"), key=lambda p: p.stat().st_mtime)
        for old in files[:-KEEP]:
            old.unlink(missing_ok=True)
        return self.path

    def abort(self) -> None:
        """Delete what was written; the cache is left as it was."""
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
        self._partial.unlink(missing_ok=True)


class LatentCache:
    """One directory of latent files, ``<survey id>-<trunk digest>.h5``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, survey_id: int, digest: str) -> Path:
        """Where the latents of survey ``survey_id`` under trunk ``digest`` lie."""
        if not DIGEST.fullmatch(digest):
            raise ValueError(f"trunk digest must be 16-64 hex digits, got {digest!r}")
        return self.root / f"{int(survey_id)}-{digest}.h5"

    def reader(self, survey_id: int, digest: str, galaxy_id: np.ndarray) -> LatentReader | None:
        """A reader if a file holds every galaxy of ``galaxy_id``, else None."""
        path = self.path(survey_id, digest)
        if not path.exists():
            return None
        reader = LatentReader(path)
        return reader if reader.rows(np.asarray(galaxy_id, np.int64)) is not None else None

    def writer(self, survey_id: int, digest: str) -> LatentWriter:
        """A writer for a new file of survey ``survey_id`` under trunk ``digest``."""
        self.root.mkdir(parents=True, exist_ok=True)
        return LatentWriter(self.path(survey_id, digest))


@lru_cache(maxsize=8)
def _open(path: str, mtime_ns: int) -> h5py.File:
    """Cached read-only handle, per file version: a file rewritten under the same name (its
    survey gained galaxies) has a new modification time, so a new handle."""
    return h5py.File(path, "r")
