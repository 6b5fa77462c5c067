"""Twenty labelers at once on one label queue, through the services the label page calls.

A survey of 3000 galaxy rows and a 300-item label queue (items from two model versions, with
acquisition scores, a few without). Twenty threads, each with its own engine (its own
connection pool, as twenty web servers would have), start together and run up to 30 cycles
of ``next_galaxy`` then an action, stopping early when the queue has nothing left for them:
an answer (most), unsure, a skip or a leave (about 5% together), each submission with a
fresh idempotency key; about 10% of submissions are sent twice with the same key, half as a
retry after the answer and half as a double click racing the first; about 3% of answers are
undone, and the galaxy comes back. Five labelers are admins who ask for overlap 2 (the label
page lets only admins choose), the others get overlap 1.

Afterwards, from what the threads saw and from the database: no item was held by more
labelers at once than the overlap of the lease that took it allowed, nobody was shown a
galaxy twice (except their undone one), every acknowledged submission is one label row under
its key (current, or superseded by its undo), the counts reconcile per labeler and per item,
and every label records the model version and acquisition score of its queue item.
Throughput and latency are printed, never asserted.
"""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np
import pytest
from sqlalchemy import Engine, insert, select

from app.services.loop import labeling
from storage.db import make_engine, session_scope
from storage.models import Galaxy, Ingest, Label, Lease, ModelVersion, QueueItem, Survey, Task, User

LABELERS, ADMINS = 20, 5  # admins ask for overlap 2, labelers get 1
GALAXIES, QUEUE, CYCLES = 3000, 300, 30
P_LEAVE, P_SKIP, P_UNSURE = 0.025, 0.025, 0.05
P_TWICE, P_UNDO = 0.10, 0.03
CLASSES = ["elliptical", "spiral", "edge-on disk", "merger", "irregular", "artifact"]
COMMENTS = [None] * 8 + ["two arms?", "tidal tail ✨ – 潮汐", "ring 'or' lens; 100%"]


@dataclass(frozen=True)
class Survey20:
    """The queue under load: task, labelers (user id -> overlap), and each item's provenance."""

    task_id: int
    overlaps: dict[int, int]
    items: dict[int, tuple[int, int, float | None]]  # item -> (galaxy, version, score)


def _survey(engine: Engine, seed: int) -> Survey20:
    """Galaxy rows (no images), a morphology task, two model versions and a label queue."""
    rng = np.random.default_rng(seed)
    with session_scope(engine) as session:
        survey = Survey(name="load")
        session.add(survey)
        session.flush()
        ingest = Ingest(survey_id=survey.id, kind="test", source="load")
        task = Task(survey_id=survey.id, name="morphology", kind="classification", classes=CLASSES)
        versions = [ModelVersion(survey_id=survey.id, name=f"v{k}", status="ready") for k in (1, 2)]
        users = [
            User(name=f"labeler{i:02d}", role="admin" if i < ADMINS else "labeler")
            for i in range(LABELERS)
        ]
        session.add_all([ingest, task, *versions, *users])
        session.flush()
        session.execute(
            insert(Galaxy),
            [
                {
                    "survey_id": survey.id,
                    "source_id": f"L{i:06d}",
                    "ra": float(rng.uniform(0, 360)),
                    "dec": float(rng.uniform(-10, 70)),
                    "ingest_id": ingest.id,
                }
                for i in range(GALAXIES)
            ],
        )
        ids = session.scalars(select(Galaxy.id).where(Galaxy.survey_id == survey.id)).all()
        queued = rng.choice(np.array(ids), QUEUE, replace=False)
        rows = []
        for k, galaxy in enumerate(queued):
            version = versions[k % 2]  # items a rebuild kept from v1 beside v2's
            score = None if k % 10 == 9 else float(rng.gamma(1.0, 0.1))
            rows.append(
                {
                    "queue": "label",
                    "task_id": task.id,
                    "galaxy_id": int(galaxy),
                    "model_version_id": version.id,
                    "priority": float(QUEUE - k),
                    "acquisition": "power_bald" if k % 2 else "random_control",
                    "acquisition_score": score,
                    "status": "pending",
                    "n_labels": 0,
                }
            )
        session.execute(insert(QueueItem), rows)
        items = session.execute(
            select(
                QueueItem.id,
                QueueItem.galaxy_id,
                QueueItem.model_version_id,
                QueueItem.acquisition_score,
            ).where(QueueItem.task_id == task.id)
        ).all()
        return Survey20(
            task.id,
            {u.id: 2 if u.role == "admin" else 1 for u in users},
            {r[0]: (r[1], r[2], r[3]) for r in items},
        )


@dataclass(frozen=True)
class Shown:
    """A galaxy put in front of a labeler, and when the call that leased it ran."""

    lease_id: int
    item_id: int
    galaxy_id: int
    t0: float
    t1: float
    expected_lease: int | None  # after an undo: the lease that must come back


@dataclass(frozen=True)
class Ack:
    """An acknowledged submission: ``submit`` returned ``label_id`` for ``key``."""

    key: str
    label_id: int
    lease_id: int
    galaxy_id: int
    status: str
    class_index: int | None
    comment: str | None
    supersedes: int | None  # the retraction it follows, after an undo


@dataclass
class Log:
    """What one labeler did and saw."""

    user_id: int
    overlap: int
    shown: list[Shown] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    undone: list[tuple[int, int]] = field(default_factory=list)  # (label, its retraction)
    released: dict[int, float] = field(default_factory=dict)  # lease -> start of the release
    final: dict[int, str] = field(default_factory=dict)  # lease -> status it must end in
    twins: Counter[str] = field(default_factory=Counter)
    ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


def _labeler(
    log: Log, url: str, task_id: int, seed: int, start: threading.Barrier, errors: list
) -> None:
    """Up to CYCLES label cycles as the label page runs them; failures go to ``errors``."""
    rng = random.Random(seed)
    engine = make_engine(url)
    user = log.user_id
    try:
        start.wait()
        action_started: float | None = None  # for the action-to-next-galaxy latency
        comes_back: int | None = None  # the lease an undo reopened
        retraction: int | None = None
        for _ in range(CYCLES):
            for _attempt in range(3):  # SKIP LOCKED may pass over rows others hold just now
                t0 = time.perf_counter()
                a = labeling.next_galaxy(engine, user, task_id, overlap=log.overlap)
                t1 = time.perf_counter()
                if a is not None:
                    break
                time.sleep(0.02)
            if a is None:
                return  # nothing left for this labeler
            log.ms["next_galaxy"].append(1e3 * (t1 - t0))
            if action_started is not None:
                log.ms["action to next galaxy"].append(1e3 * (t1 - action_started))
            log.shown.append(Shown(a.lease_id, a.queue_item_id, a.galaxy_id, t0, t1, comes_back))
            follows, comes_back, retraction = (retraction if comes_back else None), None, None
            r = rng.random()
            action_started = time.perf_counter()
            if r < P_LEAVE:
                labeling.leave(engine, user, a.lease_id)
                log.ms["leave"].append(1e3 * (time.perf_counter() - action_started))
                log.released[a.lease_id] = action_started
                log.final[a.lease_id] = "released"
                continue
            status = "skip" if r < P_LEAVE + P_SKIP else "answer"
            if P_LEAVE + P_SKIP <= r < P_LEAVE + P_SKIP + P_UNSURE:
                status = "unsure"
            class_index = None if status == "skip" else rng.randrange(len(CLASSES))
            if status == "unsure" and rng.random() < 0.5:
                class_index = None
            kw = {
                "status": status,
                "class_index": class_index,
                "comment": rng.choice(COMMENTS),
                "idempotency_key": uuid.uuid4().hex,
            }
            twice = rng.choice(["retry", "double click"]) if rng.random() < P_TWICE else None
            label_id = _submit(engine, user, a.lease_id, kw, double_click=twice == "double click")
            log.ms["submit"].append(1e3 * (time.perf_counter() - action_started))
            if twice == "retry":  # the answer got lost on the way back: the page sends again
                again = labeling.submit(engine, user, a.lease_id, **kw)  # type: ignore[arg-type]
                assert again == label_id, f"retry of {kw['idempotency_key']}: {again} != {label_id}"
            if twice:
                log.twins[twice] += 1
            log.acks.append(
                Ack(
                    kw["idempotency_key"],  # type: ignore[arg-type]
                    label_id,
                    a.lease_id,
                    a.galaxy_id,
                    status,
                    class_index,
                    kw["comment"],  # type: ignore[arg-type]
                    follows,
                )
            )
            if status == "skip":
                log.released[a.lease_id] = action_started
                log.final[a.lease_id] = "released"
                continue
            log.final[a.lease_id] = "submitted"
            if rng.random() < P_UNDO:  # z: the galaxy comes back, its lease open again
                retraction = labeling.undo_last(engine, user, task_id)
                assert retraction is not None
                log.undone.append((label_id, retraction))
                log.final[a.lease_id] = "open"
                comes_back = a.lease_id
    except BaseException as err:  # surfaced by the test: a thread's failure must fail it
        errors.append(err)
    finally:
        engine.dispose()


def _submit(engine: Engine, user: int, lease_id: int, kw: dict, *, double_click: bool) -> int:
    """``labeling.submit``; on a double click, the same submission twice at the same moment
    from two threads, which must both get the one label id."""
    if not double_click:
        return labeling.submit(engine, user, lease_id, **kw)
    together = threading.Barrier(2)
    got: list[int | BaseException] = []

    def press() -> None:
        try:
            together.wait()
            got.append(labeling.submit(engine, user, lease_id, **kw))
        except BaseException as err:
            got.append(err)

    twin = threading.Thread(target=press)
    twin.start()
    press()
    twin.join()
    for g in got:
        if isinstance(g, BaseException):
            raise g
    assert got[0] == got[1], f"double click on {kw['idempotency_key']}: {got}"
    return got[0]  # type: ignore[return-value]


def _percentiles(ms: list[float]) -> str:
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return f"p50 {p50:6.1f}  p95 {p95:6.1f}  p99 {p99:6.1f} ms  (n={len(ms)})"


def test_twenty_labelers_at_once(
    db_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    world = _survey(engine, seed=20)
    logs = [Log(u, ov) for u, ov in world.overlaps.items()]
    errors: list[BaseException] = []
    start = threading.Barrier(len(logs) + 1)
    threads = [
        threading.Thread(target=_labeler, args=(log, db_url, world.task_id, k, start, errors))
        for k, log in enumerate(logs)
    ]
    for t in threads:
        t.start()
    start.wait()
    t_start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start
    assert errors == [], errors

    _report(logs, wall, engine.dialect.name, capsys)
    _check_holds(logs, world)
    _check_database(logs, world, engine)


def _report(logs: list[Log], wall: float, backend: str, capsys: pytest.CaptureFixture) -> None:
    """Throughput and latency, printed past pytest's capture: measured, never asserted."""
    acks = sum(len(log.acks) for log in logs)
    twins = sum((log.twins for log in logs), Counter())
    ms: dict[str, list[float]] = defaultdict(list)
    for log in logs:
        for key, values in log.ms.items():
            ms[key] += values
    with capsys.disabled():
        print(
            f"\n[{backend}] {len(logs)} labelers, {sum(len(log.shown) for log in logs)} galaxies "
            f"shown, {acks} labels in {wall:.2f} s: {acks / wall:.0f} labels/s; "
            f"{twins['retry']} retries, {twins['double click']} double clicks, "
            f"{sum(len(log.undone) for log in logs)} undos"
        )
        for key in ("next_galaxy", "submit", "action to next galaxy"):
            print(f"[{backend}]   {key:>21}: {_percentiles(ms[key])}")


def _check_holds(logs: list[Log], world: Survey20) -> None:
    """From the threads' own clocks: no item ever held beyond the overlap of its newest lease.

    A lease certainly held its slot from the end of the ``next_galaxy`` call that made it to
    the start of the call that released it (for good, if it was submitted). When a lease was
    made, fewer than its overlap of other leases may have certainly held the item; and no more
    than the largest overlap ever certainly held it together.
    """
    spans = defaultdict(list)  # item -> (lease, overlap, made from, made by, released)
    for log in logs:
        for s in log.shown:
            if s.expected_lease is None:
                released = log.released.get(s.lease_id, math.inf)
                spans[s.item_id].append((s.lease_id, log.overlap, s.t0, s.t1, released))
    for item, leases in spans.items():
        for lease, overlap, t0, t1, _ in leases:
            holding = [m for m, _, _, m1, mr in leases if m != lease and m1 <= t0 and mr >= t1]
            assert len(holding) < overlap, f"item {item}: lease {lease} made over {holding}"
        edges = sorted([(t1, 1) for *_, t1, _ in leases] + [(r, -1) for *_, r in leases])
        held, most = 0, 0
        for _, step in edges:  # releases sort before takes at the same instant
            held += step
            most = max(most, held)
        allowed = max(overlap for _, overlap, *_ in leases)
        assert most <= allowed, f"item {item} held by {most} labelers at once (overlap {allowed})"
    assert set(spans) <= set(world.items)


def _check_database(logs: list[Log], world: Survey20, engine: Engine) -> None:
    """The rows afterwards reconcile exactly with what the labelers were told."""
    with session_scope(engine) as session:
        leases = session.execute(
            select(Lease.id, Lease.queue_item_id, Lease.user_id, Lease.status, Lease.overlap)
        ).all()
        items = {
            r.id: r
            for r in session.execute(
                select(QueueItem.id, QueueItem.galaxy_id, QueueItem.n_labels, QueueItem.status)
            )
        }
        labels = {r.id: r for r in session.scalars(select(Label))}
    by_user = {log.user_id: log for log in logs}

    # Leases: exactly those shown, each in the state its labeler left it.
    shown = {s.lease_id: (s.item_id, log.user_id) for log in logs for s in log.shown}
    assert {r.id: (r.queue_item_id, r.user_id) for r in leases} == shown
    for r in leases:
        assert (r.status, r.overlap) == (by_user[r.user_id].final[r.id], by_user[r.user_id].overlap)
    # Never twice: one lease per (item, user); a galaxy comes back only as the undone lease.
    assert len({(r.queue_item_id, r.user_id) for r in leases}) == len(leases)
    for log in logs:
        firsts = [s.galaxy_id for s in log.shown if s.expected_lease is None]
        assert len(firsts) == len(set(firsts)), f"user {log.user_id} saw a galaxy twice"
        for s in log.shown:
            assert s.expected_lease in (None, s.lease_id), f"undo of {s.expected_lease} lost"
    # Overlap, from the rows: a lease was made while fewer than its overlap were submitted
    # (lease ids on one item are in commit order: the item's row lock serialises them).
    per_item = defaultdict(list)
    for r in sorted(leases, key=lambda r: r.id):
        per_item[r.queue_item_id].append(r)
    for item, rows in per_item.items():
        for k, r in enumerate(rows):
            before = sum(1 for e in rows[:k] if e.status == "submitted")
            assert before < r.overlap, f"item {item}: lease {r.id} beyond the overlap"

    # Labels: one row per acknowledged key, nothing else but the undos' retractions.
    acks = {a.key: (log.user_id, a) for log in logs for a in log.acks}
    assert len(acks) == sum(len(log.acks) for log in logs)
    keyed = {r.idempotency_key: r for r in labels.values() if r.idempotency_key is not None}
    assert set(keyed) == set(acks)
    for key, (user, a) in acks.items():
        r = keyed[key]
        assert r.id == a.label_id
        assert (r.user_id, r.galaxy_id, r.status, r.class_index, r.comment, r.source) == (
            user,
            a.galaxy_id,
            a.status,
            a.class_index,
            a.comment,
            "expert",
        )
        assert r.supersedes_id == a.supersedes
    undone = {label: retraction for log in logs for label, retraction in log.undone}
    retractions = {r.id: r for r in labels.values() if r.idempotency_key is None}
    assert set(retractions) == set(undone.values())
    for label, retraction in undone.items():
        r = retractions[retraction]
        assert (r.status, r.supersedes_id) == ("retracted", label)
        assert (r.user_id, r.galaxy_id) == (labels[label].user_id, labels[label].galaxy_id)
    assert len(labels) == len(acks) + len(undone)
    superseded = {r.supersedes_id for r in labels.values()} - {None}
    assert superseded == set(undone) | {a.supersedes for _, a in acks.values()} - {None}
    current = [r for r in labels.values() if r.id not in superseded]

    # Provenance: every row carries its queue item's model version and acquisition score.
    item_of_galaxy = {g: (item, v, s) for item, (g, v, s) in world.items.items()}
    for r in labels.values():
        _, version, score = item_of_galaxy[r.galaxy_id]
        assert (r.task_id, r.model_version_id, r.acquisition_score) == (
            world.task_id,
            version,
            score,
        )

    # Counts per item: n_labels == submitted leases == current answers and unsure.
    submitted = Counter(r.queue_item_id for r in leases if r.status == "submitted")
    filled = Counter(
        item_of_galaxy[r.galaxy_id][0] for r in current if r.status in ("answer", "unsure")
    )
    for item, row in items.items():
        assert row.n_labels == submitted[item] == filled[item], f"item {item}"
        if item not in per_item:
            assert row.status == "pending"
        else:
            assert row.status in ("leased", "done") and (row.status != "done" or row.n_labels)
    # Counts per labeler: rows written == submissions acknowledged (+ their retractions).
    for log in logs:
        mine = [r for r in labels.values() if r.user_id == log.user_id]
        assert sum(r.idempotency_key is not None for r in mine) == len(log.acks)
        assert sum(r.status == "retracted" for r in mine) == len(log.undone)
        assert sum(r.user_id == log.user_id and r.status == "submitted" for r in leases) == sum(
            r.user_id == log.user_id and r.status in ("answer", "unsure") for r in current
        )
    assert sum(submitted.values()) > QUEUE // 2  # the run did label most of the queue
    assert any(n == 2 for n in submitted.values())  # overlap 2 happened
