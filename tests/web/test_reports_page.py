"""The reports page through ``streamlit.testing`` on SQLite and PostgreSQL: the active version's
calibration, coverage, figures and agreement, and the whole report as one HTML download."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pytest
import streamlit as st
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from app.config import Settings
from app.services.reports import uncertainty as ur
from app.services.reports.html_report import build_html
from storage.db import session_scope
from storage.models import Label, QueueItem, Task
from tests.web.markdown import shown as unescaped
from tests.web.test_pages import open_app, open_page, user_id
from tests.worker.conftest import World

PAGE = "views/reports.py"
predicted = ur.predicted  # the real one, which a test counts the calls of


@pytest.fixture(scope="module")
def site(shared_site: World) -> World:
    return shared_site


def open_reports(name: str) -> AppTest:
    return open_page(name, PAGE)


def table(chart: object) -> list[dict]:
    """The rows Streamlit moved out of a chart's spec (top-level data travels as Arrow)."""
    return pa.ipc.open_stream(chart.proto.data.data).read_all().to_pylist()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.get("metric")}


def label_controls_by_two(settings: Settings) -> int:
    """ada and bob answer the same four random-control galaxies of the active queue (they agree
    on three); the number of galaxies."""
    ada, bob = user_id(settings, "ada"), user_id(settings, "bob")
    engine = settings.engine()
    with session_scope(engine) as session:
        task = session.scalar(select(Task).where(Task.name == "morphology"))
        items = session.scalars(
            select(QueueItem)
            .where(QueueItem.queue == "label", QueueItem.acquisition == "random_control")
            .order_by(QueueItem.id)
            .limit(4)
        ).all()
        for k, item in enumerate(items):
            for user, cls in ((ada, k % 2), (bob, k % 2 if k < 3 else 5)):
                session.add(Label(task_id=task.id, galaxy_id=item.galaxy_id, source="expert",
                                  class_index=cls, user_id=user,
                                  model_version_id=item.model_version_id,
                                  acquisition_score=item.acquisition_score))  # fmt: skip
        n = len(items)
    engine.dispose()
    return n


@pytest.mark.parametrize("name", ["ada", "bob"])
def test_any_signed_in_user_sees_the_report(app_settings: Settings, name: str) -> None:
    at = open_reports(name)
    shown = metrics(at)
    assert float(shown["ECE (morphology)"]) >= 0
    assert 0 <= float(shown["68% coverage (redshift)"]) <= 1
    assert 0 <= float(shown["95% coverage (redshift)"]) <= 1
    assert shown["Labeler agreement"] == "—"
    # confusion and PIT as images; reliability, coverage at every level, learning curves and
    # the embedding map interactive, each with the report's numbers in its data
    assert len(at.get("image")) == 2
    charts = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert len(charts) == 4
    coverage = next(c for c in charts if "observed coverage" in json.dumps(c))
    levels = [r["nominal"] for layer in coverage["layer"] for r in layer["data"]["values"]
              if "task" in r]  # fmt: skip
    assert len(levels) == 2 * len(set(levels))  # every level, for redshift and sfr
    (mapped,) = [table(c) for c in at.get("vega_lite_chart") if "params" in c.proto.spec]
    assert len({r["galaxy"] for r in mapped}) == len(mapped) >= 20  # each galaxy, by its id
    assert [b.proto.label for b in at.get("download_button")] == ["Download the report (HTML)"]
    assert "mock-v2" in unescaped(" ".join(c.value for c in at.caption))
    # the rare-class view: a row per morphology class, and the rarest one in words
    (per_class,) = at.dataframe
    assert list(per_class.value["class"]) == list(ur.collect(app_settings, "mock").classes)
    assert "The rarest class is" in unescaped(" ".join(c.value for c in at.caption))


def test_agreement_and_controls_appear_once_two_labelers_answer(
    app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the model's half of the report is built once per version, not again after each label
    calls = []
    monkeypatch.setattr(ur, "predicted", lambda *a, **k: calls.append(1) or predicted(*a, **k))
    st.cache_resource.clear()
    assert "Labeler agreement" in metrics(open_reports("ada")) and len(calls) == 1
    n = label_controls_by_two(app_settings)
    assert n >= 2
    at = open_reports("ada")
    assert len(calls) == 1
    shown = metrics(at)
    assert "Labeler agreement (Cohen's κ)" in shown
    captions = unescaped(" ".join(c.value for c in at.caption))
    assert f"Agreement on {n} galaxies answered by 2 labelers" in captions
    data = ur.collect(app_settings, "mock", max_embedding=50)
    (v2,) = [p for p in data.points if p.name == "mock-v2"]
    assert v2.n_control == 2 * n and 0 <= v2.control_accuracy <= 1  # both labelers' answers


def test_anonymous_visitors_cannot_open_the_report(app_settings: Settings) -> None:
    with pytest.raises(ValueError, match=r"not a registered page|Could not find"):
        open_app().switch_page(PAGE)


def test_the_download_is_the_self_contained_html(app_settings: Settings) -> None:
    html = build_html(app_settings, "mock")
    assert html.startswith("<!DOCTYPE html>") and "mock-v2" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert html.count('src="data:image/png;base64,') == 6
    assert "redshift CDE loss" in html and "Interval coverage at every nominal level" in html
