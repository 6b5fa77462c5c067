"""Where Galactive keeps things: ``GALACTIVE_HOME`` and ``GALACTIVE_DB``, or CLI options."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from storage.arrays import ArrayStore
from storage.db import make_engine
from storage.latents import LatentCache

DEFAULT_HOME = "galactive-data"


@dataclass(frozen=True)
class Settings:
    """Resolved locations: the data directory, the database URL and the array store root."""

    home: Path
    db_url: str

    @property
    def array_root(self) -> Path:
        return self.home / "arrays"

    def engine(self) -> Engine:
        return make_engine(self.db_url)

    def store(self) -> ArrayStore:
        return ArrayStore(self.array_root)

    def latents(self) -> LatentCache:
        """The trunks' latents of the pool, kept so a heads-only round rescores without them."""
        return LatentCache(self.home / "latents")


def resolve(db: str | None = None, home: str | Path | None = None) -> Settings:
    """Settings from arguments, else the environment, else ``./galactive-data`` with SQLite."""
    home_path = Path(home or os.environ.get("GALACTIVE_HOME") or DEFAULT_HOME).resolve()
    url = db or os.environ.get("GALACTIVE_DB") or f"sqlite:///{home_path / 'galactive.db'}"
    return Settings(home=home_path, db_url=url)
