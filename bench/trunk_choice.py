"""Which trunk: a point estimate under Bayesian heads, MC dropout through it, or a deep ensemble?

Issue 3 asks that the trunk (point estimate, MC dropout, variational) be chosen by measurement.
On one survey's training split (optionally a random subset of ``--labels`` galaxies) this fits,
for one classification task, the product's model (point trunk, Bayesian heads by SVI), MC
dropout through the whole trunk (T = 32 passes) and a deep ensemble of point networks, each
recalibrated by a temperature on the validation split as the product does, and prints test
accuracy, NLL, ECE (raw and recalibrated), mean BALD, fit time and prediction time. Run from
the repo root:

    .venv/bin/python -m bench.trunk_choice --home /tmp/al --modalities image \\
        --json docs/benchmarks/trunk_choice.json
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from app.config import resolve
from app.services.models.training import ArrayCache, read_survey, rows_for
from bayes.baselines.network import DeepEnsemble, MCDropoutModel
from bayes.calibration import fit_calibration
from bayes.checks.metrics import expected_calibration_error
from bayes.config import ModelConfig
from bayes.model import GalaxyModel
from bayes.predict import Posterior, classification_uncertainty
from bench.common import parser, run_options, survey_options, write_json


def scores(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy, NLL and ECE of the predictive mean, and mean BALD; probs (N, T, C), y (N,)."""
    mean = probs.mean(1)
    return {
        "accuracy": float((mean.argmax(1) == y).mean()),
        "nll": float(-np.log(np.clip(mean[np.arange(len(y)), y], 1e-12, None)).mean()),
        "ece": float(expected_calibration_error(mean, y)),
        "mean_bald": float(classification_uncertainty(probs)["epistemic"].mean()),
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = parser(__doc__)
    survey_options(p, modalities=True)
    p.add_argument("--labels", type=int, help="random training subset (default: all)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--members", type=int, default=3)
    p.add_argument("--dropout", type=float, default=0.1)
    run_options(p)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    settings = resolve(home=a.home)
    data = read_survey(settings.engine(), a.survey, source="truth")
    task = next(t for t in data.tasks if t.name == a.task)
    if not task.is_classification:
        raise SystemExit(f"--task {a.task}: a classification task is needed")
    config = ModelConfig(
        tasks=(task,), modalities=tuple(a.modalities.split(",")), epochs=a.epochs, seed=a.seed
    )
    train, val, test = (rows_for(data, s, config) for s in ("train", "validation", "test"))
    if a.labels:
        rng = np.random.default_rng(a.seed)
        train = np.sort(rng.choice(train, min(a.labels, len(train)), replace=False))
    cache = ArrayCache.load(settings.store(), data.refs, np.concatenate([train, val, test]))
    y = data.targets.values[task.name]
    fits: dict[str, Callable[[], GalaxyModel | MCDropoutModel | DeepEnsemble]] = {
        "heads (point trunk, SVI heads)": lambda: GalaxyModel(config),
        f"mc_dropout (p={a.dropout}, T=32)": lambda: MCDropoutModel(config, dropout=a.dropout),
        f"ensemble ({a.members} members)": lambda: DeepEnsemble(config, members=a.members),
    }
    results = {}
    for name, make in fits.items():
        model = make()
        start = time.perf_counter()
        model.fit(cache.take(train), {task.name: y[train]})
        fit_s = time.perf_counter() - start
        raw_val: Posterior = model.predict(cache.take(val))
        start = time.perf_counter()
        raw_test: Posterior = model.predict(cache.take(test))
        predict_s = time.perf_counter() - start
        calibration = fit_calibration(raw_val, {task.name: y[val]}, (task,))
        calibrated = calibration.apply(raw_test, (task,))
        results[name] = {
            "fit_seconds": fit_s,
            "predict_seconds_per_1000": 1000 * predict_s / len(test),
            "temperature": calibration.temperature[task.name],
            "raw": scores(raw_test.probs[task.name], y[test]),
            "recalibrated": scores(calibrated.probs[task.name], y[test]),
        }
        r = results[name]
        print(
            f"{name:34s} fit {fit_s:6.1f} s, predict {r['predict_seconds_per_1000']:6.2f} s/1000;"
            f" τ {r['temperature']:.2f}; raw acc {r['raw']['accuracy']:.3f} NLL"
            f" {r['raw']['nll']:.3f} ECE {r['raw']['ece']:.3f}; recalibrated NLL"
            f" {r['recalibrated']['nll']:.3f} ECE {r['recalibrated']['ece']:.3f};"
            f" BALD {r['recalibrated']['mean_bald']:.4f}",
            flush=True,
        )
    out = {
        "arguments": vars(a),
        "n_train": len(train),
        "n_validation": len(val),
        "n_test": len(test),
        "results": results,
    }
    write_json(a.json, out)
    return out


if __name__ == "__main__":
    main()
