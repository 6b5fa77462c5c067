"""The experiment's arithmetic: learning-curve interpolation, verdicts, aggregation, stopping."""

from __future__ import annotations

import numpy as np
import pytest

from app.services.experiments.draws import Draws
from app.services.experiments.merge import merge_results
from app.services.experiments.run import rarest_class
from app.services.experiments.spec import ExperimentSpec
from app.services.experiments.stopping import gains_per_label, plateau_round
from app.services.experiments.summary import (
    aggregate,
    labels_to_reach,
    spread,
    summarise,
    verdicts,
)
from bayes.acquisition import lure_weights
from bayes.config import TaskConfig


def test_labels_to_reach_interpolates_the_first_crossing() -> None:
    n, up, down = [100, 200, 300, 400], [0.5, 0.6, 0.7, 0.8], [0.05, 0.046, 0.042, 0.04]
    assert labels_to_reach(n, up, 0.65, higher_is_better=True) == pytest.approx(250)
    assert labels_to_reach(n, up, 0.4, higher_is_better=True) == 100.0
    assert labels_to_reach(n, up, 0.9, higher_is_better=True) is None
    # lower is better (sigma_NMAD): 0.045 lies a quarter of the way from 0.046 to 0.042
    assert labels_to_reach(n, down, 0.045, higher_is_better=False) == pytest.approx(225)


def test_spread_and_aggregate_ignore_missing_values() -> None:
    assert spread([1.0, 3.0, None]) == {"mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0}
    assert spread([None]) == {"mean": None, "std": None, "min": None, "max": None}
    seeds = [
        [{"n_labels": 10, "metrics": {"accuracy": a}, "acquisition_mean": 0.3}, {"n_labels": 20,
          "metrics": {"accuracy": a + 0.1}}]
        for a in (0.5, 0.7)
    ]  # fmt: skip
    rows = aggregate(seeds)
    assert [r["n_labels"] for r in rows] == [10, 20]
    assert rows[1]["metrics"]["accuracy"]["mean"] == pytest.approx(0.7)
    assert rows[0]["acquisition_mean"]["mean"] == 0.3
    assert rows[1]["acquisition_mean"]["mean"] is None


def _rows(means: list[float], stds: list[float]) -> list[dict]:
    return [
        {"round": i, "n_labels": 10 * (i + 1), "metrics": {"m": {"mean": m, "std": s}}}
        for i, (m, s) in enumerate(zip(means, stds, strict=True))
    ]


def test_verdicts_need_a_gap_beyond_the_larger_spread() -> None:
    mine = _rows([0.5, 0.6, 0.7, 0.5], [0.0, 0.01, 0.05, 0.01])
    rand = _rows([0.5, 0.55, 0.68, 0.6], [0.0, 0.02, 0.01, 0.02])
    got = [v["verdict"] for v in verdicts(mine, rand, "m", higher=True)]
    assert got == ["tie", "better", "tie", "worse"]
    got = [v["verdict"] for v in verdicts(mine, rand, "m", higher=False)]  # lower is better
    assert got == ["tie", "worse", "tie", "better"]


def _run(curve: list[float], acq: float) -> list[dict]:
    return [
        {"round": i, "n_labels": 100 + 50 * i, "metrics": {"accuracy": c},
         **({"acquisition_mean": acq} if i < len(curve) - 1 else {})}
        for i, c in enumerate(curve)
    ]  # fmt: skip


def test_summary_says_plainly_whether_the_strategy_wins() -> None:
    runs = {
        "random": [_run([0.4, 0.45, 0.5, 0.55], 0.1), _run([0.4, 0.46, 0.51, 0.56], 0.1)],
        "power_bald": [_run([0.4, 0.55, 0.6, 0.62], 0.3), _run([0.4, 0.54, 0.6, 0.63], 0.3)],
        "bald": [_run([0.4, 0.4, 0.42, 0.45], 0.5), _run([0.4, 0.41, 0.42, 0.46], 0.5)],
    }
    out = summarise(runs, metric="accuracy", higher_is_better=True)
    pb = out["strategies"]["power_bald"]
    # random ends at 0.555 with 250 labels; power_bald's mean crosses it at 0.545 -> 0.6
    assert pb["labels_to_reach_random_final"]["n_labels"] == pytest.approx(150 + 50 * 0.01 / 0.055)
    assert pb["labels_to_reach_random_final"]["fraction"] == pytest.approx(
        pb["labels_to_reach_random_final"]["n_labels"] / 250
    )
    # seed by seed against its own random run: 0.55 at 150 labels; 0.56 a third of the way
    # from 0.54 (150) to 0.60 (200)
    reach = pb["labels_to_reach_random_final"]
    assert reach["paired_fraction"] == pytest.approx([150 / 250, (150 + 50 / 3) / 250])
    assert reach["paired_fraction_spread"]["mean"] == pytest.approx((0.6 + 2 / 3) / 2)
    assert "own random run: 2 of 2 reach its final with 63% ± 3% of its labels" in out["summary"][0]
    assert "own random run: 0 of 2 reach its final." in out["summary"][1]
    assert [v["verdict"] for v in pb["verdicts"]] == ["tie", "better", "better", "better"]
    assert "power_bald beats random beyond the spread in 3 rounds" in out["summary"][0]
    # the robust verdict: rounds from 125 labels on (150, 200, 250), paired by seed
    w = pb["window"]
    assert (w["from_labels"], w["to_labels"], w["seeds_ahead"], w["seeds"]) == (150, 250, 2, 2)
    assert w["paired_ahead"] == pytest.approx([0.09, 0.08])
    assert w["longest_worse_run"] == 0 and w["does_not_lose"] and w["judged"]
    assert out["summary"][0].startswith("Over the rounds from 150 to 250 labels, power_bald does")
    bald = out["strategies"]["bald"]["window"]
    assert bald["longest_worse_run"] == 3 and not bald["does_not_lose"]
    assert "bald LOSES to random" in out["summary"][1]
    # seed by seed: power_bald is ahead of random in both seeds in rounds 1-3, bald behind
    assert [x["seeds_ahead"] for x in pb["paired"]] == [0, 2, 2, 2]
    assert pb["paired"][1]["mean"] == pytest.approx((0.10 + 0.08) / 2)
    assert "ahead in every seed in 3 rounds, behind in every seed in 0" in out["summary"][0]
    assert "ahead in every seed in 0 rounds, behind in every seed in 3" in out["summary"][1]
    assert "WORSE than random" in out["summary"][1] and "never reaches" in out["summary"][1]
    assert out["random_final"] == {"metric": pytest.approx(0.555), "n_labels": 250}


def test_a_final_random_round_below_random_best_is_reported_against_the_best() -> None:
    # random peaks at 0.60 with 200 labels, then a poor fit drops its final round to 0.50
    runs = {
        "random": [_run([0.40, 0.50, 0.60, 0.50], 0.1)],
        "power_bald": [_run([0.40, 0.52, 0.55, 0.64], 0.3)],
        "bald": [_run([0.40, 0.45, 0.50, 0.55], 0.5)],
    }
    out = summarise(runs, metric="accuracy", higher_is_better=True)
    assert out["random_best"] == {"metric": pytest.approx(0.60), "n_labels": 200}
    pb, bald = out["strategies"]["power_bald"], out["strategies"]["bald"]
    # the final (0.50 at 250) is reached on the way up, 5/6 of the way from 0.40 to 0.52
    assert pb["labels_to_reach_random_final"]["fraction"] == pytest.approx((100 + 50 / 1.2) / 250)
    # the best (0.60) lies 5/9 of the way from 0.55 (200 labels) to 0.64 (250)
    assert pb["labels_to_reach_random_best"]["n_labels"] == pytest.approx(200 + 50 * 5 / 9)
    assert pb["labels_to_reach_random_best"]["fraction"] == pytest.approx((200 + 250 / 9) / 200)
    assert bald["labels_to_reach_random_best"] == {"n_labels": None, "fraction": None}
    assert (
        "below its own best (0.600 at 200 labels); power_bald reaches that with 228 labels, "
        "114% of random's 200." in out["summary"][0]
    )
    assert out["summary"][1].endswith("(0.600 at 200 labels), which bald never reaches.")


def test_the_best_is_the_final_when_random_ends_highest() -> None:
    runs = {"random": [_run([0.4, 0.5, 0.6], 0.1)], "bald": [_run([0.4, 0.55, 0.65], 0.2)]}
    out = summarise(runs, metric="accuracy", higher_is_better=True)
    bald = out["strategies"]["bald"]
    assert out["random_best"] == {"metric": pytest.approx(0.6), "n_labels": 200}
    assert bald["labels_to_reach_random_best"] == pytest.approx(
        {k: bald["labels_to_reach_random_final"][k] for k in ("n_labels", "fraction")}
    )
    assert "own best" not in out["summary"][0]
    # a final round that equals an earlier best is not "below" it
    tied = {"random": [_run([0.4, 0.6, 0.5, 0.6], 0.1)], "bald": [_run([0.4, 0.5, 0.6, 0.7], 0.2)]}
    assert "own best" not in summarise(tied, metric="accuracy", higher_is_better=True)["summary"][0]
    # lower is better: the best is the smallest value
    lower = summarise(runs, metric="accuracy", higher_is_better=False)
    assert lower["random_best"] == {"metric": pytest.approx(0.4), "n_labels": 100}


def test_spec_requires_random_and_positive_sizes() -> None:
    with pytest.raises(ValueError, match="random"):
        ExperimentSpec(task="t", strategies=("bald",), rounds=1, batch=1, seeds=1, initial=1)
    with pytest.raises(ValueError, match=">= 1"):
        ExperimentSpec(task="t", strategies=("random",), rounds=0, batch=1, seeds=1, initial=1)
    with pytest.raises(ValueError, match="first_seed"):
        ExperimentSpec(task="t", strategies=("random",), rounds=1, batch=1, seeds=1, initial=1,
                       first_seed=-1)  # fmt: skip


def test_merge_refuses_runs_of_different_setups() -> None:
    def result(first: int, batch: int) -> dict:
        runs = {"random": [_run([0.4, 0.5], 0.1)], "bald": [_run([0.4, 0.6], 0.2)]}
        out = summarise(runs, metric="accuracy", higher_is_better=True)
        return out | {"setup": {"task": "t", "batch": batch, "seeds": 1, "first_seed": first}}

    merged = merge_results([result(0, 50), result(1, 50)])
    assert merged["setup"]["seed_ids"] == [0, 1]
    assert merged["strategies"]["bald"]["aggregate"][1]["metrics"]["accuracy"]["mean"] == 0.6
    with pytest.raises(ValueError, match="result 2 was run with a different setup: batch"):
        merge_results([result(0, 50), result(1, 100)])
    with pytest.raises(ValueError, match="nothing"):
        merge_results([])


def test_gains_per_label_are_oriented() -> None:
    gains = gains_per_label([0, 10, 30], [1.0, 0.9, 0.8], higher_is_better=False)
    np.testing.assert_allclose(gains, [0.01, 0.005])


def test_plateau_round_when_gain_and_acquisition_flatten() -> None:
    n = [100, 200, 300, 400, 500, 600, 700]
    curve = [0.40, 0.50, 0.58, 0.595, 0.605, 0.607, 0.608]
    acq = [0.50, 0.30, 0.20, 0.19, 0.185, 0.18]
    # gains: .001 .0008 .00015 .0001 ...; from round 2 on both flatten (gain < 20% of .001,
    # acquisition within 10% of the round before)
    assert plateau_round(n, curve, acq) == 2
    # the acquisition value still falling fast holds the stop back
    assert plateau_round(n, curve, [0.5, 0.3, 0.2, 0.1, 0.05, 0.02]) is None
    # without acquisition values only the metric decides
    assert plateau_round(n, curve) == 2
    assert plateau_round(n, [0.4 + 0.05 * i for i in range(7)], acq) is None  # still learning
    # lower is better: sigma_NMAD falling then flat
    assert plateau_round(n, [0.05, 0.045, 0.043, 0.0429, 0.0429, 0.0428, 0.0428],
                         higher_is_better=False, patience=3) == 2  # fmt: skip
    with pytest.raises(ValueError, match="patience"):
        plateau_round(n, curve, patience=0)


def test_a_verdict_is_never_judged_against_an_unhealthy_fit() -> None:
    runs = {
        "random": [_run([0.4, 0.45, 0.5, 0.55], 0.1)],
        "power_bald": [_run([0.4, 0.55, 0.6, 0.62], 0.3)],
    }
    runs["random"][0][2]["healthy"] = False  # one broken fit in the random arm
    out = summarise(runs, metric="accuracy", higher_is_better=True)
    w = out["strategies"]["power_bald"]["window"]
    assert w["unhealthy_fits"] == 1 and not w["judged"] and not w["does_not_lose"]
    assert out["summary"][0].startswith("NOT JUDGED: 1 fits of power_bald or random failed")


def test_the_rarest_class_is_the_one_with_fewest_known_truths() -> None:
    task = TaskConfig("morphology", "categorical", classes=("elliptical", "spiral", "merger"))
    # merger absent from these truths, so spiral (1) is the rarest present; -1 is unknown
    assert rarest_class(task, np.array([0, 0, 1, -1, -1, -1])) == "spiral"
    assert rarest_class(task, np.array([-1, -1])) is None
    votes = TaskConfig("morphology", "dirichlet_multinomial", classes=("a", "b"))
    assert rarest_class(votes, np.array([[3, 1], [0, 2], [4, 0], [0, 0]])) == "b"
    assert rarest_class(TaskConfig("redshift", "gaussian"), np.array([0.1, 0.2])) is None


def test_draws_order_the_control_before_the_active_picks_and_weigh_them() -> None:
    draws = Draws(10)
    draws.add(np.array([4, 7]), np.ones(2), np.zeros(2, bool))  # the first, random labels
    labelled = np.zeros(10, bool)
    labelled[[4, 7]] = True
    assert draws.weights(labelled) is None  # all uniform: the unweighted fit, bit for bit
    # a batch in Batch order: active picks (drawn 2x and 0.5x as likely as uniform), control
    draws.add(np.array([1, 9, 3]), np.array([2.0, 0.5, 1.0]), np.array([False, False, True]))
    labelled[[1, 9, 3]] = True
    assert draws.order[[4, 7, 3, 1, 9]].tolist() == [1, 2, 3, 4, 5]
    expected = lure_weights(np.array([4, 3, 1, 2, 5]), np.array([2.0, 1, 1, 1, 0.5]), 10)
    np.testing.assert_array_equal(draws.weights(labelled), expected)  # pool order: 1,3,4,7,9
    assert expected[0] < 1 < expected[-1]  # a likely pick counts less, an unlikely one more
    draws.add(np.array([0]), np.array([np.nan]), np.array([False]))  # a top-k pick
    labelled[0] = True
    with pytest.raises(ValueError, match="deterministic"):
        draws.weights(labelled)


def test_debias_is_for_random_draws_only() -> None:
    base = dict(task="t", rounds=1, batch=1, seeds=1, initial=1, debias=True)
    ExperimentSpec(strategies=("random", "power_epig", "power_bald"), **base)
    for bad in ({"strategies": ("random", "lcmd")}, {"strategies": ("random", "bald")},
                {"strategies": ("random",), "initial_by": "typiclust"},
                {"strategies": ("random",), "method": "ensemble"}):  # fmt: skip
        with pytest.raises(ValueError, match="debias"):
            ExperimentSpec(**{**base, **bad})
