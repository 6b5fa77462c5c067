"""Whole-state snapshots, to prove a failed ingest left nothing behind."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from storage.arrays import ArrayStore
from storage.models import Base


def state(engine: Engine, store: ArrayStore) -> dict[str, object]:
    """Row count of every table plus every file under the array root (partials included)."""
    with engine.connect() as conn:
        counts = {
            name: conn.scalar(select(func.count()).select_from(table))
            for name, table in Base.metadata.tables.items()
        }
    files = sorted(p.name for p in store.root.glob("*")) if store.root.exists() else []
    return {"rows": counts, "files": files}
