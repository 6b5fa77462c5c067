"""Every fit of an experiment against the others at its label count: broken fits and coverage.

A fit is broken when its primary metric is worse than BROKEN x the median of all fits (every
strategy and seed) at the same label count, or its 68% coverage is outside COVERAGE; prints
one line per label count and the broken fits, and the window verdict of each strategy.

    python -m bench.fit_spread docs/experiments/redshift_photometry_sdss.json
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.common import parser, write_json

BROKEN = 1.3
COVERAGE = (0.60, 0.76)


def fits(result: dict) -> list[dict]:
    """Every fit: strategy, seed position, labels, primary metric, 68% coverage, health."""
    metric = result["primary_metric"]
    out = []
    for name, entry in result["strategies"].items():
        for k, records in enumerate(entry["seeds"]):
            for rec in records:
                out.append({"strategy": name, "seed": k, "n_labels": rec["n_labels"],
                            "metric": rec["metrics"][metric],
                            "coverage_68": rec["metrics"].get("coverage_68"),
                            "healthy": rec.get("healthy")})  # fmt: skip
    return out


def check(result: dict) -> dict:
    """Per label count: median, worst ratio to it, coverage range; and the broken fits."""
    higher = result["higher_is_better"]
    by_n: dict[int, list[dict]] = defaultdict(list)
    for f in fits(result):
        by_n[f["n_labels"]].append(f)
    rows, broken = [], []
    for n, group in sorted(by_n.items()):
        values = np.array([f["metric"] for f in group])
        median = float(np.median(values))
        ratio = median / values if higher else values / median
        cover = np.array([np.nan if f["coverage_68"] is None else f["coverage_68"] for f in group])
        for f, r, c in zip(group, ratio, cover, strict=True):
            if r > BROKEN or not COVERAGE[0] <= c <= COVERAGE[1]:
                broken.append({**f, "ratio_to_median": float(r)})
        rows.append({"n_labels": n, "fits": len(group), "median": median,
                     "worst_ratio": float(ratio.max()), "coverage_68_min": float(np.nanmin(cover)),
                     "coverage_68_max": float(np.nanmax(cover))})  # fmt: skip
    windows = {s: e.get("window") for s, e in result["strategies"].items() if s != "random"}
    return {"per_label_count": rows, "broken": broken, "windows": windows}


def main() -> None:
    p = parser(__doc__)
    p.add_argument("result", help="an experiment's JSON (galactive experiment --json)")
    p.add_argument("--json", help="write the check here")
    args = p.parse_args()
    out = check(json.loads(Path(args.result).read_text()))
    for r in out["per_label_count"]:
        print(f"{r['n_labels']:5d} labels, {r['fits']} fits: median {r['median']:.5f}, worst "
              f"{r['worst_ratio']:.2f}x, 68% coverage {r['coverage_68_min']:.3f}-"
              f"{r['coverage_68_max']:.3f}")  # fmt: skip
    print(f"broken fits (> {BROKEN}x the median, or 68% coverage outside {COVERAGE}): "
          f"{len(out['broken'])}")  # fmt: skip
    for f in out["broken"]:
        print(f"  {f}")
    for s, w in out["windows"].items():
        if w:
            print(f"{s}: {w}")
    write_json(args.json, out)


if __name__ == "__main__":
    main()
