"""Is a small-label learning curve measuring the labels or the optimiser?

At a fixed number of epochs a fit on a few hundred galaxies takes few optimiser steps (200
galaxies, minibatch 32, 40 epochs: 280 steps), so its accuracy can reflect undertraining rather
than too few labels. For random training subsets of each size this fits the product's model
(``fit_calibrated``: point trunk, Bayesian heads, recalibrated on validation) twice — at
``--epochs`` epochs and with ``min_steps`` raising the epochs to ``--min-steps`` steps — and
prints the test metrics of both. Run from the repo root:

    .venv/bin/python -m bench.step_floor --home /tmp/al --sizes 200,500,1000 \\
        --json docs/benchmarks/step_floor.json
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import torch

from app.cli.models.train import parse_modalities
from app.config import resolve
from app.services.models.metrics import posterior_metrics
from app.services.models.training import ArrayCache, fit_calibrated, read_survey, rows_for
from bayes.config import ModelConfig
from bench.common import parser, run_options, survey_options, write_json


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    p = parser(__doc__)
    survey_options(p, modalities=True)
    p.add_argument("--sizes", default="200,500,1000", help="training subset sizes")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--min-steps", type=int, default=1700)
    run_options(p)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    settings = resolve(home=a.home)
    data = read_survey(settings.engine(), a.survey, source="truth", split_seed=0)
    task = next(t for t in data.tasks if t.name == a.task)
    base = ModelConfig(tasks=(task,), modalities=parse_modalities(a.modalities), epochs=a.epochs,
                       latent_dim=16, image_channels=(8, 16, 32), seed=a.seed)  # fmt: skip
    pool, test = rows_for(data, "train", base), rows_for(data, "test", base)
    cache = ArrayCache.load(settings.store(), data.refs, np.concatenate([pool, test]))
    truth = {task.name: data.targets.values[task.name][test]}
    results = []
    for size in (int(s) for s in a.sizes.split(",")):
        rows = pool[np.random.default_rng(a.seed).choice(len(pool), size, replace=False)]
        for floor in (0, a.min_steps):
            cfg = dataclasses.replace(base, min_steps=floor)
            start = time.perf_counter()
            fitted = fit_calibrated(settings.store(), data, cfg, train_idx=rows, cache=cache)
            post = fitted.model.predict(cache.take(test), seed=0)
            metrics = posterior_metrics(post, truth, cfg.tasks, data.present(test))[task.name]
            epochs = cfg.epochs_for(size)
            row = {"labels": size, "min_steps": floor, "epochs": epochs,
                   "steps": epochs * -(-size // cfg.batch_size),
                   "seconds": round(time.perf_counter() - start, 1),
                   **{k: v for k, v in metrics.items() if isinstance(v, float)}}  # fmt: skip
            print(json.dumps(row), flush=True)
            results.append(row)
    write_json(a.json, {"args": vars(a), "results": results}, indent=1)
    return results


if __name__ == "__main__":
    main()
