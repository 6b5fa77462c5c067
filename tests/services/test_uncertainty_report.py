"""The uncertainty report's statistics against hand-computed values, and its HTML as one
self-contained file."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import numpy as np
import pytest

from app.services.reports import uncertainty as ur
from app.services.reports.calibration_plots import binomial_interval
from app.services.reports.figures import figures
from app.services.reports.html_report import render_html
from app.services.reports.per_class import class_rows, rare_class_sentence
from app.services.reports.regression_calibration import (
    RegressionCalibration,
    headline,
    regression_calibration,
)
from bayes.checks import metrics as bm
from bayes.checks.metrics import expected_calibration_error
from tests.services.calibrated import MORPHOLOGY, REDSHIFT, SFR, calibrated

# Fleiss (1971) as reproduced on Wikipedia: 10 subjects, 14 raters, 5 categories, κ = 0.210.
FLEISS_TABLE = np.array(
    [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
     [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
)  # fmt: skip


def test_cohen_kappa_of_a_two_by_two_table() -> None:
    # yes/yes 20, yes/no 5, no/yes 10, no/no 15: p_o = 0.7, p_e = 0.5·0.6 + 0.5·0.4 = 0.5.
    a = [1] * 20 + [1] * 5 + [0] * 10 + [0] * 15
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert ur.cohen_kappa(a, b) == pytest.approx(0.4)
    assert ur.cohen_kappa([0, 1, 2], [0, 1, 2]) == 1.0
    assert ur.cohen_kappa([3, 3], [3, 3], 6) == 1.0  # one class only: perfect, not 0/0
    with pytest.raises(ValueError):
        ur.cohen_kappa([0], [0, 1])


def test_fleiss_kappa_of_the_textbook_table_and_a_small_one() -> None:
    assert ur.fleiss_kappa(FLEISS_TABLE) == pytest.approx(0.20993, abs=1e-5)
    # P_i = 1, 1, 1/3 -> P̄ = 7/9; p = (5/9, 4/9) -> P_e = 41/81; κ = (22/81)/(40/81) = 0.55.
    assert ur.fleiss_kappa(np.array([[3, 0], [0, 3], [2, 1]])) == pytest.approx(0.55)
    # Raters per item may vary (2 and 3 here): P_i = 1, (1+4-3)/6 = 1/3 -> P̄ = 2/3;
    # p = (3/5, 2/5) -> P_e = 13/25; κ = (2/3 - 13/25) / (12/25).
    assert ur.fleiss_kappa(np.array([[2, 0], [0, 3]])) == pytest.approx(1.0)
    assert ur.fleiss_kappa(np.array([[2, 0], [1, 2]])) == pytest.approx(
        (2 / 3 - 13 / 25) / (12 / 25)
    )
    with pytest.raises(ValueError):
        ur.fleiss_kappa(np.array([[1, 0]]))


def test_agreement_picks_cohen_for_two_labelers_and_fleiss_for_more() -> None:
    assert ur.agreement([(1, 10, 0), (2, 10, 1)], 3) is None  # nobody answered the same galaxy
    two = ur.agreement([(1, 10, 0), (1, 11, 0), (2, 10, 1), (2, 11, 2), (3, 10, 1)], 3)
    # galaxies 1 and 2: a = (0, 1), b = (0, 2); p_o = 1/2, p_e = (1·1 + 0 + 0)/4 = 1/4.
    assert (two.method, two.n_galaxies, two.n_labelers) == ("Cohen's κ", 2, 2)
    assert two.kappa == pytest.approx((0.5 - 0.25) / 0.75) and two.observed == 0.5
    three = ur.agreement([(1, 10, 0), (1, 11, 0), (1, 12, 0), (2, 10, 1), (2, 11, 1),
                          (2, 12, 1), (3, 10, 0), (3, 11, 0), (3, 12, 1)], 2)  # fmt: skip
    assert three.method == "Fleiss' κ" and three.n_labelers == 3
    assert three.kappa == pytest.approx(0.55)


def test_reliability_bins_add_up_to_the_ece_of_bayes_metrics() -> None:
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(4), 300)
    y = rng.integers(0, 4, 300)
    rel = ur.reliability(probs, y)
    assert rel.ece == pytest.approx(expected_calibration_error(probs, y))
    filled = rel.count > 0
    recomputed = np.sum(rel.count[filled] * np.abs(rel.accuracy[filled] - rel.confidence[filled]))
    assert recomputed / rel.count.sum() == pytest.approx(rel.ece)
    assert rel.count.sum() == 300 and np.isnan(rel.accuracy[~filled]).all()


def test_confusion_matrix_and_prequential_accuracy() -> None:
    cm = ur.confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert ur.prequential([(1, 0, 0.0), (1, 2, 1.0), (2, 3, 3.0)]) == {1: (0.5, 2), 2: (1.0, 1)}


def report_data(**changes: object) -> ur.ReportData:
    rng = np.random.default_rng(0)
    fields = dict(
        survey="mock", version="mock-v2", created=datetime(2026, 1, 1, tzinfo=UTC),
        classification_task="morphology", classes=("a", "b", "c"),
        probs=rng.dirichlet(np.ones(3), 50), labels=rng.integers(0, 3, 50),
        regressions=(RegressionCalibration("redshift", rng.uniform(size=80), -3.25),
                     RegressionCalibration("sfr", rng.uniform(size=60), -0.75)),
        points=(ur.VersionPoint("mock-v1", 10, 0.5, 0.1, 0.05, 0.6, None, 0),
                ur.VersionPoint("mock-v2", 30, 0.6, 0.05, 0.04, 0.66, 0.55, 20)),
        embedding=rng.normal(size=(40, 2)), embedding_bald=rng.uniform(size=40),
        embedding_class=rng.integers(0, 3, 40),
        embedding_ids=np.array([f"g{k}" for k in range(40)]),
        agreement=ur.Agreement("Cohen's κ", 0.4, 12, 2, 0.7),
    )  # fmt: skip
    return ur.ReportData(**{**fields, **changes})


def test_the_html_report_is_one_self_contained_file() -> None:
    data = report_data()
    images = figures(data)
    assert set(images) == {"Reliability diagram", "Confusion matrix", "PIT histogram",
                           "Coverage at every nominal level", "Learning curves",
                           "Embedding map"}  # fmt: skip
    page = render_html(data, images)
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<script" not in page and "<link" not in page and "url(" not in page
    sources = re.findall(r'src="([^"]+)"', page)
    assert len(sources) == 6 and all(s.startswith("data:image/png;base64,") for s in sources)
    for src in sources:
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
    assert "Cohen&#x27;s κ" in page or "Cohen's κ" in page
    assert "mock-v2" in page and "0.55" in page  # the control accuracy of mock-v2


def test_a_report_without_labels_or_agreement_still_renders() -> None:
    data = report_data(agreement=None, points=(), regressions=())
    page = render_html(data, figures(data))
    assert "no galaxy has answers from two labelers yet" in page
    assert "PIT histogram" not in page and page.count("<img") == 3
    assert "CDE loss" not in page and "Interval coverage" not in page


def test_regression_calibration_of_known_targets_only() -> None:
    posterior, truths = calibrated(500, seed=4)
    y = truths["redshift"].copy()
    y[:100] = np.nan
    got = regression_calibration(REDSHIFT, posterior, y)
    ok = np.isfinite(y)
    assert got is not None and got.task == "redshift" and got.n == 400
    expected = bm.cde_loss(posterior.loc["redshift"][ok], posterior.scale["redshift"][ok], y[ok],
                           log1p=True)  # fmt: skip
    assert got.cde_loss == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(got.coverage, bm.coverage_curve(got.pit))
    assert got.coverage_at(0.68) == got.coverage[bm.NOMINAL_LEVELS.index(0.68)]
    assert got.histogram.mean() == pytest.approx(1.0)  # a density on [0, 1]
    assert regression_calibration(SFR, posterior, np.full(500, np.nan)) is None
    sfr = regression_calibration(SFR, posterior, truths["sfr"])
    assert got.redshift and not sfr.redshift
    assert headline((sfr, got)) is got and headline((sfr,)) is sfr and headline(()) is None
    assert regression_calibration(MORPHOLOGY, posterior, truths["morphology"]) is None


def test_the_report_shows_coverage_at_every_level_and_the_cde_loss() -> None:
    # pit 0.5 lies inside every central interval, 0.99 only inside those of level >= 0.98.
    reg = RegressionCalibration("redshift", np.array([0.5, 0.5, 0.5, 0.99]), -4.5)
    data = report_data(regressions=(reg,), target_source="truth")
    page = render_html(data, figures(data))
    assert "redshift CDE loss (natural units, lower is better)</td><td>-4.5<" in page
    assert "redshift 68% interval coverage</td><td>0.75<" in page
    assert "Interval coverage at every nominal level" in page
    assert page.count("<td>0.75</td>") >= len(bm.NOMINAL_LEVELS)  # 3 of 4 at every level
    assert "truth (the survey&#x27;s stored truth values" in page
    assert "simulation truth" not in page


def test_binomial_intervals_stay_in_range_and_are_not_empty_at_the_edges() -> None:
    low, high = binomial_interval(np.array([0, 4, 500, 0]), np.array([1, 4, 1000, 0]))
    np.testing.assert_allclose(low[:2], [0.0, 0.8], atol=1e-12)  # Wilson at z = 1, by hand
    np.testing.assert_allclose(high[:2], [0.5, 1.0], atol=1e-12)
    assert high[2] - 0.5 == pytest.approx(np.sqrt(0.25 / 1000), rel=0.01)  # the normal limit
    assert np.isnan(low[3]) and np.isnan(high[3])  # an empty bin has no interval


def test_per_class_rows_by_hand_and_the_rarest_class_in_words() -> None:
    confusion = np.array([[40, 5, 0], [3, 30, 2], [4, 2, 3]])  # rows true, columns predicted
    rows = class_rows(confusion, ("elliptical", "spiral", "merger"))
    assert [(r.n, r.found, r.predicted) for r in rows] == [(45, 40, 47), (35, 30, 37), (9, 3, 5)]
    merger = rows[2]
    assert merger.recall == pytest.approx(3 / 9) and merger.precision == pytest.approx(3 / 5)
    assert merger.recall_low < 3 / 9 < merger.recall_high
    sentence = rare_class_sentence(rows)
    assert sentence.startswith("The rarest class is merger: 9 of 89 validation galaxies (10%)")
    assert "finds 3 of them (recall 0.33" in sentence and "(3 right of the 5" in sentence
    assert "Fewer than 10 validation galaxies" in sentence  # 9 is too few to trust
    never = class_rows(np.array([[12, 0], [5, 0]]), ("a", "b"))  # b: 5 galaxies, none found
    assert never[1].precision is None and "calls no galaxy b" in rare_class_sentence(never)
    assert rare_class_sentence(class_rows(np.zeros((2, 2)), ("a", "b"))) is None
    some = class_rows(np.array([[5, 0, 0], [1, 3, 0], [0, 0, 0]]), ("a", "b", "merger"))
    sentence = rare_class_sentence(some)
    assert sentence.startswith("No validation galaxy is labelled merger yet")
    assert "The rarest class is b: 4 of 9" in sentence


def test_the_html_report_has_the_per_class_view() -> None:
    data = report_data()
    page = render_html(data, figures(data))
    assert "Per class (morphology)" in page and "The rarest class is" in page
    counts = np.bincount(data.labels, minlength=3)
    for name, n in zip(data.classes, counts, strict=True):
        assert f"<td>{name}</td><td>{n}</td>" in page
