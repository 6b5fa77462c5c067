"""`python -m research evaluate`'s report on a constructed Comparison: the classical floor in words,
calibration figures for any set of variants, coverage and CDE loss in the tables, and
evaluation.json beside evaluation.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.services.models.metrics import posterior_metrics
from app.services.reports.calibration_plots import coverage_figure, pit_figure
from bayes.checks import metrics as bm
from research.evaluation.baseline_floor import floor_checks, floor_sentences
from research.evaluation.markdown import regression_pits, task_kinds, write_report
from research.evaluation.run import Comparison, Result
from tests.services.calibrated import TASKS, calibrated

KINDS = {"morphology": "classification", "redshift": "redshift", "sfr": "other"}


def _result(name: str, kind: str, metrics: dict, n: int = 1000) -> Result:
    return Result(
        name=name,
        kind=kind,
        modalities=("photometry",),
        n_train=n,
        fit_seconds=1.0,
        predict_seconds=0.1,
        metrics=metrics,
        train_labels={task: n for task in metrics},
    )


def _headline(acc: float, nmad: float, rmse: float, n: int = 500) -> dict:
    return {
        "morphology": {"n": n, "accuracy": acc},
        "redshift": {"n": n, "sigma_nmad": nmad},
        "sfr": {"n": n, "rmse": rmse},
    }


def test_the_report_says_in_words_where_a_bayesian_variant_loses_to_the_floor() -> None:
    results = [
        _result("photometry", "bayes", _headline(0.60, 0.0158, 0.30)),
        _result("feature", "bayes", _headline(0.95, 0.0120, 0.36, n=400)),
        _result("linear (photometry)", "classical", _headline(0.57, 0.0288, 0.44)),
        _result("forest (photometry)", "classical", _headline(0.59, 0.0131, 0.31)),
    ]
    checks = floor_checks(results, KINDS)
    assert {(c.task, c.variant, c.worse) for c in checks} == {
        ("morphology", "photometry", False),
        ("morphology", "feature", False),
        ("redshift", "photometry", True),
        ("redshift", "feature", False),
        ("sfr", "photometry", False),
        ("sfr", "feature", True),
    }
    assert all(c.baseline == "forest (photometry)" for c in checks)  # the best of the two
    assert floor_sentences(checks, KINDS) == [
        "On morphology no Bayesian variant is worse than the best classical baseline "
        "(random forest, accuracy 0.59).",
        "The Bayesian photometry model is worse than the random forest on redshift: "
        "σ_NMAD 0.0158 against 0.0131.",
        "The Bayesian feature model is worse than the random forest on sfr: RMSE 0.36 against "
        "0.31 (on 400 test galaxies against 500).",
    ]


def test_the_floor_picks_the_best_baseline_by_direction_and_reads_close_numbers_apart() -> None:
    results = [
        _result("photometry", "bayes", _headline(0.80, 0.015812, 0.30)),
        _result("linear (photometry)", "classical", _headline(0.85, 0.015809, 0.29)),
        _result("forest (photometry)", "classical", _headline(0.82, 0.0170, 0.31)),
    ]
    sentences = floor_sentences(floor_checks(results, KINDS), KINDS)
    assert sentences == [
        "The Bayesian photometry model is worse than the logistic regression on morphology: "
        "accuracy 0.8 against 0.85.",
        "The Bayesian photometry model is worse than the linear regression on redshift: "
        "σ_NMAD 0.015812 against 0.015809.",
        "The Bayesian photometry model is worse than the linear regression on sfr: "
        "RMSE 0.3 against 0.29.",
    ]
    assert floor_checks([results[0]], KINDS) == []  # no classical result, no verdict
    tie = [results[1], _result("linear", "bayes", results[1].metrics)]
    (line, *_) = floor_sentences(floor_checks(tie, KINDS), KINDS)
    assert line == (
        "On morphology no Bayesian variant is worse than the best classical baseline "
        "(logistic regression, accuracy 0.85)."
    )  # a tie is not a loss, nor claimed as a win


def _comparison(variants: tuple[str, ...]) -> Comparison:
    results, posteriors = [], {}
    for k, name in enumerate(variants):
        posterior, truths = calibrated(300, seed=10 + k)
        present = np.ones((300, 3), bool)
        metrics = posterior_metrics(posterior, truths, TASKS, present)
        results.append(_result(name, "bayes", metrics, n=600))
        posteriors[name] = (posterior, truths, present)
    # a redshift floor no variant reaches; morphology and sfr floors every variant beats
    forest = {
        "morphology": {"n": 300, "accuracy": 0.0},
        "redshift": {"n": 300, "sigma_nmad": 1e-4},
        "sfr": {"n": 300, "rmse": 1e3},
    }
    results.append(_result("forest (photometry)", "classical", forest, n=600))
    return Comparison(results, posteriors)


def test_calibration_figures_are_drawn_for_a_single_modality_variant() -> None:
    # `evaluate --variants photometry` used to give empty PIT axes: only fused variants drew.
    comparison = _comparison(("photometry",))
    pits = regression_pits(comparison, TASKS)
    assert set(pits) == {"redshift", "sfr"} and set(pits["redshift"]) == {"photometry"}
    assert len(pits["sfr"]["photometry"]) == 300
    fig = pit_figure(pits)
    assert [len(ax.patches) for ax in fig.axes] == [1, 1]  # one PIT histogram per panel
    fig = coverage_figure(pits)
    # the diagonal and one curve of len(NOMINAL_LEVELS) points per panel
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]
    assert len(fig.axes[0].lines[1].get_xdata()) == len(bm.NOMINAL_LEVELS)


def test_write_report_gives_markdown_json_and_figures(tmp_path: Path) -> None:
    comparison = _comparison(("photometry", "image"))
    path = write_report(
        comparison, TASKS, tmp_path, preamble=["Command: `python -m research evaluate`"],
        meta={"command": "python -m research evaluate", "machine": "test", "total_seconds": 1.5},
    )  # fmt: skip
    text = path.read_text()
    top = text.split("## Results")[0]
    assert "## Against the classical baselines" in top
    assert "The Bayesian photometry model is worse than the random forest on redshift" in top
    assert "| 68% coverage | 95% coverage | CDE loss |" in text
    assert "### redshift: coverage of the central interval at each nominal level" in text
    assert "| 68% |" in text and "| 5% |" in text
    for name in ("eval_reliability.png", "eval_pit.png", "eval_coverage.png", "eval_redshift.png"):
        assert (tmp_path / "img" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](img/{name})" in text
    doc = json.loads((tmp_path / "evaluation.json").read_text())
    run = {"command": "python -m research evaluate", "machine": "test", "total_seconds": 1.5}
    assert doc["run"] == run
    assert doc["tasks"] == task_kinds(TASKS) == KINDS
    by_name = {r["name"]: r for r in doc["results"]}
    assert set(by_name) == {"photometry", "image", "forest (photometry)"}
    photometry = by_name["photometry"]
    assert photometry["metrics"] == comparison.results[0].metrics  # every metric, as computed
    assert photometry["train_labels"] == {"morphology": 600, "redshift": 600, "sfr": 600}
    assert photometry["modalities"] == ["photometry"] and photometry["fit_seconds"] == 1.0
    worse = [c for c in doc["against_classical"] if c["worse"]]
    assert {(c["task"], c["variant"]) for c in worse} == {
        ("redshift", "photometry"),
        ("redshift", "image"),
    }
    assert doc["sequential"] is None and "img/eval_coverage.png" in doc["figures"]


def test_evaluation_json_is_strict(tmp_path: Path) -> None:
    comparison = _comparison(("feature",))
    comparison.results[0].metrics["sfr"]["r2"] = float("nan")
    comparison.results[0].fit_seconds = np.float64(2.0)
    write_report(comparison, TASKS, tmp_path, preamble=[])
    raw = (tmp_path / "evaluation.json").read_text()
    doc = json.loads(raw, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert doc["results"][0]["metrics"]["sfr"]["r2"] is None
    assert doc["results"][0]["fit_seconds"] == 2.0 and doc["run"] == {"preamble": []}
