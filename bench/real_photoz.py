"""Photometry-only redshift on real SDSS photometry: likelihood and best-epoch choices, seeds.

kcorrect's 10,000 SDSS main-sample galaxies (ugriz model fluxes corrected for Galactic
extinction, spectroscopic z), split as the product splits a survey ingested with ``id=@row``
(hashed ids, seed 0). Each variant is fitted with the product's fit (:func:`fit_checked`:
recalibration and health checks) on the whole training split and scored on the test split,
beside the product's random forest on the same split.

    python -m bench.real_photoz --seeds 3 --json docs/benchmarks/real_photoz.json
    python -m bench.real_photoz --seeds 3 --variants student_t,student_t_40,student_t_averaged_20,\
        student_t_averaged --json docs/benchmarks/real_photoz_average.json   # add --split-seed 1
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import kcorrect
import numpy as np
import torch
from astropy.table import Table

from app.services.data.split import assign_splits
from app.services.models.fit_health import baseline_predictions
from app.services.models.metrics import posterior_metrics
from app.services.models.training import fit_checked
from bayes.baselines.classical import forest_predictions, photometry_features
from bayes.checks.metrics import redshift_metrics
from bayes.config import ModelConfig, TaskConfig
from bayes.data import GalaxyArrays
from bench.common import parser, write_json

FILE = Path(os.path.dirname(kcorrect.__file__)) / "data/test/gst_tests_small.fits"
# name: (likelihood, Student-t degrees of freedom, epochs, keep the best epoch on validation,
# decay of the weights' moving average: 0 keeps the last step's weights, as every fit did
# before ModelConfig.average; "student_t_averaged" is today's product fit)
VARIANTS = {
    "student_t": ("student_t", 5.0, 20, True, 0.0),
    "student_t_df8": ("student_t", 8.0, 20, True, 0.0),
    "student_t_df12": ("student_t", 12.0, 20, True, 0.0),
    "gaussian": ("gaussian", 5.0, 20, True, 0.0),
    "student_t_70": ("student_t", 5.0, 70, True, 0.0),
    "gaussian_70": ("gaussian", 5.0, 70, True, 0.0),
    "gaussian_70_last_epoch": ("gaussian", 5.0, 70, False, 0.0),
    "student_t_40": ("student_t", 5.0, 40, True, 0.0),
    "student_t_averaged_20": ("student_t", 5.0, 20, True, 0.998),
    "student_t_averaged": ("student_t", 5.0, 40, True, 0.998),
}

REPORTED = ("sigma_nmad", "outlier_fraction", "bias", "coverage_68", "coverage_95", "cde_loss")


def load(split_seed: int = 0) -> tuple[GalaxyArrays, np.ndarray, tuple[np.ndarray, ...]]:
    """Extinction-corrected photometry, spectroscopic z, and the rows of the product's training,
    validation and test splits (split seed ``split_seed``)."""
    t = Table.read(FILE)
    a = np.asarray(t["EXTINCTION"], np.float64)
    flux = np.asarray(t["MODELFLUX"], np.float64) * 10 ** (0.4 * a)
    ivar = np.asarray(t["MODELFLUX_IVAR"], np.float64) * 10 ** (-0.8 * a)
    n = len(t)
    arrays = GalaxyArrays(phot_flux=flux, phot_ivar=ivar, has_photometry=np.ones(n, bool))
    split = assign_splits([str(i) for i in range(n)], seed=split_seed)
    rows = tuple(np.flatnonzero(split == s) for s in ("train", "validation", "test"))
    return arrays, np.asarray(t["Z"], np.float64), rows


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--split-seed", type=int, default=0, help="another split of the same file")
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    arrays, z, (tr, va, te) = load(args.split_seed)
    train, held_out, test = arrays.subset(tr), arrays.subset(va), arrays.subset(te)
    x = photometry_features(arrays)
    rows = []
    for seed in range(args.seeds):
        forest = forest_predictions(x[tr], z[tr], x[te], classification=False, seed=seed)
        rows.append({"variant": "random forest", "seed": seed,
                     **redshift_metrics(forest, z[te])})  # fmt: skip
        print(rows[-1], flush=True)
        for name in args.variants.split(","):
            kind, df, epochs, best, average = VARIANTS[name]
            task = TaskConfig("redshift", kind, transform="log1p", df=df)
            config = ModelConfig(tasks=(task,), modalities=("photometry",), epochs=epochs,
                                 average=average, seed=seed)  # fmt: skip
            targets, val_targets = {"redshift": z[tr]}, {"redshift": z[va]}
            baseline = baseline_predictions(config, train, targets, held_out, seed=seed)
            start = time.perf_counter()
            fitted = fit_checked(config, train, targets, held_out, val_targets, baseline,
                                 None, "warm", None, select_epoch=best)  # fmt: skip
            seconds = time.perf_counter() - start
            post = fitted.model.predict(test)
            m = posterior_metrics(post, {"redshift": z[te]}, (task,), test.present())["redshift"]
            rows.append({"variant": name, "seed": seed, "seconds": seconds,
                         "best_epoch": fitted.model.base.best_epoch_, "healthy": fitted.health.ok,
                         "health": fitted.health.summary(),
                         "spread": fitted.model.calibration.spread.get("redshift"),
                         **{k: m[k] for k in REPORTED}})  # fmt: skip
            print(rows[-1], flush=True)
    n = {"train": len(tr), "validation": len(va), "test": len(te)}
    write_json(args.json, {"file": str(FILE), "split_seed": args.split_seed, "n": n, "rows": rows})


if __name__ == "__main__":
    main()
