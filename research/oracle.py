"""Reference selections that know the truth, for oracle experiments: a yardstick for acquisition.

No acquisition function sees the label of the galaxy it is choosing; these do. They pick by
the current model's loss on the true class: ``oracle_power`` samples galaxies in proportion to
it (power sampling, as power_bald does with BALD), ``oracle_loss`` takes the k largest. What
they need against random says how much a selection rule could save with this model and pool,
so a strategy's shortfall can be told apart from a ceiling of the setup.
"""

from __future__ import annotations

import numpy as np

from app.services.experiments.run import Chooser
from app.services.loop.strategy import Batch, acquisition_values
from bayes.acquisition import power_sample
from bayes.predict import Posterior

ORACLES = ("oracle_loss", "oracle_power")


def truth_loss(posterior: Posterior, task: str, truth: np.ndarray) -> np.ndarray:
    """-log p(true class) under the posterior predictive mean over the T samples: (N,) nats."""
    if task not in posterior.probs:
        raise ValueError(f"the oracle references need a classification task; {task!r} is not")
    mean = posterior.probs[task].mean(axis=1)
    y = np.asarray(truth)
    if y.shape != (len(mean),) or not np.isin(y, np.arange(mean.shape[1])).all():
        raise ValueError(f"truth must be {len(mean)} class indices in [0, {mean.shape[1]})")
    return -np.log(np.maximum(mean[np.arange(len(y)), y.astype(np.int64)], 1e-300))


def oracle_batch(
    posterior: Posterior,
    task: str,
    truth: np.ndarray,
    k: int,
    rng: np.random.Generator,
    *,
    strategy: str,
    beta: float = 1.0,
) -> Batch:
    """k galaxies chosen by their loss on ``truth`` (N,); values are their BALD, the scale
    every other batch is compared on. No random control: this is a reference, not a queue."""
    if strategy not in ORACLES:
        raise ValueError(f"unknown oracle {strategy!r}; choose from {ORACLES}")
    loss = truth_loss(posterior, task, truth)
    k = min(int(k), len(loss))
    if strategy == "oracle_loss":
        picks = np.argsort(-loss, kind="stable")[:k]
    else:
        picks = power_sample(loss, k, beta=beta, rng=rng)
    values = acquisition_values(posterior, task, "bald", rows=picks)
    return Batch(indices=picks, is_control=np.zeros(len(picks), bool), values=values)


def choosers() -> dict[str, Chooser]:
    """The oracle references as experiment choosers
    (:func:`app.services.experiments.run.run_experiment`)."""

    def chooser(name: str) -> Chooser:
        def choose(posterior, task, truth, k, rng, beta):
            return oracle_batch(posterior, task, truth, k, rng, strategy=name, beta=beta)

        return choose

    return {name: chooser(name) for name in ORACLES}
