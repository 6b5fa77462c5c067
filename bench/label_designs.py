"""Does a labelled set of another shape than the survey's beat a random one on real photo-z?

A static screen for issue 17's last line (no active strategy beat random selection on SDSS
σ_NMAD): draw n galaxies from the training split of kcorrect's SDSS file by a fixed design, fit
the product's model on them (``fit_checked``, the experiment's step floor), score the test
split, and compare with n random galaxies on the same fit seed. Designs, in catalogue colour
space (:func:`bayes.colours.colour_features`): ``flatA`` draws with weight p(x)^(-A/100) (a kNN
density, 30 neighbours, the weight capped at its 99th percentile), so the set's density is
p^(1-A/100); ``clean`` and ``noisy`` weigh by the inverse or the colour error;
``strataP`` is stratified sampling over 50 k-means clusters with cluster shares ∝ size^(P/100)
(``strata`` = proportional).

    python -m bench.label_designs --split-seed 0 --sizes 1000,1500 \
        --designs random,flat25,flat50,clean,strata --json docs/benchmarks/label_designs_split0.json
    python -m bench.label_designs --split-seed 1 --sizes 1000,2000 \
        --designs random,flat25,flat15,strata,strata75 \
        --json docs/benchmarks/label_designs_split1.json
"""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors

from app.services.models.fit_health import baseline_predictions
from app.services.models.metrics import posterior_metrics
from app.services.models.training import fit_checked
from bayes.colours import colour_features
from bayes.config import MIN_STEPS, ModelConfig, TaskConfig
from bayes.data import asinh_magnitudes
from bench.common import machine, parser, write_json
from bench.real_photoz import load

NEIGHBOURS = 30
STRATA = 50


class Designs:
    """The pool's colour features, kNN log-density and colour error, and draws from them."""

    def __init__(self, flux: np.ndarray, ivar: np.ndarray) -> None:
        self.features = colour_features(flux, ivar)
        nn = NearestNeighbors(n_neighbors=NEIGHBOURS + 1).fit(self.features)
        radius = nn.kneighbors(self.features)[0][:, -1]
        self.log_density = -self.features.shape[1] * np.log(radius)  # up to a constant
        _, err = asinh_magnitudes(flux, ivar)
        self.colour_error = np.sqrt((err[:, 1:] ** 2 + err[:, :-1] ** 2).sum(1))

    def draw(self, design: str, n: int, rng: np.random.Generator) -> np.ndarray:
        """n pool rows by ``design``, without replacement."""
        if design.startswith("strata"):
            return self._stratified(float(design[6:] or 100) / 100, n, rng)
        size = len(self.features)
        if design == "random":
            log_w = np.zeros(size)
        elif design.startswith("flat"):
            log_w = -float(design[4:]) / 100 * self.log_density
            log_w = np.minimum(log_w, np.quantile(log_w, 0.99))
        elif design in ("clean", "noisy"):
            log_w = np.log(self.colour_error) * (1 if design == "noisy" else -1)
        else:
            raise ValueError(f"unknown design {design!r}")
        return np.argsort(-(log_w + rng.gumbel(size=size)))[:n]  # Gumbel top-n: ∝ weight

    def _stratified(self, power: float, n: int, rng: np.random.Generator) -> np.ndarray:
        seed = int(rng.integers(1 << 30))
        cluster = KMeans(n_clusters=STRATA, n_init=1, random_state=seed).fit_predict(self.features)
        counts = np.bincount(cluster, minlength=STRATA)
        share = counts**power / (counts**power).sum()
        take = np.minimum(np.floor(share * n).astype(int), counts)
        left = np.where(take < counts, share * n - take, -1)
        take[np.argsort(-left)[: n - take.sum()]] += 1  # largest remainders
        members = (np.flatnonzero(cluster == c) for c in range(STRATA))
        picks = [rng.choice(m, t, replace=False) for m, t in zip(members, take, strict=True)]
        return np.concatenate(picks)


def paired(rows: list[dict], design: str, n: int) -> dict[str, float | int] | None:
    """Mean σ_NMAD of ``design`` and of random at n, their paired difference and wins (None
    without a seed that has both)."""
    mine = {r["seed"]: r["sigma_nmad"] for r in rows if r["design"] == design and r["n"] == n}
    base = {r["seed"]: r["sigma_nmad"] for r in rows if r["design"] == "random" and r["n"] == n}
    seeds = sorted(set(mine) & set(base))
    if not seeds:
        return None
    diff = np.array([mine[s] - base[s] for s in seeds])
    return {
        "design": design,
        "n": n,
        "seeds": len(seeds),
        "sigma_nmad": float(np.mean([mine[s] for s in seeds])),
        "random": float(np.mean([base[s] for s in seeds])),
        "difference": float(diff.mean()),
        "difference_std": float(diff.std(ddof=1)) if len(diff) > 1 else 0.0,
        "ahead": int((diff < 0).sum()),
    }


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--seeds", default="0,1,2,3,4", help="fit seeds, comma-separated")
    p.add_argument("--sizes", default="1000,1500")
    p.add_argument("--designs", default="random,flat25,flat50,clean,strata")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    arrays, z, (tr, va, te) = load(args.split_seed)
    pool, held_out, test = arrays.subset(tr), arrays.subset(va), arrays.subset(te)
    designs = Designs(pool.phot_flux, pool.phot_ivar)
    task = TaskConfig("redshift", "student_t", transform="log1p", df=5.0)
    sizes = [int(s) for s in args.sizes.split(",")]
    names = args.designs.split(",")
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for n in sizes:
            for name in names:
                pick = designs.draw(name, n, np.random.default_rng([seed, n, 7]))
                config = ModelConfig(tasks=(task,), modalities=("photometry",), seed=seed,
                                     min_steps=MIN_STEPS)  # fmt: skip
                train, targets = pool.subset(pick), {"redshift": z[tr][pick]}
                baseline = baseline_predictions(config, train, targets, held_out, seed=seed)
                start = time.perf_counter()
                fitted = fit_checked(config, train, targets, held_out, {"redshift": z[va]},
                                     baseline, None, "warm", None)  # fmt: skip
                m = posterior_metrics(fitted.model.predict(test), {"redshift": z[te]}, (task,),
                                      test.present())["redshift"]  # fmt: skip
                error = float(designs.colour_error[pick].mean())
                rows.append({"seed": seed, "n": n, "design": name,
                             "seconds": time.perf_counter() - start, "healthy": fitted.health.ok,
                             "sigma_nmad": m["sigma_nmad"], "coverage_68": m["coverage_68"],
                             "outlier_fraction": m["outlier_fraction"],
                             "mean_colour_error": error})  # fmt: skip
                print(rows[-1], flush=True)
    pairs = (paired(rows, d, n) for n in sizes for d in names if d != "random")
    summary = [s for s in pairs if s is not None]
    for s in summary:
        print(s)
    write_json(args.json, {"split_seed": args.split_seed, "machine": machine(args.threads),
                           "rows": rows, "summary": summary})  # fmt: skip


if __name__ == "__main__":
    main()
