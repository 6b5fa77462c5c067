"""Tonight's spectroscopic targets: expected redshift information per telescope hour, budgeted.

For galaxies without a spectrum, the current (image / photometry) posterior gives the variance
of log(1+z) now; galaxies that have spectra, predicted with and without them, say what a
spectrum brings to a similar galaxy (``bayes.followup.neighbour_variance``); the exposure comes
from the r magnitude (``bayes.followup.SNModel``). A greedy fill by gain per hour under the
budget gives the plan (``app.services.followup.queue`` makes it the pending follow-up queue);
for a night at a site, only the galaxies that rise high enough in it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.services.data.arrays import ModalityRefs, SurveyRefs, stream_arrays, survey_refs
from app.services.followup.night import LOW_DEG, Night, visibility
from app.services.loop.scoring import PoolPosterior
from app.services.models.training import SAMPLES
from app.services.models.versions import LoadedVersion, load_model_version
from bayes.data import GalaxyArrays
from bayes.followup import (
    SNModel,
    expected_gain,
    gain_per_hour,
    greedy_fill,
    neighbour_variance,
    posterior_variance,
)
from bayes.predict import Posterior
from storage.arrays import ArrayStore
from storage.db import session_scope
from storage.models import Galaxy, QueueItem, Task

ACQUISITION = "followup_eig"
BAND = "r"  # the band SNModel is calibrated in
Progress = Callable[[int], None]  # advanced by the number of galaxies just predicted


@dataclass(frozen=True)
class FollowupPlan:
    """The chosen targets in observing order (arrays (n,)), and what they were chosen from.

    priority: n for the first target down to 1 (higher first, as the queue serves);
    expected_gain: nats about the task (log(1+z) for redshift); gain_per_hour: nats per hour of
    exposure + overhead. n_candidates: galaxies without a spectrum that were ranked;
    n_excluded: of those, too faint or with no r magnitude; n_no_gain: of the rest, those a
    spectrum is not expected to teach anything (never planned). With a night: its dark hours,
    each target's best airmass and hours above LOW_DEG in it, and n_below: candidates left out
    because they never rise above LOW_DEG that night.
    """

    survey: str
    task: str
    task_id: int
    model_version_id: int
    model_version: str
    sn_model: SNModel
    budget_hours: float | None
    budget_fibers: int | None
    galaxy_id: np.ndarray
    source_id: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    mag: np.ndarray
    exposure_s: np.ndarray
    priority: np.ndarray
    expected_gain: np.ndarray
    gain_per_hour: np.ndarray
    n_candidates: int
    n_excluded: int
    n_no_gain: int
    night: Night | None = None
    best_airmass: np.ndarray | None = None
    hours_up: np.ndarray | None = None
    n_below: int = 0

    def __len__(self) -> int:
        return len(self.galaxy_id)

    @property
    def hours(self) -> float:
        """Telescope hours the plan spends: exposures plus per-target overhead."""
        return float((self.exposure_s.sum() + len(self) * self.sn_model.overhead_s) / 3600.0)

    def night_summary(self) -> str:
        """The night, how many targets rise above LOW_DEG in it and how many galaxies were
        left out for never doing so ("" for a plan made without a night)."""
        if self.night is None or self.hours_up is None:
            return ""
        up = int((self.hours_up > 0).sum())
        never = f"; {len(self) - up} never do" if up < len(self) else ""
        left = (
            f" {self.n_below} galaxies that never rise above {LOW_DEG:g}° that night were not "
            "planned."
            if self.n_below
            else ""
        )
        return (
            f"{self.night.describe()}. {up} of {len(self)} targets rise above {LOW_DEG:g}° "
            f"(airmass below 2) in it{never}.{left}"
        )


@dataclass(frozen=True)
class GalaxyColumns:
    """Positions and r magnitudes (NaN when unknown) of a survey's galaxies, in refs order."""

    ra: np.ndarray
    dec: np.ndarray
    mag: np.ndarray


@dataclass(frozen=True)
class GainReference:
    """Galaxies with spectra as the gain estimator sees them: embedding (n, D), r magnitude and
    posterior variance (n,) with the spectrum hidden, and the variance they reach with it."""

    embedding: np.ndarray
    mag: np.ndarray
    var_without: np.ndarray
    var_with: np.ndarray

    def subset(self, idx: np.ndarray) -> GainReference:
        """The reference galaxies at positions ``idx``."""
        return GainReference(
            self.embedding[idx], self.mag[idx], self.var_without[idx], self.var_with[idx]
        )

    def var_with_for(
        self, embedding: np.ndarray, mag: np.ndarray, *, k: int, magnitude_weight: float
    ) -> np.ndarray:
        """Predicted post-spectrum variance (n,) of galaxies with ``embedding`` and ``mag``."""
        return neighbour_variance(
            embedding,
            mag,
            self.embedding,
            self.mag,
            self.var_with,
            k=min(k, len(self.var_with)),
            magnitude_weight=magnitude_weight,
        )


def task_id(session: Session, survey_id: int, task: str) -> int:
    """The id of regression task ``task`` of the survey; ValueError naming it otherwise."""
    found = session.scalar(
        select(Task.id).where(
            Task.survey_id == survey_id, Task.name == task, Task.kind == "regression"
        )
    )
    if found is None:
        raise ValueError(f"task {task!r}: the survey has no regression task of that name")
    return found


def galaxy_columns(session: Session, refs: SurveyRefs) -> GalaxyColumns:
    """ra, dec and r magnitude of ``refs``' galaxies: ``ref_mag`` when its band is r, else the
    r entry of ``magnitudes``, else NaN (such galaxies cannot be costed and are excluded)."""
    rows = session.execute(
        select(Galaxy.id, Galaxy.ra, Galaxy.dec, Galaxy.ref_mag, Galaxy.ref_band, Galaxy.magnitudes)
        .where(Galaxy.survey_id == refs.survey_id)
        .order_by(Galaxy.id)
    ).all()
    if [r[0] for r in rows] != refs.galaxy_id.tolist():
        raise ValueError("the survey's galaxies changed while planning; run again")
    mag = np.full(len(rows), np.nan)
    for i, (_, _, _, ref_mag, ref_band, mags) in enumerate(rows):
        value = ref_mag if ref_band == BAND else (mags or {}).get(BAND)
        if value is not None:
            mag[i] = value
    ra = np.array([r[1] for r in rows], dtype=np.float64)
    dec = np.array([r[2] for r in rows], dtype=np.float64)
    return GalaxyColumns(ra, dec, mag)


@dataclass(frozen=True)
class Held:
    """What a retrain round holds once and lends the planner: its engine, its survey's array
    references and its loaded version."""

    engine: Engine
    refs: SurveyRefs
    version: LoadedVersion


@dataclass(frozen=True)
class PlanningInputs:
    """What planning reads from the database: the survey's galaxies, the task, the model
    version, and the galaxies the follow-up queue already holds beyond ``pending``."""

    refs: SurveyRefs
    task_id: int
    version: LoadedVersion
    columns: GalaxyColumns
    busy: np.ndarray


def planning_inputs(
    settings: Settings,
    survey: str,
    task: str,
    version_id: int | None,
    *,
    held: Held | None = None,
) -> PlanningInputs:
    """Read everything a plan or its evaluation needs, in one session; ``held``: what the
    caller (a retrain round) holds already, used instead of a new engine, refs or load."""
    engine = settings.engine() if held is None else held.engine
    try:
        with session_scope(engine) as session:
            refs = survey_refs(session, survey) if held is None else held.refs
            tid = task_id(session, refs.survey_id, task)
            if held is None:
                version = load_model_version(settings.home, session, refs.survey_id, version_id)
            else:
                version = held.version
            cols = galaxy_columns(session, refs)
            busy = session.scalars(
                select(QueueItem.galaxy_id).where(
                    QueueItem.queue == "followup",
                    QueueItem.task_id == tid,
                    QueueItem.status != "pending",
                )
            ).all()
    finally:
        if held is None:
            engine.dispose()
    if task not in {t.name for t in version.model.config.tasks}:
        raise ValueError(f"task {task!r}: model version {version.name} does not predict it")
    return PlanningInputs(refs, tid, version, cols, np.array(busy, dtype=np.int64))


def without_spectra(refs: SurveyRefs) -> SurveyRefs:
    """``refs`` with every spectrum marked absent, so predictions see images and photometry only."""
    s = refs.spectrum
    hidden = ModalityRefs(s.sources, np.full_like(s.source, -1), s.start, s.length)
    return dataclasses.replace(refs, spectrum=hidden)


def predict(
    version: LoadedVersion,
    store: ArrayStore,
    refs: SurveyRefs,
    idx: np.ndarray,
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> Posterior:
    """``training.predict_rows`` that also advances ``progress`` after every batch."""

    def batches() -> Iterator[GalaxyArrays]:
        for batch in stream_arrays(store, refs, idx, batch_size=512, network=True):
            yield batch
            if progress is not None:
                progress(len(batch))

    return version.model.predict(batches(), samples=SAMPLES, seed=seed)


def gain_reference(
    version: LoadedVersion,
    store: ArrayStore,
    refs: SurveyRefs,
    idx: np.ndarray,
    mag: np.ndarray,
    task: str,
    *,
    progress: Progress | None = None,
) -> GainReference:
    """Predict galaxies ``idx`` (with spectra; ``mag`` their r magnitudes) with and without them."""
    hidden = predict(version, store, without_spectra(refs), idx, progress=progress)
    shown = predict(version, store, refs, idx, progress=progress)
    return GainReference(
        hidden.embedding,
        mag,
        posterior_variance(hidden.loc[task], hidden.scale[task]),
        posterior_variance(shown.loc[task], shown.scale[task]),
    )


def plan_followup(
    settings: Settings,
    survey: str,
    *,
    version_id: int | None = None,
    task: str = "redshift",
    sn_model: SNModel | None = None,
    budget_hours: float | None = None,
    budget_fibers: int | None = None,
    k: int = 16,
    magnitude_weight: float = 1.0,
    max_reference: int = 5000,
    seed: int = 0,
    progress: Progress | None = None,
    pool: PoolPosterior | None = None,
    held: Held | None = None,
    tonight: Night | None = None,
    above_only: bool = True,
) -> FollowupPlan:
    """Rank ``survey``'s galaxies without spectra by expected gain per hour; fill the budget.

    Galaxies already observed, done or leased in the follow-up queue are left out. At most
    ``max_reference`` galaxies with spectra (drawn with ``seed``) estimate what a spectrum
    gives; k and magnitude_weight tune that estimate (bayes.followup.neighbour_variance).
    pool: the scoring pass's posterior of this version (a retrain round's), used instead of
    predicting the candidates again when it covers the survey. held: the round's engine,
    references and loaded version (:class:`Held`). tonight: the night to observe in; each
    target's airmass and hours up in it are kept, and with ``above_only`` the galaxies that
    never rise above LOW_DEG in it are not planned.
    """
    sn = sn_model or SNModel()
    inputs = planning_inputs(settings, survey, task, version_id, held=held)
    refs, cols, version = inputs.refs, inputs.columns, inputs.version
    has_spec = refs.spectrum.present
    usable = np.zeros(len(refs), bool)
    for name in set(version.model.config.modalities) - {"spectrum"}:
        usable |= getattr(refs, name).present
    candidates = np.flatnonzero(~has_spec & usable & ~np.isin(refs.galaxy_id, inputs.busy))
    reference = np.flatnonzero(has_spec & np.isfinite(cols.mag))
    if len(reference) == 0:
        raise ValueError(f"survey {survey!r} has no galaxy with a spectrum to learn the gain from")
    if len(reference) > max_reference:
        rng = np.random.default_rng(seed)
        reference = np.sort(rng.choice(reference, max_reference, replace=False))
    store = settings.store()
    ref = gain_reference(
        version, store, refs, reference, cols.mag[reference], task, progress=progress
    )
    cost = sn.cost_s(cols.mag[candidates])
    priced = np.isfinite(cost)
    ok = priced.copy()
    seen, n_below = None, 0
    if tonight is not None:
        seen = visibility(cols.ra[candidates], cols.dec[candidates], tonight)
        below = ok & (seen.hours_up <= 0) if above_only else np.zeros(len(ok), bool)
        n_below, ok = int(below.sum()), ok & ~below
    costed = candidates[ok]
    gain = np.zeros(len(costed))
    if len(costed):
        if pool is not None and pool.covers(refs.galaxy_id, task):
            var_without, latent = pool.variance[task][costed], pool.embedding[costed]
        else:
            post = predict(version, store, refs, costed, progress=progress)
            var_without = posterior_variance(post.loc[task], post.scale[task])
            latent = post.embedding
        var_with = ref.var_with_for(
            latent, cols.mag[costed], k=k, magnitude_weight=magnitude_weight
        )
        gain = expected_gain(var_without, var_with)
    chosen = greedy_fill(gain, cost[ok], budget_hours=budget_hours, budget_fibers=budget_fibers)
    rows = costed[chosen]
    return FollowupPlan(
        survey=survey,
        task=task,
        task_id=inputs.task_id,
        model_version_id=version.id,
        model_version=version.name,
        sn_model=sn,
        budget_hours=budget_hours,
        budget_fibers=budget_fibers,
        galaxy_id=refs.galaxy_id[rows],
        source_id=refs.source_id[rows].astype(str),
        ra=cols.ra[rows],
        dec=cols.dec[rows],
        mag=cols.mag[rows],
        exposure_s=sn.exposure_s(cols.mag[rows]),
        priority=np.arange(len(rows), 0, -1, dtype=np.float64),
        expected_gain=gain[chosen],
        gain_per_hour=gain_per_hour(gain[chosen], cost[ok][chosen]),
        n_candidates=len(candidates),
        n_excluded=int((~priced).sum()),
        n_no_gain=int((gain <= 0).sum()),
        night=tonight,
        best_airmass=seen.best_airmass[ok][chosen] if seen is not None else None,
        hours_up=seen.hours_up[ok][chosen] if seen is not None else None,
        n_below=n_below,
    )
