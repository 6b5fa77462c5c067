"""What an ingest has stored before: the same cutout or spectrum (by checksum) or the same
pipeline label, so ingesting a file again adds nothing (three ingests of one spectrum once gave
three spectra and three redshift labels)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import ImageCutout, Label, Spectrum

IN_LIST = 5000  # ids per IN (...) list: under every backend's parameter limit


def in_chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    """``ids`` in slices short enough for one ``IN (...)`` list."""
    for start in range(0, len(ids), IN_LIST):
        yield ids[start : start + IN_LIST]


def checksum(*arrays: np.ndarray, text: str = "") -> str:
    """SHA-256 (hex) of ``text`` and each array's shape, dtype and bytes."""
    h = hashlib.sha256(text.encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"|{a.dtype.str}{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def new_content(
    session: Session,
    model: type[ImageCutout] | type[Spectrum],
    galaxy_ids: list[int],
    sums: list[str],
) -> np.ndarray:
    """(n,) bool: which arrays are not stored yet for their galaxy (same checksum), in the
    database or earlier in this list."""
    have: set[tuple[int, str]] = set()
    for part in in_chunks(sorted(set(galaxy_ids))):
        query = select(model.galaxy_id, model.checksum).where(
            model.galaxy_id.in_(part), model.checksum.in_(set(sums))
        )
        have.update((int(g), str(c)) for g, c in session.execute(query))
    new = np.zeros(len(sums), dtype=bool)
    for i, key in enumerate(zip(galaxy_ids, sums, strict=True)):
        new[i] = key not in have
        have.add(key)
    return new


def new_pipeline_labels(
    session: Session, task_id: int, label_source: str, rows: list[dict]
) -> list[dict]:
    """``rows`` without those whose galaxy already has the same value from the same
    pipeline for this task (a re-ingested spectrum's redshift is one label, not two)."""
    have: set[tuple[int, float]] = set()
    for part in in_chunks(sorted({row["galaxy_id"] for row in rows})):
        query = select(Label.galaxy_id, Label.value).where(
            Label.task_id == task_id, Label.source == label_source, Label.galaxy_id.in_(part)
        )
        have.update((int(g), float(v)) for g, v in session.execute(query) if v is not None)
    kept = []
    for row in rows:
        key = (row["galaxy_id"], row["value"])
        if key not in have:
            kept.append(row)
            have.add(key)
    return kept
