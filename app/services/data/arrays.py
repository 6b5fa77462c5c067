"""A survey's galaxies as ``bayes.data.GalaxyArrays``: references in one query, arrays in batches.

The references of every galaxy (which file, dataset and row holds its image, spectrum and
photometry) are small and held as columns; the arrays themselves are read per batch, so a
stream over a million galaxies holds one batch at a time. A galaxy's first row of each
modality (lowest id) is used; a missing modality is flagged in ``has_*``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from bayes.data import GalaxyArrays, asinh_stretch
from storage.arrays import ArrayStore, RowRef, SpanRef
from storage.models import Galaxy, ImageCutout, Ingest, Photometry, Spectrum, Survey

# The form the network reads cutouts in, computed once at ingest and stored beside the pixels
# (``storage.ingest.writer.ingest(prepare_images=...)``): the per-band median, MAD and asinh
# were half of a scoring pass's time (docs/benchmarks.md, issue 21).
NETWORK_IMAGES = asinh_stretch


@dataclass(frozen=True)
class ModalityRefs:
    """Where each of N galaxies keeps one modality: ``source`` indexes ``sources``, -1 if absent.

    sources: (array_file, dataset) pairs; source, start, length: (N,) int64 (start is the row,
    or the first sample of a spectrum; length is the spectrum's sample count, 0 otherwise).
    """

    sources: tuple[tuple[str, str], ...]
    source: np.ndarray
    start: np.ndarray
    length: np.ndarray

    @property
    def present(self) -> np.ndarray:
        """(N,) bool."""
        return self.source >= 0

    def rows(self, idx: np.ndarray) -> list[RowRef]:
        """RowRefs of the galaxies at ``idx`` (all must be present)."""
        return [RowRef(*self.sources[self.source[i]], int(self.start[i])) for i in idx]

    def spans(self, idx: np.ndarray) -> list[SpanRef]:
        """SpanRefs of the galaxies at ``idx`` (all must be present)."""
        return [
            SpanRef(*self.sources[self.source[i]], int(self.start[i]), int(self.length[i]))
            for i in idx
        ]


@dataclass(frozen=True)
class SurveyRefs:
    """A survey's N galaxies in id order, and where their arrays live."""

    survey_id: int
    galaxy_id: np.ndarray
    source_id: np.ndarray
    image: ModalityRefs
    spectrum: ModalityRefs
    photometry: ModalityRefs

    def __len__(self) -> int:
        return len(self.galaxy_id)

    def index_of(self, galaxy_ids: np.ndarray) -> np.ndarray:
        """Positions of ``galaxy_ids`` in this survey, -1 for ids not in it."""
        pos = np.searchsorted(self.galaxy_id, galaxy_ids)
        pos = np.minimum(pos, max(len(self) - 1, 0))
        hit = len(self) > 0 and self.galaxy_id[pos] == galaxy_ids
        return np.where(hit, pos, -1)


def latest_ingest(session: Session, survey: str) -> int | None:
    """The id of the newest ingest into ``survey`` (None before any): a key for cached refs."""
    return session.scalar(
        select(func.max(Ingest.id))
        .join(Survey, Survey.id == Ingest.survey_id)
        .where(Survey.name == survey)
    )


def survey_id(session: Session, name: str) -> int:
    """The id of the survey called ``name``; ValueError naming it and the surveys there are."""
    found = session.scalar(select(Survey.id).where(Survey.name == name))
    if found is None:
        names = session.scalars(select(Survey.name).order_by(Survey.name)).all()
        there = f"surveys: {', '.join(map(repr, names))}" if names else "there are no surveys yet"
        raise ValueError(f"no survey named {name!r}; {there} (galactive status lists them)")
    return found


def survey_refs(session: Session, survey: str) -> SurveyRefs:
    """Every galaxy of ``survey`` with the location of its arrays, from one query."""
    sid = survey_id(session, survey)
    ing_i, ing_s, ing_p = aliased(Ingest), aliased(Ingest), aliased(Ingest)
    stmt = (
        select(
            Galaxy.id,
            Galaxy.source_id,
            ing_i.array_file,
            ImageCutout.dataset,
            ImageCutout.row,
            ing_s.array_file,
            Spectrum.dataset,
            Spectrum.offset,
            Spectrum.length,
            ing_p.array_file,
            Photometry.dataset,
            Photometry.row,
        )
        .outerjoin(ImageCutout, ImageCutout.galaxy_id == Galaxy.id)
        .outerjoin(ing_i, ing_i.id == ImageCutout.ingest_id)
        .outerjoin(Spectrum, Spectrum.galaxy_id == Galaxy.id)
        .outerjoin(ing_s, ing_s.id == Spectrum.ingest_id)
        .outerjoin(Photometry, Photometry.galaxy_id == Galaxy.id)
        .outerjoin(ing_p, ing_p.id == Photometry.ingest_id)
        .where(Galaxy.survey_id == sid)
        .order_by(Galaxy.id, ImageCutout.id, Spectrum.id, Photometry.id)
    )
    rows = session.execute(stmt).all()
    keep = [i for i, r in enumerate(rows) if i == 0 or r[0] != rows[i - 1][0]]  # first per galaxy
    rows = [rows[i] for i in keep]
    return SurveyRefs(
        survey_id=sid,
        galaxy_id=np.array([r[0] for r in rows], dtype=np.int64),
        source_id=np.array([r[1] for r in rows], dtype=object),
        image=_modality([(r[2], r[3], r[4], 0) for r in rows]),
        spectrum=_modality([(r[5], r[6], r[7], r[8]) for r in rows]),
        photometry=_modality([(r[9], r[10], r[11], 0) for r in rows]),
    )


def _modality(rows: list[tuple[str | None, str | None, int | None, int | None]]) -> ModalityRefs:
    """Columns from (array_file, dataset, start, length) tuples; None file = absent."""
    sources: dict[tuple[str, str], int] = {}
    source = np.full(len(rows), -1, dtype=np.int64)
    start = np.zeros(len(rows), dtype=np.int64)
    length = np.zeros(len(rows), dtype=np.int64)
    for i, (array_file, dataset, first, count) in enumerate(rows):
        if array_file is None or dataset is None:
            continue
        source[i] = sources.setdefault((array_file, dataset), len(sources))
        start[i], length[i] = first, count or 0
    return ModalityRefs(tuple(sources), source, start, length)


def load_arrays(
    store: ArrayStore, refs: SurveyRefs, idx: np.ndarray, *, network: bool = False
) -> GalaxyArrays:
    """The galaxies at positions ``idx`` (n,) as GalaxyArrays; spectra padded to the longest.

    Images (n, B, H, W) float32 and photometry (n, P) come from ``read_rows`` (one pass per
    file); spectra are (n, L) float32 with ivar = 0 padding. Absent rows are zero. With
    ``network``, cutouts come in the form the network reads (NETWORK_IMAGES, flagged
    ``images_stretched``) when every one was stored so at ingest, else as pixels, as for
    display.
    """
    idx = np.asarray(idx, dtype=np.int64)
    n = len(idx)
    shown = idx[refs.image.present[idx]]
    _, first = np.unique(refs.image.source[shown], return_index=True)  # one row per file
    stored = network and len(shown) > 0 and store.holds(refs.image.rows(shown[first]), "network")
    images, has_image = _rows(
        store, refs.image, idx, ("network" if stored else "pixels",), np.float32
    )
    phot, has_phot = _rows(store, refs.photometry, idx, ("flux", "ivar"), np.float64)
    has_spec = refs.spectrum.present[idx]
    wave = flux = ivar = None
    if has_spec.any():
        width = int(refs.spectrum.length[idx[has_spec]].max())
        wave, flux, ivar = (np.zeros((n, width), np.float32) for _ in range(3))
        rows = np.flatnonzero(has_spec)
        for j, (w, f, iv) in zip(
            rows, store.read_spectra(refs.spectrum.spans(idx[rows])), strict=True
        ):
            wave[j, : len(w)], flux[j, : len(f)], ivar[j, : len(iv)] = w, f, iv
    return GalaxyArrays(
        images=images[0] if images else None,
        has_image=has_image,
        wavelength=wave,
        flux=flux,
        ivar=ivar,
        has_spectrum=has_spec,
        phot_flux=phot[0] if phot else None,
        phot_ivar=phot[1] if phot else None,
        has_photometry=has_phot,
        images_stretched=bool(stored),
    )


def load_photometry(
    store: ArrayStore, refs: SurveyRefs, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(flux, ivar, has) of the galaxies at ``idx``, photometry alone (no cutout is read);
    None when none of them has photometry."""
    idx = np.asarray(idx, dtype=np.int64)
    phot, has = _rows(store, refs.photometry, idx, ("flux", "ivar"), np.float64)
    return (phot[0], phot[1], has) if phot else None


def _rows(
    store: ArrayStore, refs: ModalityRefs, idx: np.ndarray, names: tuple[str, ...], dtype: type
) -> tuple[list[np.ndarray], np.ndarray]:
    """Arrays ``names`` of the galaxies at ``idx`` (zero where absent) and has (n,) bool."""
    has = refs.present[idx]
    if not has.any():
        return [], has
    located = refs.rows(idx[has])
    out = []
    for name in names:
        block = _as(store.read_rows(located, name), dtype)
        if has.all():
            out.append(block)  # every galaxy has it: no chunk-sized copy
            continue
        full = np.zeros((len(idx), *block.shape[1:]), dtype=dtype)
        full[has] = block
        out.append(full)
    return out, has


def _as(block: np.ndarray, dtype: type) -> np.ndarray:
    """``block`` in ``dtype`` (itself if it is already); a float16 network form becomes float32
    through torch's vectorised cast, 7x numpy's (0.01 against 0.07 s per 2048 cutouts)."""
    if block.dtype == dtype:
        return block
    out = np.empty(block.shape, dtype)
    if block.dtype == np.float16 and out.dtype == np.float32:
        torch.from_numpy(out).copy_(torch.from_numpy(np.ascontiguousarray(block)))
    else:
        out[...] = block
    return out


def stream_arrays(
    store: ArrayStore,
    refs: SurveyRefs,
    idx: np.ndarray,
    *,
    batch_size: int = 512,
    network: bool = False,
) -> Iterator[GalaxyArrays]:
    """GalaxyArrays of ``batch_size`` galaxies at a time, in the order of ``idx`` (``network``:
    see :func:`load_arrays`)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, len(idx), batch_size):
        yield load_arrays(store, refs, idx[start : start + batch_size], network=network)
