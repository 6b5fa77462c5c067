"""Image normalisation: the float32 partition-median asinh stretch against float64 np.median.

Scoring streams every galaxy through :func:`bayes.data.asinh_stretch`; the float64
``np.median`` and ``np.arcsinh`` version it replaced had taken most of the time of predicting a
pool. This reads ``--galaxies`` mock cutouts from a home, stretches them ``--repeats`` times
each way and reports the median seconds, the ratio and the largest difference. Run from the
repo root:

    .venv/bin/python -m bench.stretch --home /tmp/g20k --json docs/benchmarks/stretch.json
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time

import numpy as np

from app.config import resolve
from app.services.data.arrays import load_arrays
from app.services.models.training import read_survey
from bayes.data import asinh_stretch
from bench.common import parser, survey_options, write_json


def float64_stretch(images: np.ndarray, softening: float = 3.0) -> np.ndarray:
    """The baseline: the same stretch with float64 ``np.median`` and ``np.arcsinh``."""
    x = images.astype(np.float64)
    med = np.median(x, axis=(2, 3), keepdims=True)
    sigma = 1.4826 * np.median(np.abs(x - med), axis=(2, 3), keepdims=True)
    sigma = np.where(sigma > 0, sigma, 1.0)
    return np.arcsinh((x - med) / (softening * sigma)).astype(np.float32)


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = parser(__doc__)
    survey_options(p, task=False)
    p.add_argument("--galaxies", type=int, default=512, help="cutouts per stretch (a batch)")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--json", help="write the results here")
    a = p.parse_args(argv)
    settings = resolve(home=a.home)
    data = read_survey(settings.engine(), a.survey, source="truth")
    rows = np.flatnonzero(data.refs.image.present)[: a.galaxies]
    images = load_arrays(settings.store(), data.refs, rows).images
    seconds: dict[str, list[float]] = {"float64": [], "float32": []}
    for _ in range(a.repeats):  # interleaved, so drifts in machine load hit both alike
        for name, stretch in (("float64", float64_stretch), ("float32", asinh_stretch)):
            start = time.perf_counter()
            stretch(images)
            seconds[name].append(time.perf_counter() - start)
    median = {k: statistics.median(v) for k, v in seconds.items()}
    result = {
        "command": "python -m bench.stretch " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": f"{platform.machine()}, numpy {np.__version__}, one process",
        "images": list(images.shape),
        "median_seconds": median,
        "speedup": median["float64"] / median["float32"],
        "max_abs_difference": float(np.abs(asinh_stretch(images) - float64_stretch(images)).max()),
        "seconds": seconds,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "seconds"}, indent=1))
    write_json(a.json, result, indent=1)
    return result


if __name__ == "__main__":
    main()
