"""The models page through ``streamlit.testing`` on SQLite and PostgreSQL: the versions table,
retrain (one job, its progress, the rebuilt queue), activation with confirmation, and a
labeler who sees but cannot act."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from app.config import Settings
from app.services.models import admin as model_admin
from app.web import model_flow
from app.web.label_flow import HELD
from app.worker import WorkerOptions, run_worker
from storage.models import Galaxy, Job, Lease, ModelVersion, QueueItem
from tests.web.markdown import shown
from tests.web.test_pages import open_app, open_page, rows, user_id
from tests.worker.conftest import World

PAGE = "views/models.py"


@pytest.fixture(scope="module")
def site(shared_site: World) -> World:
    return shared_site


def open_models(name: str) -> AppTest:
    return open_page(name, PAGE)


def texts(at: AppTest) -> str:
    parts = [m.value for kind in ("markdown", "caption", "info", "warning", "success", "error")
             for m in at.get(kind)]  # fmt: skip
    return shown(" ".join(str(p) for p in parts))


def retrain_jobs(settings: Settings) -> list:
    return rows(settings, select(Job.id, Job.status).where(Job.kind == "retrain").order_by(Job.id))


def active(settings: Settings) -> str:
    return rows(settings, select(ModelVersion.name).where(ModelVersion.is_active))[0][0]


def test_admin_sees_versions_metrics_and_the_queue_top(app_settings: Settings) -> None:
    at = open_models("ada")
    versions, queue = at.dataframe
    table = versions.value
    assert list(table["version"]) == ["mock-v2", "mock-v1"]
    assert list(table["active"]) == ["●", ""]
    assert table["accuracy"].notna().all() and table["σ_NMAD"].notna().all()
    assert list(table["parent"]) == ["mock-v1", ""]
    # the retrain round saw no new labels, so it kept mock-v1's trunk; mock-v1 was a full fit
    assert list(table["fit"]) == ["heads only", "full"]
    top = queue.value
    pending = rows(app_settings, select(QueueItem.id).where(QueueItem.queue == "label"))
    assert len(top) == min(10, len(pending))  # the page shows the queue's first ten
    assert list(top["rank"]) == list(range(1, len(top) + 1))
    assert set(top["model version"]) == {"mock-v2"}  # (ada holds one: signing in leased it)
    assert set(top["acquisition"]) <= {"power_bald", "random_control"}
    assert {"Retrain now", "Activate mock-v1…"} <= {shown(b.label) for b in at.button}
    assert "Retrain job 1 finished" in texts(at)


def test_retrain_queues_one_job_and_says_no_worker_has_it(app_settings: Settings) -> None:
    at = open_models("ada")
    before = retrain_jobs(app_settings)
    at.button(key="retrain_now").click().run()
    at.button(key="retrain_now").click().run()  # a second press returns the queued job
    assert not at.exception
    after = retrain_jobs(app_settings)
    assert len(after) == len(before) + 1 and after[-1].status == "queued"
    shown = texts(at)
    assert f"Retrain job {after[-1].id} queued for mock" in shown
    assert "no worker has picked it up yet" in shown
    (bar,) = at.get("progress")
    assert bar.value == 0


def test_after_the_worker_runs_the_queue_is_rebuilt_by_the_new_version(
    app_settings: Settings,
) -> None:
    at = open_models("ada")
    at.button(key="retrain_now").click().run()
    assert run_worker(app_settings, WorkerOptions(once=True)) == 1
    at.run()
    assert not at.exception
    assert active(app_settings) == "mock-v3"
    versions, queue = at.dataframe
    assert versions.value["version"].iloc[0] == "mock-v3"
    top = queue.value
    assert set(top[top["status"] == "waiting"]["model version"]) == {"mock-v3"}
    # ada's holds (signing in leased her the galaxies her deck draws) are the only ones held
    held_by_ada = {
        r[0]
        for r in rows(
            app_settings,
            select(Galaxy.source_id)
            .join(QueueItem, QueueItem.galaxy_id == Galaxy.id)
            .join(Lease, Lease.queue_item_id == QueueItem.id)
            .where(Lease.user_id == user_id(app_settings, "ada"), Lease.status == "open"),
        )
    }
    assert len(held_by_ada) == HELD
    assert set(top[top["status"] == "held by a labeler"]["galaxy"]) == held_by_ada & set(
        top["galaxy"]
    )
    assert "finished" in texts(at) and "mock-v3 active" in texts(at)


def pending_versions(settings: Settings) -> list[str]:
    return [
        r[0]
        for r in rows(
            settings,
            select(ModelVersion.name)
            .join(QueueItem, QueueItem.model_version_id == ModelVersion.id)
            .where(QueueItem.queue == "label", QueueItem.status == "pending")
            .distinct(),
        )
    ]


def test_activate_asks_first_then_rolls_back_and_rebuilds_the_queue(
    app_settings: Settings,
) -> None:
    at = open_models("ada")
    at.button(key="retrain_now").click().run()
    assert run_worker(app_settings, WorkerOptions(once=True)) == 1
    at.run()
    assert active(app_settings) == "mock-v3" and pending_versions(app_settings) == ["mock-v3"]
    at.selectbox(key="activate_choice").select_index(0).run()  # mock-v2, newest first
    at.button(key="activate").click().run()
    assert active(app_settings) == "mock-v3"  # nothing happens before the confirmation
    assert "Make mock-v2 the active version?" in texts(at)
    at.button(key="activate_confirm").click().run()
    assert not at.exception
    assert active(app_settings) == "mock-v2" and pending_versions(app_settings) == ["mock-v2"]
    assert "mock-v2 is now active; label queue rebuilt (morphology" in texts(at)


def test_activating_an_unscored_version_says_the_queue_stays(app_settings: Settings) -> None:
    at = open_models("ada")
    at.button(key="activate").click().run()
    at.button(key="activate_confirm").click().run()
    assert active(app_settings) == "mock-v1" and pending_versions(app_settings) == ["mock-v2"]
    assert "has no stored scores" in texts(at)


def test_cancel_leaves_the_active_version(app_settings: Settings) -> None:
    at = open_models("ada")
    at.button(key="activate").click().run()
    at.button(key="activate_cancel").click().run()
    assert active(app_settings) == "mock-v2" and not at.warning


def test_a_labeler_sees_the_models_but_cannot_act(app_settings: Settings) -> None:
    at = open_models("bob")
    assert len(at.dataframe) == 2
    assert not {"retrain_now", "activate", "activate_confirm"} & {b.key for b in at.button}
    assert "Only an admin can retrain or activate" in texts(at)
    engine = app_settings.engine()
    bob = user_id(app_settings, "bob")
    with pytest.raises(PermissionError):
        model_admin.retrain_as(engine, bob, "mock")
    with pytest.raises(PermissionError):
        model_admin.activate_as(engine, bob, 1)
    state: dict = {}
    model_flow.retrain(state, engine, bob, "mock")  # a forged click is refused, not run
    assert state[model_flow.FLASH_KEY][0] == "error"
    engine.dispose()
    assert len(retrain_jobs(app_settings)) == 1 and active(app_settings) == "mock-v2"


def test_an_anonymous_visitor_cannot_open_the_page(app_settings: Settings) -> None:
    at = open_app()
    with pytest.raises(ValueError, match=r"not a registered page|Could not find"):
        at.switch_page(PAGE)
