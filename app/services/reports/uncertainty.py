"""How far to trust the active model: what the uncertainty report shows, computed once
(``ReportData``), for the reports page and ``galactive report --out FILE``.

For a survey's active version, on the validation split (the split its recalibration and stored
metrics use): the reliability diagram and ECE (classification); for every regression with
known targets the PIT histogram, coverage at every nominal level and the CDE loss
(``regression_calibration``); the confusion matrix; learning curves across model versions
against the labels each was trained on, with the prequential accuracy on random-control labels
(the galaxies each version queued uniformly at random, scored against that version's own
prediction: the unbiased reference); a t-SNE map of posterior embeddings coloured by BALD and by
predicted class; and labeler agreement (Cohen's κ for two labelers, Fleiss' κ for more).

The statistics are pure functions of arrays; ``collect`` reads the database and predicts, in
two halves that change at different rates: ``predicted`` (the model's, seconds, per version) and
``with_labels`` (the labels', milliseconds, after every label). The
PNG figures are in ``figures``, the interactive charts in ``charts``, the HTML file in
``html_report``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.services.loop.queues import CONTROL
from app.services.loop.retrain import active_version
from app.services.loop.scoring import ACQUISITION
from app.services.models.admin import VersionRow, versions
from app.services.models.training import SAMPLES, predict_rows, read_survey, rows_for
from app.services.models.versions import load_version
from app.services.reports.regression_calibration import (
    RegressionCalibration,
    regression_calibration,
)
from bayes.acquisition import scores_for
from bayes.checks import metrics as bm
from bayes.predict import Posterior
from bayes.targets import known
from storage.db import session_scope
from storage.labels import current_labels_query
from storage.models import Label, ModelVersion, QueueItem, Score, Survey, Task

ECE_BINS = 15
MAX_EMBEDDING = 2000


@dataclass(frozen=True)
class Reliability:
    """Per equal-width confidence bin (``ECE_BINS``): mean confidence, accuracy and count; and
    the ECE they add up to. Empty bins hold NaN."""

    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray
    ece: float


@dataclass(frozen=True)
class Agreement:
    """Chance-corrected agreement of labelers on galaxies with several current answers."""

    method: str  # "Cohen's κ" or "Fleiss' κ"
    kappa: float
    n_galaxies: int
    n_labelers: int
    observed: float  # raw agreement (pairs that agree)


@dataclass(frozen=True)
class VersionPoint:
    """One point of the learning curves: a version, its labels and validation metrics, and its
    prequential accuracy on the random-control labels it queued (None when it has none)."""

    name: str
    n_labels: int | None
    accuracy: float | None
    ece: float | None
    sigma_nmad: float | None
    coverage_68: float | None
    control_accuracy: float | None
    n_control: int


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, computed once."""

    survey: str
    version: str
    created: datetime
    classification_task: str | None
    classes: tuple[str, ...]
    probs: np.ndarray  # (n, C) mean class probabilities on the validation split
    labels: np.ndarray  # (n,) their classes
    regressions: tuple[RegressionCalibration, ...]  # each regression with known targets
    points: tuple[VersionPoint, ...]
    embedding: np.ndarray  # (k, 2) t-SNE of posterior embeddings
    embedding_bald: np.ndarray  # (k,)
    embedding_class: np.ndarray  # (k,) predicted class
    embedding_ids: np.ndarray  # (k,) their source ids
    agreement: Agreement | None
    target_source: str = "labels"  # "truth" or "labels": what the targets above are

    @property
    def reliability(self) -> Reliability:
        return reliability(self.probs, self.labels)

    @property
    def confusion(self) -> np.ndarray:
        return confusion_matrix(self.probs.argmax(1), self.labels, len(self.classes))


def reliability(probs: np.ndarray, y: np.ndarray, *, bins: int = ECE_BINS) -> Reliability:
    """Reliability diagram data of mean probabilities (N, C) against classes (N,), binned as
    ``bayes.checks.metrics.expected_calibration_error`` bins (so the ECEs agree)."""
    conf = probs.max(1) if len(probs) else np.zeros(0)
    correct = (probs.argmax(1) == y) if len(probs) else np.zeros(0, bool)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.bincount(which, weights=correct, minlength=bins) / count
        confidence = np.bincount(which, weights=conf, minlength=bins) / count
    ece = bm.expected_calibration_error(probs, y, bins=bins) if len(probs) else float("nan")
    return Reliability(confidence, accuracy, count.astype(int), ece)


def confusion_matrix(pred: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """(C, C) counts: row = true class, column = predicted class."""
    out = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(out, (np.asarray(y, int), np.asarray(pred, int)), 1)
    return out


def cohen_kappa(a: Sequence[int], b: Sequence[int], n_classes: int | None = None) -> float:
    """Cohen's κ of two raters' classes on the same items: (p_o - p_e) / (1 - p_e), with p_e
    from each rater's own class frequencies. 1 when both always agree on a single class."""
    a, b = np.asarray(a, int), np.asarray(b, int)
    if len(a) != len(b) or not len(a):
        raise ValueError("Cohen's kappa needs two equally long, non-empty ratings")
    c = int(max(a.max(), b.max()) + 1) if n_classes is None else n_classes
    p_o = float(np.mean(a == b))
    p_e = float(np.sum(np.bincount(a, minlength=c) * np.bincount(b, minlength=c))) / len(a) ** 2
    return 1.0 if p_e == 1.0 else (p_o - p_e) / (1.0 - p_e)


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' κ of (N items, C classes) rating counts, each item rated by n_i >= 2 raters:
    P_i = (Σ_j n_ij² - n_i) / (n_i (n_i - 1)), P̄ = mean P_i, p_j = Σ_i n_ij / Σ n_i,
    P_e = Σ p_j², κ = (P̄ - P_e) / (1 - P_e) (Fleiss 1971; n_i may vary per item)."""
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.sum(1)
    if not len(counts) or (n < 2).any():
        raise ValueError("Fleiss' kappa needs items rated by at least two raters each")
    p_i = ((counts**2).sum(1) - n) / (n * (n - 1))
    p_bar = float(p_i.mean())
    p_j = counts.sum(0) / n.sum()
    p_e = float(np.sum(p_j**2))
    return 1.0 if p_e == 1.0 else (p_bar - p_e) / (1.0 - p_e)


def agreement(answers: Sequence[tuple[int, int, int]], n_classes: int) -> Agreement | None:
    """Labeler agreement from (galaxy, user, class) current answers, on galaxies answered by two
    or more users: Cohen's κ when exactly two labelers answered any of them, else Fleiss' κ.
    None when no galaxy has two answers."""
    by_galaxy: dict[int, dict[int, int]] = defaultdict(dict)
    for galaxy, user, cls in answers:
        by_galaxy[galaxy][user] = cls
    shared = {g: u for g, u in by_galaxy.items() if len(u) >= 2}
    if not shared:
        return None
    users = sorted({u for answered in shared.values() for u in answered})
    counts = np.zeros((len(shared), n_classes), dtype=np.int64)
    agree = pairs = 0
    for row, answered in enumerate(shared.values()):
        classes = list(answered.values())
        for c in classes:
            counts[row, c] += 1
        k = len(classes)
        pairs += k * (k - 1) // 2
        agree += int(sum(m * (m - 1) // 2 for m in counts[row]))
    observed = agree / pairs
    if len(users) == 2:
        a = [answered[users[0]] for answered in shared.values()]
        b = [answered[users[1]] for answered in shared.values()]
        kappa = cohen_kappa(a, b, n_classes)
        return Agreement("Cohen's κ", kappa, len(shared), 2, observed)
    return Agreement("Fleiss' κ", fleiss_kappa(counts), len(shared), len(users), observed)


def prequential(rows: Sequence[tuple[int, int, float]]) -> dict[int, tuple[float, int]]:
    """{version id: (accuracy, n)} from (version id, labelled class, predicted class) rows."""
    hits: dict[int, list[bool]] = defaultdict(list)
    for version_id, cls, predicted in rows:
        hits[version_id].append(round(predicted) == int(cls))
    return {v: (float(np.mean(h)), len(h)) for v, h in hits.items()}


def control_rows(session: Session, task_id: int) -> list[tuple[int, int, float]]:
    """(version, labelled class, that version's predicted class) for every current expert answer
    on a galaxy the labelling version queued as a random control."""
    label = (
        current_labels_query(task_id)
        .where(Label.status == "answer", Label.model_version_id.is_not(None))
        .subquery()
    )
    rows = session.execute(
        select(label.c.model_version_id, label.c.class_index, Score.mean)
        .join(
            QueueItem,
            (QueueItem.galaxy_id == label.c.galaxy_id)
            & (QueueItem.task_id == task_id)
            & (QueueItem.queue == "label")
            & (QueueItem.acquisition == CONTROL)
            & (QueueItem.model_version_id == label.c.model_version_id),
        )
        .join(
            Score,
            (Score.galaxy_id == label.c.galaxy_id)
            & (Score.task_id == task_id)
            & (Score.model_version_id == label.c.model_version_id)
            & (Score.acquisition == ACQUISITION),
        )
        .where(label.c.class_index.is_not(None), Score.mean.is_not(None))
    ).all()
    return [(int(v), int(c), float(m)) for v, c, m in rows]


def learning_points(
    rows: Sequence[VersionRow], controls: dict[int, tuple[float, int]]
) -> tuple[VersionPoint, ...]:
    """Ready versions, oldest first, as learning-curve points."""
    ready = sorted((r for r in rows if r.status == "ready"), key=lambda r: r.id)
    return tuple(
        VersionPoint(
            r.name, r.n_labels, r.accuracy, r.ece, r.sigma_nmad, r.coverage_68,
            *controls.get(r.id, (None, 0)),
        )
        for r in ready
    )  # fmt: skip


def tsne(embedding: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """A 2-D t-SNE map (k, 2) of posterior embeddings (k, D) (perplexity capped for small k)."""
    from sklearn.manifold import TSNE

    k = len(embedding)
    if k < 3:
        return np.zeros((k, 2))
    perplexity = float(min(30.0, (k - 1) / 3))
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(embedding)


def _slice(posterior: Posterior, pos: np.ndarray) -> Posterior:
    """The posterior of the galaxies at positions ``pos``."""
    return Posterior(
        {k: v[pos] for k, v in posterior.probs.items()},
        {k: v[pos] for k, v in posterior.draws.items()},
        {k: v[pos] for k, v in posterior.loc.items()},
        {k: v[pos] for k, v in posterior.scale.items()},
        posterior.embedding[pos],
    )


def collect(
    settings: Settings,
    survey: str,
    *,
    version_id: int | None = None,
    max_embedding: int = MAX_EMBEDDING,
    seed: int = 0,
) -> ReportData:
    """The whole report of ``survey``'s active version (or ``version_id``): :func:`predicted`
    with :func:`with_labels`; ValueError without a version."""
    model = predicted(
        settings, survey, version_id=version_id, max_embedding=max_embedding, seed=seed
    )
    return with_labels(settings, model)


def predicted(
    settings: Settings,
    survey: str,
    *,
    version_id: int | None = None,
    max_embedding: int = MAX_EMBEDDING,
    seed: int = 0,
) -> ReportData:
    """The model's half of the report: the validation split and an embedding sample predicted
    under the version and mapped (seconds: the t-SNE); no learning curves or agreement yet,
    which change with every label while this changes only with the version."""
    engine = settings.engine()
    try:
        with session_scope(engine) as session:
            version = (
                active_version(session, survey)
                if version_id is None
                else session.get(ModelVersion, version_id)
            )
            if version is None or version.status != "ready" or not version.checkpoint:
                raise ValueError(f"survey {survey!r} has no ready model version to report on")
            name, checkpoint, config = version.name, version.checkpoint, version.config or {}
        model = load_version(settings.home, checkpoint)
        source = config.get("source", "labels")
        data = read_survey(
            engine, survey, source=source,
            split_seed=int(config.get("split_seed", 0)),
        )  # fmt: skip
    finally:
        engine.dispose()
    cls_task = next((t for t in model.config.tasks if t.is_classification), None)
    val = rows_for(data, "validation", model.config)
    usable = np.zeros(len(data.refs), bool)
    for m in model.config.modalities:
        usable |= getattr(data.refs, m).present
    pool = np.flatnonzero(usable)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(pool, min(max_embedding, len(pool)), replace=False))
    idx = np.union1d(val, sample)
    posterior = predict_rows(model, settings.store(), data.refs, idx,
                             samples=SAMPLES, seed=seed)  # fmt: skip
    at_val = _slice(posterior, np.searchsorted(idx, val))
    at_sample = _slice(posterior, np.searchsorted(idx, sample))
    probs, labels, classes = np.zeros((0, 0)), np.zeros(0, int), ()
    bald, predicted_class = np.zeros(len(sample)), np.zeros(len(sample), int)
    if cls_task is not None:
        y = data.targets.values[cls_task.name][val]
        ok = known(cls_task, y)
        probs = at_val.probs[cls_task.name][ok].mean(1)
        labels = y[ok].astype(int)
        classes = tuple(cls_task.classes)
        bald = scores_for("bald", probs=at_sample.probs[cls_task.name])
        predicted_class = at_sample.probs[cls_task.name].mean(1).argmax(1)
    regressions = tuple(
        r for t in model.config.tasks
        if (r := regression_calibration(t, at_val, data.targets.values[t.name][val]))
        is not None
    )  # fmt: skip
    return ReportData(
        survey=survey,
        version=name,
        created=datetime.now(UTC),
        classification_task=cls_task.name if cls_task is not None else None,
        classes=classes,
        probs=probs,
        labels=labels,
        regressions=regressions,
        points=(),
        embedding=tsne(at_sample.embedding, seed=seed),
        embedding_bald=bald,
        embedding_class=predicted_class,
        embedding_ids=np.asarray(data.refs.source_id)[sample],
        agreement=None,
        target_source=source,
    )


def with_labels(settings: Settings, data: ReportData) -> ReportData:
    """``data`` with the labels' half read from the database (milliseconds): the versions'
    learning curves, the prequential accuracy on random-control labels, labeler agreement."""
    engine = settings.engine()
    try:
        with session_scope(engine) as session:
            history = versions(session, data.survey)
            controls: dict[int, tuple[float, int]] = {}
            answers: list[tuple[int, int, int]] = []
            if data.classification_task is not None:
                task_id = session.scalars(
                    select(Task.id)
                    .join(Survey, Survey.id == Task.survey_id)
                    .where(Survey.name == data.survey, Task.name == data.classification_task)
                ).one()
                controls = prequential(control_rows(session, task_id))
                answers = [
                    (int(g), int(u), int(c))
                    for g, u, c in session.execute(
                        current_labels_query(task_id)
                        .with_only_columns(Label.galaxy_id, Label.user_id, Label.class_index)
                        .where(Label.status == "answer", Label.user_id.is_not(None),
                               Label.class_index.is_not(None))
                    )
                ]  # fmt: skip
    finally:
        engine.dispose()
    return replace(
        data,
        points=learning_points(history, controls),
        agreement=agreement(answers, len(data.classes)) if data.classes else None,
    )
