"""``kill -9`` of the app while it writes a label: nothing half-written, the retry counts once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, func, select

from app.services.loop import labeling
from storage.db import session_scope
from storage.models import Label, Lease, QueueItem
from tests.queue_world import queue_world

# A web-app process: lease the next galaxy, then label it; it stops at the crash point inside
# the label's transaction (after the INSERT, before the COMMIT) until it is killed.
CHILD = """
import sys
from storage.db import make_engine
from app.services.loop import labeling
engine = make_engine(sys.argv[1])
shown = labeling.next_galaxy(engine, int(sys.argv[2]), int(sys.argv[3]))
print(shown.lease_id, flush=True)
labeling.submit(engine, int(sys.argv[2]), shown.lease_id, status="answer", class_index=1,
                idempotency_key="press-1")
"""


def test_kill_9_mid_label_leaves_nothing_and_the_retry_counts_once(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    world = queue_world(engine, n=3, users=["ada"])
    (user,) = world.users
    marker = tmp_path / "reached"
    env = {**os.environ, "GALACTIVE_CRASH_POINT": "submit", "GALACTIVE_CRASH_MARKER": str(marker)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, db_url, str(user), str(world.task_id)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    lease_id = int(proc.stdout.readline())
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "never reached the crash point"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    with session_scope(engine) as session:
        assert session.scalar(select(func.count(Label.id))) == 0  # the INSERT died uncommitted
        lease = session.get(Lease, lease_id)
        assert lease.status == "open"  # still this labeler's galaxy
        assert session.get(QueueItem, lease.queue_item_id).n_labels == 0
    # The browser retries the press with the same key: the same galaxy, one label.
    again = labeling.next_galaxy(engine, user, world.task_id)
    assert again.lease_id == lease_id
    first = labeling.submit(engine, user, lease_id, status="answer", class_index=1,
                            idempotency_key="press-1")  # fmt: skip
    assert labeling.submit(engine, user, lease_id, status="answer", class_index=1,
                           idempotency_key="press-1") == first  # fmt: skip
    with session_scope(engine) as session:
        assert session.scalars(select(Label.id)).all() == [first]
        assert session.get(QueueItem, session.get(Lease, lease_id).queue_item_id).n_labels == 1
