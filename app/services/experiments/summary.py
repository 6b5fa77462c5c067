"""An experiment's verdict: per-round spread over seeds, verdicts and paired differences against
random, the robust window verdict, labels needed to reach random, and the plain sentences.

Pure arithmetic over the records :func:`app.services.experiments.run.run_experiment` writes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.services.experiments.stopping import plateau_round


def spread(values: list[float | None]) -> dict[str, float | None]:
    """mean, std (population), min and max of the finite values; None when there are none."""
    v = np.array([np.nan if x is None else x for x in values], float)
    v = v[np.isfinite(v)]
    if not len(v):
        return {"mean": None, "std": None, "min": None, "max": None}
    return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
            "max": float(v.max())}  # fmt: skip


def aggregate(seeds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per round, the spread over seeds of every metric and of the acquisition value."""
    out = []
    for r, first in enumerate(seeds[0]):
        rows = [s[r] for s in seeds]
        out.append(
            {
                "round": r,
                "n_labels": first["n_labels"],
                "metrics": {k: spread([x["metrics"][k] for x in rows]) for k in first["metrics"]},
                "acquisition_mean": spread([x.get("acquisition_mean") for x in rows]),
            }
        )
    return out


def labels_to_reach(
    n_labels: list[float], curve: list[float], target: float, *, higher_is_better: bool
) -> float | None:
    """Labels at which ``curve`` first reaches ``target``, linearly interpolated; None if never."""
    sign = 1.0 if higher_is_better else -1.0
    c = sign * np.asarray(curve, float)
    goal = sign * target
    if c[0] >= goal:
        return float(n_labels[0])
    for i in range(1, len(c)):
        if c[i] >= goal:
            t = (goal - c[i - 1]) / (c[i] - c[i - 1])
            return float(n_labels[i - 1] + t * (n_labels[i] - n_labels[i - 1]))
    return None


def verdicts(
    mine: list[dict[str, Any]], random: list[dict[str, Any]], metric: str, *, higher: bool
) -> list[dict[str, Any]]:
    """Per round: better / tie / worse than random, where better means the mean is ahead by more
    than the larger of the two standard deviations over seeds."""
    out = []
    for a, b in zip(mine, random, strict=True):
        x, y = a["metrics"][metric], b["metrics"][metric]
        delta = (x["mean"] - y["mean"]) * (1 if higher else -1)
        width = max(x["std"], y["std"])
        verdict = "better" if delta > width else "worse" if delta < -width else "tie"
        out.append({"round": a["round"], "n_labels": a["n_labels"], "delta": delta,
                    "spread": width, "verdict": verdict})  # fmt: skip
    return out


def paired(
    mine: list[list[dict[str, Any]]],
    random: list[list[dict[str, Any]]],
    metric: str,
    *,
    higher: bool,
) -> list[dict[str, Any]]:
    """Per round, seed by seed against random (same initial labels, same model seed): mean, min
    and max of the oriented difference (positive: ahead), and how many seeds are ahead and behind.
    The seeds' shared starting point cancels here; it does not in :func:`verdicts`."""
    sign = 1.0 if higher else -1.0
    out = []
    for r, first in enumerate(mine[0]):
        pairs = zip(mine, random, strict=True)
        d = sign * np.array([a[r]["metrics"][metric] - b[r]["metrics"][metric] for a, b in pairs])
        out.append(
            {
                "round": r,
                "n_labels": first["n_labels"],
                "mean": float(d.mean()),
                "min": float(d.min()),
                "max": float(d.max()),
                "seeds": len(d),
                "seeds_ahead": int((d > 0).sum()),
                "seeds_behind": int((d < 0).sum()),
            }
        )
    return out


def window_verdict(
    mine: list[list[dict[str, Any]]],
    random: list[list[dict[str, Any]]],
    v: list[dict[str, Any]],
    metric: str,
    *,
    higher: bool,
) -> dict[str, Any]:
    """The verdict that chance cannot make: averages over the rounds from half the final label
    count on, paired seed by seed (same initial labels), the longest run of consecutive rounds
    worse than random beyond the spread, and how many fits were unhealthy.

    One round beyond one spread in twenty is expected by chance with five seeds, so a single
    round decides nothing; and a verdict against a broken fit means nothing, so ``judged`` is
    False when any fit of either arm failed its health checks.
    """
    final = mine[0][-1]["n_labels"]
    rounds = [r for r, row in enumerate(mine[0]) if row["n_labels"] >= final / 2]
    sign = 1.0 if higher else -1.0

    def window(run: list[dict[str, Any]]) -> float:
        return float(np.mean([run[r]["metrics"][metric] for r in rounds]))

    ahead = [sign * (window(a) - window(b)) for a, b in zip(mine, random, strict=True)]
    run = longest = 0
    for x in v:
        run = run + 1 if x["verdict"] == "worse" else 0
        longest = max(longest, run)
    unhealthy = sum(rec.get("healthy") is False for arm in (mine, random) for s in arm for rec in s)
    return {
        "from_labels": mine[0][rounds[0]]["n_labels"],
        "to_labels": final,
        "mean": float(np.mean([window(s) for s in mine])),
        "random_mean": float(np.mean([window(s) for s in random])),
        "paired_ahead": ahead,
        "seeds_ahead": int(sum(d > 0 for d in ahead)),
        "seeds": len(ahead),
        "longest_worse_run": longest,
        "unhealthy_fits": int(unhealthy),
        "judged": unhealthy == 0,
        "does_not_lose": unhealthy == 0 and float(np.mean(ahead)) >= 0 and longest < 2,
    }


def summarise(
    runs: dict[str, list[list[dict[str, Any]]]], *, metric: str, higher_is_better: bool
) -> dict[str, Any]:
    """Aggregates, verdicts against random, labels-to-reach and stopping, and plain sentences."""
    agg = {s: aggregate(seeds) for s, seeds in runs.items()}
    random_final = agg["random"][-1]
    target, n_random = random_final["metrics"][metric]["mean"], random_final["n_labels"]
    best = random_best(agg["random"], metric, higher_is_better=higher_is_better)
    strategies, sentences = {}, []
    for s, seeds in runs.items():
        n = [row["n_labels"] for row in agg[s]]
        mean = [row["metrics"][metric]["mean"] for row in agg[s]]
        reach = labels_to_reach(n, mean, target, higher_is_better=higher_is_better)
        reach_best = labels_to_reach(n, mean, best["metric"], higher_is_better=higher_is_better)
        per_seed = [
            labels_to_reach(n, [x["metrics"][metric] for x in rec], target,
                            higher_is_better=higher_is_better)
            for rec in seeds
        ]  # fmt: skip
        own = [  # each seed against its own random run's final metric (same start, same model)
            labels_to_reach(n, [x["metrics"][metric] for x in rec], mate[-1]["metrics"][metric],
                            higher_is_better=higher_is_better)
            for rec, mate in zip(seeds, runs["random"], strict=True)
        ]  # fmt: skip
        own_fraction = [None if x is None else x / n_random for x in own]
        acq = [row["acquisition_mean"]["mean"] for row in agg[s]]
        stop = plateau_round(
            n, mean, [np.nan if a is None else a for a in acq], higher_is_better=higher_is_better
        )
        v = verdicts(agg[s], agg["random"], metric, higher=higher_is_better)
        by_seed = paired(seeds, runs["random"], metric, higher=higher_is_better)
        win = window_verdict(seeds, runs["random"], v, metric, higher=higher_is_better)
        strategies[s] = {
            "seeds": seeds,
            "aggregate": agg[s],
            "labels_to_reach_random_final": {
                "n_labels": reach,
                "fraction": None if reach is None else reach / n_random,
                "per_seed_fraction": [None if x is None else x / n_random for x in per_seed],
                "paired_fraction": own_fraction,
                "paired_fraction_spread": spread(own_fraction),
            },
            "labels_to_reach_random_best": {
                "n_labels": reach_best,
                "fraction": None if reach_best is None else reach_best / best["n_labels"],
            },
            "verdicts": v,
            "paired": by_seed,
            "window": win,
            "stopping": {"round": stop, "n_labels": None if stop is None else n[stop]},
        }
        if s != "random":
            line = (
                _window_sentence(s, win, metric)
                + " "
                + _sentence(s, v, by_seed, reach, n_random, metric, own_fraction)
            )
            if best["metric"] != target:  # random ended below its best round
                line += _best_clause(s, reach_best, best, metric)
            sentences.append(line)
    return {
        "primary_metric": metric,
        "higher_is_better": higher_is_better,
        "random_final": {"metric": target, "n_labels": n_random},
        "random_best": best,
        "strategies": strategies,
        "summary": sentences,
    }


def random_best(
    rows: list[dict[str, Any]], metric: str, *, higher_is_better: bool
) -> dict[str, Any]:
    """Random's best mean ``metric`` and the labels of the first round that had it.

    A fit that lands in a poor optimum in the last round drags random's final metric below
    its own earlier rounds, and every strategy then "reaches" it early. Reaching random's
    best instead is the conservative reading of the same question.
    """
    mean = np.array([row["metrics"][metric]["mean"] for row in rows], float)
    i = int(np.argmax(mean if higher_is_better else -mean))
    return {"metric": float(mean[i]), "n_labels": rows[i]["n_labels"]}


def _best_clause(strategy: str, reach: float | None, best: dict[str, Any], metric: str) -> str:
    """The sentence's addendum when random's final metric is below its own best."""
    head = (
        f" Random's final {metric} is below its own best ({best['metric']:.3f} at "
        f"{best['n_labels']} labels)"
    )
    if reach is None:
        return f"{head}, which {strategy} never reaches."
    return (
        f"{head}; {strategy} reaches that with {reach:.0f} labels, "
        f"{reach / best['n_labels']:.0%} of random's {best['n_labels']}."
    )


def _window_sentence(strategy: str, w: dict[str, Any], metric: str) -> str:
    """The robust verdict in plain words (see :func:`window_verdict`)."""
    span = f"from {w['from_labels']} to {w['to_labels']} labels"
    if not w["judged"]:
        return (f"NOT JUDGED: {w['unhealthy_fits']} fits of {strategy} or random failed their "
                "health checks.")  # fmt: skip
    words = "does not lose to" if w["does_not_lose"] else "LOSES to"
    return (
        f"Over the rounds {span}, {strategy} {words} random: mean {metric} {w['mean']:.4g} "
        f"against {w['random_mean']:.4g}, ahead in {w['seeds_ahead']} of {w['seeds']} seeds "
        f"(paired), at most {w['longest_worse_run']} consecutive rounds worse beyond the spread."
    )


def _sentence(
    strategy: str,
    v: list[dict[str, Any]],
    by_seed: list[dict[str, Any]],
    reach: float | None,
    n_random: int,
    metric: str,
    own: list[float | None],
) -> str:
    """One plain line: where the strategy beat, tied or lost to random, and labels needed
    (on the mean curves, and seed by seed against each seed's own random run)."""
    counts = {k: sum(x["verdict"] == k for x in v) for k in ("better", "tie", "worse")}
    if counts["worse"]:
        head = f"{strategy} is WORSE than random beyond the spread in {counts['worse']} rounds"
    elif counts["better"]:
        head = f"{strategy} beats random beyond the spread in {counts['better']} rounds"
    else:
        head = f"{strategy} does NOT beat random beyond the spread in any round"
    head += f" ({counts['better']} better, {counts['tie']} tied, {counts['worse']} worse)"
    ahead = sum(x["seeds_ahead"] == x["seeds"] for x in by_seed)
    behind = sum(x["seeds_behind"] == x["seeds"] for x in by_seed)
    head += (
        f"; seed by seed, ahead in every seed in {ahead} rounds, behind in every seed in {behind}"
    )
    reached = [x for x in own if x is not None]
    tail = f"each seed against its own random run: {len(reached)} of {len(own)} reach its final"
    if reached:
        tail += f" with {np.mean(reached):.0%} ± {np.std(reached):.0%} of its labels"
    if reach is None:
        return f"{head}; it never reaches random's final {metric}; {tail}."
    return (
        f"{head}; it reaches random's final {metric} with {reach:.0f} labels, "
        f"{reach / n_random:.0%} of random's {n_random}; {tail}."
    )
