"""Score a survey's whole pool with one model version: posterior summary and BALD per galaxy.

The pool is streamed in chunks (read, predict, screen, then write that chunk's ``Score``
rows), so memory holds one chunk. Galaxies the artifact screen flags also get a row with
acquisition ``screen``, so the queue can leave them to the random control. Scores of a
version that is not active yet are invisible to the queues, so a crash mid-way leaves
nothing anyone reads; a retry deletes them and starts again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from app.services.data.arrays import SurveyRefs, load_arrays, survey_refs
from app.services.loop.screening import ColourScreen, pool_colour_screen, screen
from app.services.models.versions import load_version
from bayes.acquisition import scores_for
from bayes.calibrated import CalibratedModel
from bayes.followup import posterior_variance
from bayes.latents import Latents, model_latents, trunk_digest
from bayes.predict import Posterior
from storage.arrays import ArrayStore
from storage.db import session_scope
from storage.latents import LatentCache, LatentReader, LatentWriter
from storage.models import ModelVersion, Score, Survey, Task

ACQUISITION = "bald"  # what Score.value holds: BALD (classification), information gain (regression)
SCREEN = "screen"  # a row per task for each galaxy the artifact screen flags (value 1)
CHUNK = 2048  # galaxies read, predicted and screened together
PREDICT_BATCH = 512  # galaxies per head product within a chunk (the draws depend on it)
ChunkHook = Callable[[int, int], None]  # (galaxies scored so far, total)


class PoolPosterior:
    """What the scoring pass keeps of its posterior for the follow-up plan, so that a retrain
    round predicts its pool once: per galaxy (in the survey's ``galaxy_id`` order) the
    embedding and each regression task's predictive variance (transformed units)."""

    def __init__(self) -> None:
        self.galaxy_id = np.zeros(0, np.int64)
        self.embedding = np.zeros((0, 0), np.float32)
        self.variance: dict[str, np.ndarray] = {}
        self._seen = np.zeros(0, bool)

    def add(self, galaxy_id: np.ndarray, idx: np.ndarray, posterior: Posterior) -> None:
        """Keep the posterior of the galaxies at ``idx`` of a pool of ``galaxy_id``."""
        if len(self.galaxy_id) != len(galaxy_id):
            n = len(galaxy_id)
            self.galaxy_id, self._seen = np.asarray(galaxy_id, np.int64), np.zeros(n, bool)
            self.embedding = np.zeros((n, posterior.embedding.shape[1]), np.float32)
            self.variance = {task: np.full(n, np.nan) for task in posterior.loc}
        self.embedding[idx] = posterior.embedding
        for task, loc in posterior.loc.items():
            self.variance[task][idx] = posterior_variance(loc, posterior.scale[task])
        self._seen[idx] = True

    def covers(self, galaxy_id: np.ndarray, task: str) -> bool:
        """Whether every galaxy of ``galaxy_id`` (the same pool, in order) has ``task`` kept."""
        same = np.array_equal(self.galaxy_id, galaxy_id)
        return same and task in self.variance and bool(self._seen.all())


def acquisition_value(posterior: Posterior, name: str) -> np.ndarray:
    """(N,) the queue's score of task ``name``: BALD, or information gain for a regression."""
    if name in posterior.probs:
        return scores_for(ACQUISITION, probs=posterior.probs[name])
    return scores_for(ACQUISITION, loc=posterior.loc[name], scale=posterior.scale[name])


def score_rows(
    posterior: Posterior, galaxy_id: np.ndarray, task_ids: dict[str, int], version_id: int
) -> list[dict]:
    """Score rows for one chunk: value = BALD or regression information gain (nats);
    mean/std = most probable class and its mean probability, or the mean and std of the draws."""
    rows = []
    for name, task_id in task_ids.items():
        if name in posterior.probs:
            mean_p = posterior.probs[name].mean(1)
            mean, std = mean_p.argmax(1).astype(float), mean_p.max(1)
        elif name in posterior.draws:
            mean, std = posterior.draws[name].mean(1), posterior.draws[name].std(1)
        else:
            continue
        value = acquisition_value(posterior, name)
        rows += [
            {
                "model_version_id": version_id,
                "task_id": task_id,
                "galaxy_id": int(g),
                "acquisition": ACQUISITION,
                "value": float(v),
                "mean": float(m),
                "std": float(s),
            }
            for g, v, m, s in zip(galaxy_id, value, mean, std, strict=True)
        ]
    return rows


@dataclass(frozen=True)
class ScoringPlan:
    """What scoring one version reads: its checkpoint, its survey's galaxies and task ids."""

    version_id: int
    checkpoint: str
    refs: SurveyRefs
    task_ids: dict[str, int]


def prepare(engine: Engine, version_id: int, *, refs: SurveyRefs | None = None) -> ScoringPlan:
    """Read what scoring ``version_id`` needs and delete scores an interrupted attempt left.
    refs: its survey's array references, when the caller holds them already."""
    with session_scope(engine) as session:
        version = session.get(ModelVersion, version_id)
        if version is None or version.checkpoint is None:
            raise ValueError(f"model version {version_id} has no checkpoint")
        survey = session.scalar(select(Survey.name).where(Survey.id == version.survey_id))
        names = {t["name"] for t in version.config["model"]["tasks"]}
        task_ids = {
            t.name: t.id
            for t in session.scalars(select(Task).where(Task.survey_id == version.survey_id))
            if t.name in names
        }
        session.execute(delete(Score).where(Score.model_version_id == version_id))
        refs = survey_refs(session, survey) if refs is None else refs
        return ScoringPlan(version_id, version.checkpoint, refs, task_ids)


@dataclass
class ChunkLatents:
    """A scoring pass's use of the latent cache: ``reader`` holds every galaxy of the pool
    under the version's trunk (rescore with the heads alone), or ``writer`` keeps the
    latents the pass computes, for the next version with the same trunk."""

    reader: LatentReader | None = None
    writer: LatentWriter | None = None


def score_chunk(
    model: CalibratedModel,
    store: ArrayStore,
    refs: SurveyRefs,
    idx: np.ndarray,
    task_ids: dict[str, int],
    version_id: int,
    *,
    samples: int = 32,
    keep: PoolPosterior | None = None,
    latents: ChunkLatents | None = None,
    colours: ColourScreen | None = None,
) -> list[dict]:
    """Score rows of the galaxies at ``idx``: read, predict, recalibrate, screen; ``keep``
    holds on to the posterior for the follow-up plan. With a cache ``reader`` the trunk's
    latents and the screen's flags are read, not computed: the same rows, from the heads alone
    (:func:`bayes.predict.predict_latents`). colours: the colour screen fitted to the pool
    (:func:`pool_colour_screen`; else fitted to these galaxies)."""
    ids = refs.galaxy_id[idx]
    if latents is not None and latents.reader is not None:
        z, mask, flags = latents.reader.read(ids)
        batches = list(Latents.from_numpy(z, mask).batches(PREDICT_BATCH))
    else:
        arrays = load_arrays(store, refs, idx, network=True)
        batches = list(model_latents(model.base, arrays, batch_size=PREDICT_BATCH))
        flags = screen(arrays, modalities=model.config.modalities, colours=colours)
        if latents is not None and latents.writer is not None:
            latents.writer.append(
                ids,
                np.concatenate([b.latents.numpy() for b in batches]),
                np.concatenate([b.mask.numpy() for b in batches]),
                flags,
            )
    posterior = model.predict_latents(batches, samples=samples)
    if keep is not None:
        keep.add(refs.galaxy_id, idx, posterior)
    rows = score_rows(posterior, ids, task_ids, version_id)
    rows += [
        {"model_version_id": version_id, "task_id": t, "galaxy_id": int(g),
         "acquisition": SCREEN, "value": 1.0, "mean": None, "std": None}
        for t in task_ids.values() for g in ids[flags]
    ]  # fmt: skip
    return rows


def insert_scores(engine: Engine, rows: list[dict]) -> None:
    """Write score rows in one transaction."""
    if rows:
        with session_scope(engine) as session:
            session.execute(Score.__table__.insert(), rows)


def score_pool(
    engine: Engine,
    store: ArrayStore,
    home: Path,
    version_id: int,
    *,
    chunk: int = CHUNK,
    samples: int = 32,
    on_chunk: ChunkHook | None = None,
    keep: PoolPosterior | None = None,
    model: CalibratedModel | None = None,
    refs: SurveyRefs | None = None,
    cache: LatentCache | None = None,
    device: str | None = None,
    latents: ChunkLatents | None = None,
) -> int:
    """Write the ``Score`` rows of every galaxy of the version's survey; returns the count.
    ``keep``: filled with the pool's posterior summaries, for the follow-up plan. model, refs:
    the version and its survey's references when the caller holds them (a retrain round).
    cache: the latent cache; when it holds the whole pool under this version's trunk, the pass
    runs the heads alone, else it runs the trunk and leaves the pool's latents there.
    device: where the trunk runs (default the CPU; the heads always run there). latents: how
    the pass uses ``cache``, when the caller has already asked (:func:`pool_latents`).

    Rows a previous, interrupted attempt wrote for this version are deleted first. Results
    depend on ``chunk`` (the regression draws are per chunk), so every path that scores, Dask
    included, cuts the pool at the same multiples of it; the screen's flags do not (its colour
    test is fitted once to the pool).
    """
    plan = prepare(engine, version_id, refs=refs)
    model = load_version(home, plan.checkpoint) if model is None else model
    model.base.to(device)
    latents = pool_latents(cache, plan.refs, model) if latents is None else latents
    colours = None
    if latents.reader is None:  # the trunk runs, and the screen with it
        colours = pool_screen(store, plan.refs, model.config.modalities)
    total, written = len(plan.refs), 0
    try:
        for start in range(0, total, chunk):
            idx = np.arange(start, min(start + chunk, total))
            rows = score_chunk(
                model, store, plan.refs, idx, plan.task_ids, version_id,
                samples=samples, keep=keep, latents=latents, colours=colours,
            )  # fmt: skip
            insert_scores(engine, rows)
            written += len(rows)
            if on_chunk is not None:
                on_chunk(int(idx[-1]) + 1, total)
    except BaseException:
        if latents.writer is not None:
            latents.writer.abort()
        raise
    if latents.writer is not None:
        latents.writer.commit()
    return written


def pool_screen(
    store: ArrayStore, refs: SurveyRefs, modalities: tuple[str, ...]
) -> ColourScreen | None:
    """The colour screen fitted to the pool, when the model reads photometry."""
    return pool_colour_screen(store, refs) if "photometry" in modalities else None


def pool_latents(
    cache: LatentCache | None, refs: SurveyRefs, model: CalibratedModel
) -> ChunkLatents:
    """How a pass uses the cache: read the pool's latents if it holds them all, else write."""
    if cache is None or len(refs) == 0:
        return ChunkLatents()
    digest = trunk_digest(model.base)
    reader = cache.reader(refs.survey_id, digest, refs.galaxy_id)
    return (
        ChunkLatents(reader=reader)
        if reader
        else ChunkLatents(writer=cache.writer(refs.survey_id, digest))
    )


def sorted_scores(session: Session, version_id: int, task_id: int) -> np.ndarray:
    """Every acquisition score version ``version_id`` stored for ``task_id``, ascending: the
    pool a queued galaxy's score is a percentile of."""
    values = session.scalars(
        select(Score.value).where(
            Score.model_version_id == version_id,
            Score.task_id == task_id,
            Score.acquisition == ACQUISITION,
        )
    )
    return np.sort(np.fromiter(values, np.float64))


def percentile_of(score: float, pool: np.ndarray) -> float | None:
    """Share of ``pool`` (ascending) scoring at most ``score``, in [0, 1]; None for no pool."""
    if len(pool) == 0:
        return None
    return float(np.searchsorted(pool, score, side="right") / len(pool))
