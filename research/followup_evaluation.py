"""Does budgeted follow-up beat random? Replay it on galaxies whose spectra we already have.

Galaxies with spectra outside the model's training split are predicted twice: with the
spectrum hidden ("before") and shown ("after" observing it). For each of several random
halvings, one half is the reference the gain estimator learns from and the other the pool a
night is planned from; each strategy fills the same budgets from the pool, and is scored by how
much it lowers the pool's mean redshift posterior width (std of log(1+z)) per telescope hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.config import Settings
from app.services.data.split import assign_splits
from app.services.followup.plan import GainReference, Progress, gain_reference, planning_inputs
from bayes.followup import SECONDS_PER_HOUR, SNModel, expected_gain, fill, greedy_fill

STRATEGIES = ("greedy", "random", "cheapest", "top_gain", "oracle")
STRATEGY_TEXT = {
    "greedy": "expected gain per hour (ours)",
    "random": "random order",
    "cheapest": "cheapest first (cost only)",
    "top_gain": "highest expected gain (cost ignored)",
    "oracle": "true width reduction per hour (upper bound)",
}


@dataclass(frozen=True)
class Pool:
    """One night's candidates (n,): cost (s), estimated gain (nats), widths before / after."""

    cost_s: np.ndarray
    gain: np.ndarray
    width_before: np.ndarray
    width_after: np.ndarray

    @property
    def reduction(self) -> np.ndarray:
        """How much each galaxy's width falls when its spectrum arrives."""
        return self.width_before - self.width_after

    def per_hour(self, chosen: np.ndarray) -> tuple[float, float]:
        """(fall of the pool's mean width per telescope hour, hours spent) for ``chosen``."""
        hours = float(self.cost_s[chosen].sum() / SECONDS_PER_HOUR)
        drop = float(self.reduction[chosen].sum() / len(self.cost_s))
        return (drop / hours if hours > 0 else 0.0), hours

    def drop(self, chosen: np.ndarray) -> float:
        """Fall of the pool's mean width when ``chosen`` are observed."""
        return float(self.reduction[chosen].sum() / len(self.cost_s))


def make_pool(
    pool: GainReference, reference: GainReference, sn: SNModel, *, k: int, magnitude_weight: float
) -> Pool:
    """Cost and estimated gain of the pool galaxies, the gain learnt from ``reference`` only."""
    var_with = reference.var_with_for(
        pool.embedding, pool.mag, k=k, magnitude_weight=magnitude_weight
    )
    return Pool(
        cost_s=sn.cost_s(pool.mag),
        gain=expected_gain(pool.var_without, var_with),
        width_before=np.sqrt(pool.var_without),
        width_after=np.sqrt(pool.var_with),
    )


def observing_order(strategy: str, pool: Pool, rng: np.random.Generator) -> np.ndarray:
    """The order in which ``strategy`` would take the pool's observable galaxies."""
    finite = np.flatnonzero(np.isfinite(pool.cost_s))
    if strategy == "greedy":
        return greedy_fill(pool.gain, pool.cost_s)
    if strategy == "random":
        return rng.permutation(finite)
    if strategy == "cheapest":
        return finite[np.argsort(pool.cost_s[finite], kind="stable")]
    if strategy == "top_gain":
        return finite[np.argsort(-pool.gain[finite], kind="stable")]
    if strategy == "oracle":
        return greedy_fill(np.maximum(pool.reduction, 0.0), pool.cost_s)
    raise ValueError(f"unknown strategy {strategy!r}; choose from {STRATEGIES}")


@dataclass(frozen=True)
class FollowupEvaluation:
    """Measured rates (fall of mean width per hour) for each strategy and budget.

    rate[strategy]: (runs, B) — runs = halvings for deterministic strategies, halvings x
    draws for random (halving-major). drop_curve[strategy]: (runs, G) fall of the mean width
    at each budget of ``curve_hours``. ratio: (halvings, B) greedy over the mean random rate of
    the same halving.
    """

    survey: str
    model_version: str
    task: str
    sn_model: SNModel
    budgets: np.ndarray
    n_pool: int
    n_reference: int
    n_halvings: int
    n_draws: int
    mean_width: float
    rate: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    hours: dict[str, np.ndarray]
    curve_hours: np.ndarray
    drop_curve: dict[str, np.ndarray]
    ratio: np.ndarray

    def table(self) -> list[str]:
        """Markdown table: per budget, each strategy's rate (x10⁻³ per hour) and the ratio."""
        head = ["budget (h)", "greedy", "random (mean ± sd)", "greedy / random (range)"]
        head += ["cheapest", "top gain", "oracle", "targets greedy / random"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for b, budget in enumerate(self.budgets):
            r = {s: 1e3 * self.rate[s][:, b] for s in STRATEGIES}
            ratio = self.ratio[:, b]
            row = [
                f"{budget:g}",
                f"{r['greedy'].mean():.3f}",
                f"{r['random'].mean():.3f} ± {r['random'].std():.3f}",
                f"**{ratio.mean():.2f}x** ({ratio.min():.2f}–{ratio.max():.2f})",
                f"{r['cheapest'].mean():.3f}",
                f"{r['top_gain'].mean():.3f}",
                f"{r['oracle'].mean():.3f}",
                f"{self.targets['greedy'][:, b].mean():.0f} / "
                f"{self.targets['random'][:, b].mean():.0f}",
            ]
            lines.append("| " + " | ".join(row) + " |")
        return lines


def evaluate_followup(
    settings: Settings,
    survey: str,
    *,
    version_id: int | None = None,
    task: str = "redshift",
    sn_model: SNModel | None = None,
    budgets: tuple[float, ...] = (2.0, 5.0, 10.0, 20.0),
    halvings: int = 5,
    draws: int = 20,
    k: int = 16,
    magnitude_weight: float = 1.0,
    seed: int = 0,
    curve_points: int = 41,
    progress: Progress | None = None,
) -> FollowupEvaluation:
    """Replay follow-up on held-out galaxies with spectra; see the module docstring."""
    if not budgets or min(budgets) <= 0:
        raise ValueError(f"budgets must be positive hours, got {budgets!r}")
    if halvings < 1 or draws < 1:
        raise ValueError(f"halvings and draws must be >= 1, got {halvings}, {draws}")
    sn = sn_model or SNModel()
    inputs = planning_inputs(settings, survey, task, version_id)
    refs, version = inputs.refs, inputs.version
    held_out = assign_splits(refs.source_id, seed=version.split_seed) != "train"
    usable = np.zeros(len(refs), bool)
    for name in set(version.model.config.modalities) - {"spectrum"}:
        usable |= getattr(refs, name).present
    idx = np.flatnonzero(
        refs.spectrum.present & held_out & usable & np.isfinite(inputs.columns.mag)
    )
    if len(idx) < 2 * k:
        raise ValueError(
            f"survey {survey!r} has {len(idx)} held-out galaxies with spectra; "
            f"the evaluation needs at least {2 * k} (2k)"
        )
    both = gain_reference(
        version, settings.store(), refs, idx, inputs.columns.mag[idx], task, progress=progress
    )
    budgets_arr = np.asarray(budgets, dtype=np.float64)
    grid = np.linspace(0.0, budgets_arr.max(), curve_points)
    rate = {s: [] for s in STRATEGIES}
    targets = {s: [] for s in STRATEGIES}
    hours = {s: [] for s in STRATEGIES}
    curve = {s: [] for s in STRATEGIES}
    half = len(idx) // 2
    for h in range(halvings):
        rng = np.random.default_rng([seed, h])
        order = rng.permutation(len(idx))
        pool = make_pool(
            both.subset(order[half:]),
            both.subset(order[:half]),
            sn,
            k=k,
            magnitude_weight=magnitude_weight,
        )
        for strategy in STRATEGIES:
            for _ in range(draws if strategy == "random" else 1):
                order = observing_order(strategy, pool, rng)
                runs = [fill(order, pool.cost_s, budget_hours=b) for b in budgets_arr]
                measured = [pool.per_hour(c) for c in runs]
                rate[strategy].append([m[0] for m in measured])
                hours[strategy].append([m[1] for m in measured])
                targets[strategy].append([len(c) for c in runs])
                curve[strategy].append(
                    [pool.drop(fill(order, pool.cost_s, budget_hours=g)) for g in grid]
                )
    arrays = {s: np.array(v) for s, v in rate.items()}
    greedy = arrays["greedy"]  # (halvings, B)
    random_mean = arrays["random"].reshape(halvings, draws, -1).mean(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = greedy / random_mean
    return FollowupEvaluation(
        survey=survey,
        model_version=version.name,
        task=task,
        sn_model=sn,
        budgets=budgets_arr,
        n_pool=len(idx) - half,
        n_reference=half,
        n_halvings=halvings,
        n_draws=draws,
        mean_width=float(np.sqrt(both.var_without).mean()),
        rate=arrays,
        targets={s: np.array(v) for s, v in targets.items()},
        hours={s: np.array(v) for s, v in hours.items()},
        curve_hours=grid,
        drop_curve={s: np.array(v) for s, v in curve.items()},
        ratio=ratio,
    )


def gain_figure(evaluation: FollowupEvaluation, path: Path) -> None:
    """Left: fall of the pool's mean width against hours (16-84% bands over halvings and draws).
    Right: greedy over mean random fall at the same budget, per halving (mean and range)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax, ax_ratio) = plt.subplots(1, 2, figsize=(10.5, 4.2))
    x = evaluation.curve_hours
    styles = {"greedy": "C0", "random": "C1", "cheapest": "C2", "oracle": "0.5"}
    for strategy, colour in styles.items():
        y = 1e3 * evaluation.drop_curve[strategy]
        lo, mid, hi = np.percentile(y, [16, 50, 84], axis=0)
        ls = ":" if strategy == "oracle" else "-"
        ax.plot(x, mid, ls, color=colour, label=STRATEGY_TEXT[strategy])
        if strategy in ("greedy", "random"):
            ax.fill_between(x, lo, hi, color=colour, alpha=0.25, lw=0)
    ax.set(
        xlabel="telescope hours (exposure + overhead)",
        ylabel="fall of mean σ[log(1+z)] (x10⁻³)",
        title=f"{evaluation.survey}: {evaluation.n_pool} pool galaxies, "
        f"{evaluation.n_halvings} halvings x {evaluation.n_draws} random draws",
    )
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    shape = (evaluation.n_halvings, evaluation.n_draws, len(x))
    random_mean = evaluation.drop_curve["random"].reshape(shape).mean(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = evaluation.drop_curve["greedy"] / random_mean  # (halvings, G)
        ceiling = evaluation.drop_curve["oracle"] / random_mean
    ax_ratio.plot(x, ratio.mean(0), color="C0", label="greedy / random (mean over halvings)")
    ax_ratio.fill_between(x, ratio.min(0), ratio.max(0), color="C0", alpha=0.25, lw=0)
    ax_ratio.plot(x, ceiling.mean(0), ":", color="0.5", label="oracle / random (ceiling)")
    ax_ratio.axhline(2.0, color="k", ls="--", lw=0.8, label="2x (acceptance)")
    ax_ratio.set(xlabel="budget (telescope hours)", ylabel="fall of mean width, greedy / random")
    ax_ratio.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
