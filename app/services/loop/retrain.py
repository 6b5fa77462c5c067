"""One retrain round: sequential update → score the pool → activate and rebuild the queues.

The job's ``params["state"]`` records what is done (the new version's id once its row exists,
``scored`` once every score is written), so a retried job resumes instead of starting over.
The last step — activate the new version, rebuild its queues and mark the job succeeded — is
one transaction: until it commits, the previous version stays active and its queues stand.
The follow-up queue (tonight's spectroscopic targets) is planned with the new version just
before that transaction and replaced inside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.faults import crash_point
from app.services.compute import cores, use_threads_for_load
from app.services.data.arrays import survey_refs
from app.services.followup.plan import FollowupPlan, Held, plan_followup
from app.services.followup.queue import queue_entries
from app.services.loop.queues import QUEUE_SIZE, activate
from app.services.loop.rounds import ROUNDS, choose_round, labels_since, warm_floor
from app.services.loop.scoring import PoolPosterior, pool_latents, score_pool
from app.services.models.new_version import TrainResult, train
from app.services.models.versions import LoadedVersion, load_model_version, mark_failed
from bayes.config import EPOCHS, MIN_STEPS, WARM_EPOCHS
from bayes.device import resolve_device
from storage import jobs
from storage.db import session_scope
from storage.models import Galaxy, ModelVersion, Score, Spectrum, Survey
from storage.queues import replace_pending

KIND = "retrain"
Report = Callable[[float, str, dict[str, Any] | None], None]  # progress, message, new params
TRAIN_SHARE, SCORE_SHARE = 0.6, 0.35  # of the job's progress
FOLLOWUP_TASK, FOLLOWUP_HOURS = "redshift", 8.0  # the follow-up queue: a night for redshifts
# Config fields a round inherits from the version it updates (the rest are ModelConfig defaults).
INHERITED = ("fusion", "modalities", "latent_dim", "image_channels", "spectrum_patch")
INHERITED += ("spectrum_dim", "spectrum_layers", "spectrum_heads", "early_spectrum_bins")
INHERITED += ("modality_dropout", "batch_size", "lr", "seed")


def active_version(session: Session, survey: str) -> ModelVersion | None:
    """The survey's active model version, if any."""
    return session.scalar(
        select(ModelVersion)
        .join(Survey, Survey.id == ModelVersion.survey_id)
        .where(Survey.name == survey, ModelVersion.is_active.is_(True))
    )


def new_labels(session: Session, survey: str) -> int:
    """Labels of ``survey`` its active version has not seen (:func:`labels_since`)."""
    return labels_since(session, survey, active_version(session, survey))


def request_retrain(
    session: Session,
    survey: str,
    *,
    epochs: int | None = None,
    min_steps: int | None = None,
    first: dict[str, Any] | None = None,
    round: str | None = None,
    device: str | None = None,
) -> int:
    """Queue a retrain of ``survey`` (or return the one already queued or running); its job id.

    round: "heads", "full" or "auto" (default: :func:`app.services.loop.rounds.choose_round`).

    first: how to fit the survey's first model when no version is active yet (``source``
    "labels" or "truth", ``split_seed``, ``model``: ModelConfig fields such as fusion and
    modalities); the round then fits from scratch with the product's fit defaults.
    device: where the round fits and scores (default: the worker's own, ``--device``).
    """
    params: dict[str, Any] = {"survey": survey}
    if epochs is not None:
        params["epochs"] = epochs
    if min_steps is not None:
        params["min_steps"] = min_steps
    if first is not None:
        params["first"] = first
    if round is not None:
        if round not in ROUNDS:
            raise ValueError(f"round must be one of {ROUNDS}, got {round!r}")
        params["round"] = round
    if device is not None:
        params["device"] = str(resolve_device(device))
    return jobs.enqueue(session, KIND, params).id


def run_retrain(
    settings: Settings,
    job_id: int,
    worker: str,
    params: dict[str, Any],
    report: Report,
    *,
    device: str | None = None,
) -> None:
    """Carry out (or resume) retrain job ``job_id``; ``report`` records progress and state.
    device: where to fit and score, unless the job names one (``request_retrain``)."""
    device = str(resolve_device(params.get("device") or device))  # before anything is written
    engine = settings.engine()
    try:
        state = dict(params.get("state", {}))
        survey = params["survey"]

        def save(progress: float, message: str) -> None:
            report(progress, message, {**params, "state": state})

        version_id = state.get("version_id")
        if version_id is not None and not _is_ready(engine, version_id):
            mark_failed(engine, version_id)  # its fit died with the previous attempt
            state.pop("version_id")
            version_id = None
        trained = None
        if version_id is None:  # after a heads-only version was turned down: a full round
            again = {**params, "round": "full"} if state.get("heads_rejected") else params
            trained = _train(settings, engine, survey, again, state, save, device)
            version_id = trained.version_id
        decision = _decision(engine, version_id)
        if not decision["activate"] and _round(engine, version_id) == "heads":
            # Not good enough to activate: the new labels need the trunk too, so fit it now.
            state["heads_rejected"] = f"{_name(engine, version_id)}: {decision['reason']}"
            state.pop("version_id")
            full = {**params, "round": "full"}
            trained = _train(settings, engine, survey, full, state, save, device)
            version_id = trained.version_id
            decision = _decision(engine, version_id)
        with session_scope(engine) as session:
            name = session.get(ModelVersion, version_id).name
            active = active_version(session, survey)
            kept = (active.id, active.name) if active is not None else None
        # A rejected version leaves the active one in charge; its queues are re-ranked.
        target = version_id if decision["activate"] else kept and kept[0]
        if target is None:
            with session_scope(engine) as session:
                message = f"{name} not activated: {decision['reason']}; no version is active"
                jobs.finish(session, job_id, worker, message=message)
            return
        held = _hold(settings, engine, survey, target, trained)
        # A kept version scored in an earlier round is not scored again; one whose scoring
        # this job started (and a crash interrupted) is.
        fresh = target == version_id or state.get("scoring") == target
        pool = PoolPosterior()  # the round's one pool prediction, kept for the follow-up plan
        cache = settings.latents()
        if state.get("scored") != target and (fresh or not _has_scores(engine, target)):
            total = SCORE_SHARE
            state["scoring"] = target
            latents = pool_latents(cache, held.refs, held.version.model)
            cached = latents.reader is not None
            how = "heads only, from cached latents" if cached else "trunk and heads"
            state["scored_with"] = how

            began = time.monotonic()

            def scored(done: int, n: int) -> None:
                left = eta(time.monotonic() - began, done, n)
                save(TRAIN_SHARE + total * done / n,
                     f"scoring: {done}/{n} galaxies ({how}), {left}")  # fmt: skip
                crash_point("score")

            score_pool(
                engine, settings.store(), settings.home, target, on_chunk=scored, keep=pool,
                model=held.version.model, refs=held.refs, cache=cache, device=device,
                latents=latents,
            )  # fmt: skip
            state["scored"] = target
            save(TRAIN_SHARE + SCORE_SHARE, "scores written")
        save(TRAIN_SHARE + SCORE_SHARE, "planning tonight's follow-up, then the queues")
        plan = followup_plan(settings, survey, target, params, pool=pool, held=held)
        with session_scope(engine) as session:
            queued = activate(session, target, queue_size=params.get("queue_size", QUEUE_SIZE))
            if plan is not None:
                queued["follow-up"] = replace_pending(
                    session,
                    queue="followup",
                    task_id=plan.task_id,
                    model_version_id=target,
                    entries=queue_entries(plan),
                )
            crash_point("queues")
            summary = ", ".join(f"{t} {n}" for t, n in queued.items()) or "no label queue"
            if target == version_id:
                message = f"{name} active ({decision['reason']}); queued {summary}"
            else:
                message = (f"{name} not activated: {decision['reason']}; {kept[1]} stays "
                           f"active, its queues re-ranked: {summary}")  # fmt: skip
            message += f". {round_summary(state)}"
            jobs.finish(session, job_id, worker, message=message)
    finally:
        engine.dispose()


def followup_plan(
    settings: Settings,
    survey: str,
    version_id: int,
    params: dict[str, Any],
    *,
    pool: PoolPosterior | None = None,
    held: Held | None = None,
) -> FollowupPlan | None:
    """Tonight's follow-up plan under the job's budget (``followup_hours``, default 8 h), or
    None when the version predicts no redshift or no galaxy has a spectrum to learn from.
    pool: the round's scoring posterior, so the plan does not predict the pool again; held:
    the round's engine, references and loaded version."""
    engine = settings.engine() if held is None else held.engine
    try:
        with session_scope(engine) as session:
            version = session.get(ModelVersion, version_id)
            tasks = {t["name"] for t in version.config["model"]["tasks"]}
            has_spectra = session.scalar(
                select(Spectrum.id)
                .join(Galaxy, Galaxy.id == Spectrum.galaxy_id)
                .where(Galaxy.survey_id == version.survey_id)
                .limit(1)
            )
    finally:
        if held is None:
            engine.dispose()
    if FOLLOWUP_TASK not in tasks or has_spectra is None:
        return None
    hours = float(params.get("followup_hours", FOLLOWUP_HOURS))
    return plan_followup(
        settings, survey, version_id=version_id, task=FOLLOWUP_TASK, budget_hours=hours,
        pool=pool, held=held,
    )  # fmt: skip


def _hold(
    settings: Settings, engine: Engine, survey: str, version_id: int, trained: TrainResult | None
) -> Held:
    """The round's resources, read once: its survey's array references and version
    ``version_id``, in memory when this attempt fitted it, else loaded from its checkpoint.
    Galaxies ingested while the round ran are scored by the next one."""
    if trained is not None and trained.version_id == version_id:
        with session_scope(engine) as session:
            row = session.get(ModelVersion, version_id)
            split_seed = int((row.config or {}).get("split_seed", 0))
        version = LoadedVersion(version_id, trained.name, split_seed, trained.fitted.model)
        return Held(engine, trained.refs, version)
    with session_scope(engine) as session:
        refs = survey_refs(session, survey)
        version = load_model_version(settings.home, session, refs.survey_id, version_id)
    return Held(engine, refs, version)


def _train(
    settings: Settings,
    engine: Engine,
    survey: str,
    params: dict[str, Any],
    state: dict[str, Any],
    save: Callable[[float, str], None],
    device: str | None,
) -> TrainResult:
    """Fit the round's version, warm-started from the active one, on the round's engine.

    It learns from the same source as the active version (labels, or truth for a mock
    survey's demo model) unless the job names one; its step floor is :func:`warm_floor`.
    With no active version it fits the survey's first model from scratch, as the job's
    ``first`` says, with the product's fit defaults (EPOCHS, MIN_STEPS) unless the job names
    others. Torch's threads follow the machine's load (:mod:`app.services.compute`), looked
    at again after every epoch.
    """
    with session_scope(engine) as session:
        parent = active_version(session, survey)
        parent_id = parent.id if parent is not None else None
        parent_cfg = parent.config if parent is not None else {}
        choice = choose_round(session, survey, parent, params.get("round") or "auto")
    state["round"], state["round_reason"] = choice.kind, choice.reason
    first = (params.get("first") or {}) if parent is None else {}
    model_cfg = parent_cfg.get("model", first.get("model", {}))
    config = {k: _tuples(model_cfg[k]) for k in INHERITED if k in model_cfg}
    if parent is None:
        epochs = int(params.get("epochs") or EPOCHS)
        floor = int(params["min_steps"]) if params.get("min_steps") is not None else MIN_STEPS
    else:
        epochs = int(params.get("epochs") or WARM_EPOCHS)
        floor = warm_floor(model_cfg, params)
    planned = [epochs]  # raised by the step floor once the fit knows its galaxies
    threads, busy = use_threads_for_load()
    started = [time.monotonic()]

    def created(version_id: int) -> None:
        state["version_id"] = version_id
        started[0] = time.monotonic()
        what = (
            f"version {version_id} (heads only)"
            if choice.kind == "heads"
            else f"version {version_id}"
        )
        where = _threads(threads, busy) if device in (None, "cpu") else f"device {device}"
        save(0.0, f"training {what} on {where}")

    def epoch(done: int, loss: float) -> None:
        n = planned[0]
        left = eta(time.monotonic() - started[0], done + 1, n)
        save(TRAIN_SHARE * (done + 1) / n, f"training: epoch {done + 1}/{n}, {left}")
        crash_point("train")
        use_threads_for_load(samples=3)

    def plan(n: int) -> None:
        planned[0] = n

    result = train(
        settings,
        survey,
        source=params.get("source") or parent_cfg.get("source") or first.get("source", "labels"),
        split_seed=parent_cfg.get("split_seed", first.get("split_seed", 0)),
        on_epoch=epoch,
        parent_id=parent_id,
        on_created=created,
        on_plan=plan,
        epochs=epochs,
        min_steps=floor,
        engine=engine,
        heads_only=choice.trunk,
        device=device,
        encoder=first.get("encoder"),
        encoder_update=first.get("encoder_update", "warm"),
        **config,
    )
    if choice.kind == "heads" and _round(engine, result.version_id) == "full":
        state["round"] = "full"
        state["round_reason"] = "the architecture changed (a task gained labels): no trunk to keep"
    save(TRAIN_SHARE, f"trained {result.name}")
    return result


def eta(elapsed: float, done: int, total: int) -> str:
    """'ETA 1 min 20 s' for ``done`` of ``total`` steps after ``elapsed`` seconds."""
    if done <= 0 or total <= done:
        return "ETA 0 s" if total <= done else "ETA unknown"
    seconds = round(elapsed / done * (total - done))
    minutes, seconds = divmod(seconds, 60)
    return f"ETA {minutes} min {seconds} s" if minutes else f"ETA {seconds} s"


def _threads(threads: int, busy: int) -> str:
    others = f", {busy} busy with other work" if busy else ""
    return f"{threads} thread{'s' if threads > 1 else ''} ({cores()} cores{others})"


def _decision(engine: Any, version_id: int) -> dict[str, Any]:
    """The version's activation decision (``app.services.models.fit_health.Decision.to_dict``)."""
    with session_scope(engine) as session:
        metrics = session.get(ModelVersion, version_id).metrics or {}
    return metrics.get("activation") or {"activate": True, "reason": "no decision recorded"}


def round_summary(state: dict[str, Any]) -> str:
    """What the job's round did, in words: which kind and why, and how the pool was scored."""
    kind = state.get("round")
    text = {"heads": "Heads-only round", "full": "Full round"}.get(kind, "Round")
    text += f" ({state['round_reason']})" if state.get("round_reason") else ""
    if state.get("heads_rejected"):
        text = f"Heads-only round not enough ({state['heads_rejected']}); {text.lower()}"
    if state.get("scored_with"):
        text += f"; pool scored with {state['scored_with']}"
    return text


def _round(engine: Any, version_id: int) -> str:
    """ "heads" or "full": the kind of round that fitted the version."""
    with session_scope(engine) as session:
        config = session.get(ModelVersion, version_id).config or {}
    return (config.get("round") or {}).get("kind", "full")


def _name(engine: Any, version_id: int) -> str:
    with session_scope(engine) as session:
        return session.get(ModelVersion, version_id).name


def _has_scores(engine: Any, version_id: int) -> bool:
    """Whether the version's scores are written (a kept active version's are)."""
    with session_scope(engine) as session:
        return (
            session.scalar(select(Score.id).where(Score.model_version_id == version_id).limit(1))
            is not None
        )


def _is_ready(engine: Any, version_id: int) -> bool:
    with session_scope(engine) as session:
        version = session.get(ModelVersion, version_id)
        return version is not None and version.status == "ready"


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples ModelConfig expects."""
    return tuple(value) if isinstance(value, list) else value
