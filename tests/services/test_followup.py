"""Follow-up planning on a tiny mock survey (SQLite and PostgreSQL), the queue, and exports."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import torch
from astropy.table import Table
from sqlalchemy import select, update
from typer.testing import CliRunner

from app.cli import app
from app.config import Settings
from app.mock.survey import generate_survey
from app.services.followup.export import format_for, targets_table, write_targets
from app.services.followup.night import LOW_DEG, SITES, night
from app.services.followup.plan import FollowupPlan, plan_followup
from app.services.followup.queue import save_queue
from app.services.loop.scoring import PoolPosterior, score_pool
from app.services.models.new_version import train
from bayes.followup import SNModel
from research.cli import app as research
from storage.db import session_scope
from storage.ingest.records import Bundle
from storage.ingest.writer import ingest
from storage.models import ModelVersion, QueueItem
from storage.queues import pending_items

N = 60
runner = CliRunner()


@pytest.fixture(scope="module")
def bundles() -> list[Bundle]:
    """A 60-galaxy mock survey, half with spectra, generated once for both databases."""
    return list(generate_survey(N, seed=5, spectra_fraction=0.5))


@pytest.fixture
def settings(db_url: str, tmp_path: Path, bundles: list[Bundle]) -> Settings:
    """The survey ingested into this backend's database and a model trained on it.

    30 epochs (~60 steps on ~40 galaxies): with 8 or fewer the model has not yet learnt that a
    spectrum narrows the redshift posterior, and no galaxy has an expected gain to plan.
    """
    torch.set_num_threads(1)
    resolved = Settings(home=tmp_path / "home", db_url=db_url)
    engine = resolved.engine()
    ingest(engine, resolved.store(), "mock", bundles, kind="mock", source="test")
    engine.dispose()
    train(resolved, "mock", epochs=30, min_steps=0)
    return resolved


def _spectra_of(plan: FollowupPlan, bundles: list[Bundle]) -> set[str]:
    with_spectra = {s.source_id for b in bundles for s in b.spectra}
    return with_spectra & set(plan.source_id.tolist())


def test_plan_fills_the_budget_and_becomes_the_followup_queue(
    settings: Settings, bundles: list[Bundle]
) -> None:
    sn = SNModel(snr_target=8.0)
    everything = plan_followup(settings, "mock", sn_model=sn, k=4)
    assert everything.n_candidates == N - sum(len(b.spectra) for b in bundles)
    assert len(everything) > 3, "the tiny model should expect some gain from a spectrum"
    budget = 0.5 * everything.hours
    plan = plan_followup(settings, "mock", sn_model=sn, k=4, budget_hours=budget)
    assert 0 < len(plan) < len(everything) and plan.hours <= budget + 1e-9
    assert not _spectra_of(plan, bundles)  # only galaxies without spectra are planned
    np.testing.assert_array_equal(plan.priority, np.arange(len(plan), 0, -1))
    assert np.all(np.diff(plan.gain_per_hour) <= 0) and np.all(plan.expected_gain > 0)
    np.testing.assert_allclose(plan.exposure_s, sn.exposure_s(plan.mag))
    hours = (plan.exposure_s + sn.overhead_s) / 3600.0
    np.testing.assert_allclose(plan.gain_per_hour, plan.expected_gain / hours)

    engine = settings.engine()
    try:
        assert save_queue(engine, plan) == len(plan)
        with session_scope(engine) as session:
            items = pending_items(session, queue="followup", task_id=plan.task_id)
            got = [(i.galaxy_id, i.acquisition, i.model_version_id) for i in items]
            assert got == [(int(g), "followup_eig", plan.model_version_id) for g in plan.galaxy_id]
            np.testing.assert_allclose([i.exposure_s for i in items], plan.exposure_s)
            np.testing.assert_allclose([i.expected_gain for i in items], plan.expected_gain)
            np.testing.assert_allclose([i.acquisition_score for i in items], plan.gain_per_hour)
            # The first target is observed tonight: it leaves the pending queue for good.
            session.execute(
                update(QueueItem).where(QueueItem.id == items[0].id).values(status="observed")
            )
        fibers = plan_followup(settings, "mock", sn_model=sn, k=4, budget_fibers=2)
        assert len(fibers) == 2 and plan.galaxy_id[0] not in fibers.galaxy_id
        assert fibers.n_candidates == everything.n_candidates - 1
        assert save_queue(engine, fibers) == 2
        with session_scope(engine) as session:
            items = pending_items(session, queue="followup", task_id=plan.task_id)
            assert [i.galaxy_id for i in items] == fibers.galaxy_id.tolist()
    finally:
        engine.dispose()


def test_the_scoring_pass_posterior_gives_the_same_plan(settings: Settings) -> None:
    engine = settings.engine()
    try:
        with session_scope(engine) as session:
            version_id = session.scalar(select(ModelVersion.id).where(ModelVersion.is_active))
        pool = PoolPosterior()
        score_pool(engine, settings.store(), settings.home, version_id, chunk=16, keep=pool)
    finally:
        engine.dispose()
    sn = SNModel(snr_target=8.0)
    predicted = plan_followup(settings, "mock", sn_model=sn, k=4)
    reused = plan_followup(settings, "mock", sn_model=sn, k=4, pool=pool)
    assert len(predicted) > 3
    np.testing.assert_array_equal(reused.galaxy_id, predicted.galaxy_id)
    # the same T head draws; the trunk run in other batches agrees to float32 rounding
    np.testing.assert_allclose(reused.expected_gain, predicted.expected_gain, rtol=1e-4)
    assert pool.covers(pool.galaxy_id, "redshift")
    # a pool in another order, of another task or unfilled is never used
    assert not pool.covers(pool.galaxy_id[::-1], "redshift")
    assert not pool.covers(pool.galaxy_id, "sfr_other")
    assert not PoolPosterior().covers(pool.galaxy_id, "redshift")


def test_a_plan_for_a_night_leaves_out_galaxies_that_never_rise(settings: Settings) -> None:
    # from Paranal (latitude -24.6) a galaxy north of Dec +35.4 never climbs above 30 degrees;
    # in May the mock's RA 8-16 h is up in the dark, so the others can be planned
    tonight = night("Cerro Paranal (4MOST, VISTA)", dt.date(2026, 5, 15))
    never = 90.0 - LOW_DEG + SITES["Cerro Paranal (4MOST, VISTA)"][0]
    sn = SNModel(snr_target=8.0)
    anyway = plan_followup(settings, "mock", sn_model=sn, k=4, tonight=tonight, above_only=False)
    plain = plan_followup(settings, "mock", sn_model=sn, k=4)
    np.testing.assert_array_equal(anyway.galaxy_id, plain.galaxy_id)  # the night ranks nothing
    assert anyway.n_below == 0 and (anyway.hours_up[anyway.dec > never] == 0).all()
    assert (anyway.dec > never).sum() >= 2, "the mock's Dec 0-60 puts some targets up north"
    seen = plan_followup(settings, "mock", sn_model=sn, k=4, tonight=tonight)
    assert len(seen) and (seen.hours_up > 0).all() and (seen.dec < never).all()
    assert seen.n_below >= (anyway.dec > never).sum()
    assert seen.n_excluded == anyway.n_excluded  # too faint is counted apart from never up
    assert np.isfinite(seen.best_airmass).all() and (seen.best_airmass < 2.0).all()
    north = set(anyway.galaxy_id[anyway.dec > never])
    assert seen.night == tonight and not set(seen.galaxy_id) & north


def test_bad_requests_name_what_is_wrong(settings: Settings) -> None:
    with pytest.raises(ValueError, match="no survey named 'nope'"):
        plan_followup(settings, "nope", budget_hours=1.0)
    with pytest.raises(ValueError, match="task 'morphology'"):
        plan_followup(settings, "mock", task="morphology", budget_hours=1.0)
    with pytest.raises(ValueError, match="model version 999"):
        plan_followup(settings, "mock", version_id=999, budget_hours=1.0)
    with pytest.raises(ValueError, match="budget_hours"):
        plan_followup(settings, "mock", budget_hours=-1.0)


def test_cli_plans_exports_and_evaluates(settings: Settings, tmp_path: Path) -> None:
    base = ["--db", settings.db_url, "--home", str(settings.home), "followup"]
    out = tmp_path / "targets.vot"
    result = runner.invoke(
        app, [*base, "plan", "--budget-hours", "3", "--k", "4", "--out", str(out), "--save-queue"]
    )
    assert result.exit_code == 0, result.output
    assert "follow-up queue for redshift" in result.output and out.exists()
    bad = runner.invoke(app, [*base, "plan", "--budget-hours", "1", "--out", "x.txt"])
    assert bad.exit_code == 2 and "'.txt'" in bad.output
    site = ["--site", "Cerro Paranal (4MOST, VISTA)", "--night", "2026-12-06"]
    result = runner.invoke(app, [*base, "plan", "--budget-hours", "3", "--k", "4", *site])
    assert result.exit_code == 0, result.output
    assert "Cerro Paranal (4MOST, VISTA), night of 2026-12-06: dark" in result.output
    assert "never rise above 30° that night were not planned" in result.output
    nowhere = runner.invoke(app, [*base, "plan", "--budget-hours", "1", "--site", "Nowhere"])
    assert nowhere.exit_code == 2 and "known: Apache Point" in nowhere.output
    none = runner.invoke(app, [*base, "plan"])
    assert none.exit_code == 2 and "--budget-hours" in none.output
    plot = tmp_path / "gain.png"
    args = ["--k", "2", "--halvings", "2", "--draws", "3", "--budgets", "0.5,1", "--plot"]
    research_base = ["--db", settings.db_url, "--home", str(settings.home)]
    result = runner.invoke(research, [*research_base, "followup-evaluate", *args, str(plot)])
    assert result.exit_code == 0, result.output
    assert "| budget (h) | greedy |" in result.output and plot.stat().st_size > 0


def _plan() -> FollowupPlan:
    """A hand-made three-target plan."""
    return FollowupPlan(
        survey="mock",
        task="redshift",
        task_id=1,
        model_version_id=1,
        model_version="mock-v1",
        sn_model=SNModel(),
        budget_hours=1.0,
        budget_fibers=None,
        galaxy_id=np.array([4, 9, 2]),
        source_id=np.array(["mock0000004", "mock0000009", "mock0000002"]),
        ra=np.array([150.123456789, 150.5, 149.75]),
        dec=np.array([2.2, -1.987654321, 0.0]),
        mag=np.array([16.25, 17.5, 15.0]),
        exposure_s=np.array([412.5, 1400.25, 90.0]),
        priority=np.array([3.0, 2.0, 1.0]),
        expected_gain=np.array([1.5, 2.25, 0.125]),
        gain_per_hour=np.array([7.5, 4.6, 1.2]),
        n_candidates=10,
        n_excluded=1,
        n_no_gain=0,
    )


@pytest.mark.parametrize("suffix", [".csv", ".fits", ".vot", ".xml"])
def test_export_round_trips_through_astropy(tmp_path: Path, suffix: str) -> None:
    plan = _plan()
    path = tmp_path / f"targets{suffix}"
    path.write_text("an old list")  # replaced whole
    write_targets(plan, path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    table = Table.read(path, format=format_for(path))
    assert table.colnames == [
        "rank", "id", "ra", "dec", "magnitude", "exposure_s", "priority", "expected_gain",
    ]  # fmt: skip
    assert list(table["rank"]) == [1, 2, 3]  # priority falls as rank rises: the same order
    assert [str(s) for s in table["id"]] == plan.source_id.tolist()
    for column, values in [
        ("ra", plan.ra),
        ("dec", plan.dec),
        ("magnitude", plan.mag),
        ("exposure_s", plan.exposure_s),
        ("priority", plan.priority),
        ("expected_gain", plan.expected_gain),
    ]:
        np.testing.assert_allclose(np.asarray(table[column], float), values, rtol=1e-12)
    if suffix != ".csv":
        assert table["ra"].unit == "deg" and table["exposure_s"].unit == "s"
        assert table["magnitude"].unit == "mag"


def test_a_plan_for_a_night_exports_airmass_and_hours_up(tmp_path: Path) -> None:
    tonight = night("Apache Point (SDSS)", dt.date(2026, 12, 6))
    plan = dataclasses.replace(
        _plan(), night=tonight, best_airmass=np.array([1.1, 1.8, np.nan]),
        hours_up=np.array([6.5, 1.25, 0.0]),
    )  # fmt: skip
    path = write_targets(plan, tmp_path / "targets.fits")
    table = Table.read(path)
    assert table.colnames[-2:] == ["best_airmass", "hours_up"] and table["hours_up"].unit == "h"
    np.testing.assert_array_equal(table["hours_up"], plan.hours_up)
    assert (table.meta["SITE"], table.meta["NIGHT"]) == ("Apache Point (SDSS)", "2026-12-06")
    assert table.meta["DARKFROM"] == f"{tonight.start:%Y-%m-%dT%H:%M}Z"
    assert "best_airmass" not in targets_table(_plan()).colnames  # no night, no such columns


@pytest.mark.parametrize("suffix", [".csv", ".fits", ".vot"])
def test_desi_layout_orders_by_priority_and_breaks_ties_by_gain_per_hour(
    tmp_path: Path, suffix: str
) -> None:
    plan = _plan()
    path = write_targets(plan, tmp_path / f"desi{suffix}", layout="desi")
    table = Table.read(path, format=format_for(path))
    assert table.colnames == ["TARGETID", "RA", "DEC", "PRIORITY", "SUBPRIORITY",
                              "NUMOBS_INIT", "OBSCONDITIONS"]  # fmt: skip
    assert list(table["TARGETID"]) == plan.galaxy_id.tolist()
    assert list(table["PRIORITY"]) == [3, 2, 1] and list(table["NUMOBS_INIT"]) == [1, 1, 1]
    sub = np.asarray(table["SUBPRIORITY"], float)
    assert ((sub >= 0) & (sub < 1)).all() and sub[1] == pytest.approx(4.6 / 7.5)
    np.testing.assert_allclose(np.asarray(table["RA"], float), plan.ra, rtol=1e-12)


@pytest.mark.parametrize("suffix", [".csv", ".fits", ".vot"])
def test_4most_layout_is_a_target_catalogue(tmp_path: Path, suffix: str) -> None:
    plan = _plan()
    path = write_targets(plan, tmp_path / f"4most{suffix}", layout="4most")
    table = Table.read(path, format=format_for(path))
    for column in ("NAME", "RA", "DEC", "PMRA", "PMDEC", "EPOCH", "RESOLUTION", "SUBSURVEY",
                   "TEMPLATE", "RULESET", "EXTENT_FLAG", "MAG_TYPE", "MAG", "MAG_ERR",
                   "REDDENING", "REDSHIFT_ESTIMATE"):  # fmt: skip
        assert column in table.colnames
    assert [str(s) for s in table["NAME"]] == plan.source_id.tolist()
    assert {str(s) for s in table["MAG_TYPE"]} == {"SDSS_r_AB"}
    np.testing.assert_allclose(np.asarray(table["MAG"], float), plan.mag, rtol=1e-12)
    with pytest.raises(ValueError, match="unknown target-list layout 'lsst'"):
        write_targets(plan, tmp_path / "x.fits", layout="lsst")


def test_export_refuses_an_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'\.txt'"):
        write_targets(_plan(), tmp_path / "targets.txt")
    assert not list(tmp_path.iterdir())
