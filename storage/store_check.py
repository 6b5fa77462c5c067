"""The array store against the database: find what a crashed ingest left, and remove it.

An ingest killed while writing leaves ``<uuid>.h5.partial``; one killed between the publish
rename and its database commit leaves a published ``<uuid>.h5`` that no ingest row names.
Each file's ``<uuid>.lock`` tells a live ingest (lock held) from a dead one (the kernel
released it), so a sweep never touches an ingest still running, on this machine or on another
sharing the directory through a filesystem with working ``flock``. A file is removed only
after its lock is taken and the database is asked again, so an ingest that committed in the
meantime keeps its file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, select

from storage.arrays import LOCK, PARTIAL, PUBLISHED, ArrayStore, lock_path, try_lock
from storage.db import session_scope
from storage.models import Ingest

log = logging.getLogger(__name__)


@dataclass
class StoreReport:
    """What a check found. orphans: files no committed ingest names (removed when repaired);
    live: files of ingests still running (left alone); missing: files the database names that
    are not in the store (cannot be repaired here: the arrays are lost)."""

    orphans: list[str] = field(default_factory=list)
    live: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when store and database agree (live ingests aside)."""
        return not (self.orphans or self.missing)


def _stem(name: str) -> str | None:
    for suffix in (PARTIAL, PUBLISHED, LOCK):  # PARTIAL before PUBLISHED: it ends the same
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def _referenced(engine: Engine, names: list[str] | None = None) -> set[str]:
    query = select(Ingest.array_file).where(Ingest.array_file.is_not(None))
    if names is not None:
        query = query.where(Ingest.array_file.in_(names))
    with session_scope(engine) as session:
        return set(session.scalars(query))


def check(engine: Engine, store: ArrayStore, *, repair: bool = False) -> StoreReport:
    """Compare the store's files with the ingest rows; with ``repair``, remove the orphans."""
    report = StoreReport()
    root = store.root
    names = sorted(p.name for p in root.iterdir() if p.is_file()) if root.is_dir() else []
    referenced = _referenced(engine)
    report.missing = sorted(referenced - {n for n in names if n.endswith(PUBLISHED)})
    stems: dict[str, list[str]] = {}
    for name in names:
        stem = _stem(name)
        if stem is not None and name not in referenced:
            stems.setdefault(stem, []).append(name)
    for stem, files in sorted(stems.items()):
        data = [f for f in files if not f.endswith(LOCK)]
        lock = lock_path(root, stem)
        existed = lock.exists()
        fd = try_lock(lock)
        if fd is None:
            report.live.extend(data)
            continue
        try:  # locked: no ingest can commit this file now; ask the database once more
            if f"{stem}{PUBLISHED}" in _referenced(engine, [f"{stem}{PUBLISHED}"]):
                continue
            report.orphans.extend(data)
            if repair:
                for name in data:
                    (root / name).unlink(missing_ok=True)
                    log.warning("array store: removed %s, left by an unfinished ingest", name)
                    report.removed.append(name)
        finally:
            if repair or not existed:  # a check alone leaves the directory as it found it
                lock.unlink(missing_ok=True)
            os.close(fd)
    return report


def sweep(engine: Engine, store: ArrayStore) -> StoreReport:
    """Remove what crashed ingests left (logged); what ``ingest`` and ``init`` run first."""
    return check(engine, store, repair=True)


def describe(report: StoreReport, root: Path) -> list[str]:
    """Plain lines for a person: what was found and done."""
    lines = [f"array store {root}:"]
    for label, names in (("orphan", report.orphans), ("missing", report.missing),
                         ("in use by a running ingest", report.live)):  # fmt: skip
        lines += [f"  {label}: {name}" for name in names]
    if report.removed:
        lines.append(f"  removed {len(report.removed)} orphan file(s)")
    if report.clean:
        lines.append("  store and database agree")
    return lines
