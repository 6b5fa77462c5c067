"""Scoring a survey's pool: one process against a Dask LocalCluster of 1 and 2 workers.

Runs ``galactive score`` as a subprocess per configuration (so each pays its own start-up,
as a user would), interleaving the configurations within each repeat, and prints the median
wall time per configuration and the ratio of 1-worker to 2-worker Dask time.

    .venv/bin/python -m bench.dask_scoring --home /tmp/g2k_bench --version 2 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

from bench.common import write_json

CONFIGS = {
    "single": [],
    "dask-1": ["--dask", "--workers", "1"],
    "dask-2": ["--dask", "--workers", "2"],
}


def run(home: str, version: int, extra: list[str], chunk: int, partition: int) -> float:
    """Wall seconds of one ``galactive score`` (1 torch thread per process), through the
    trunk: the latent cache an earlier single-process pass left is removed first (the Dask
    path does not read it)."""
    shutil.rmtree(os.path.join(home, "latents"), ignore_errors=True)
    args = [sys.executable, "-c", "from app.cli import main; main()", "--home", home, "score",
            "--version", str(version), "--chunk", str(chunk), "--partition", str(partition),
            *extra]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    subprocess.run(args, check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--partition", type=int, default=512)
    parser.add_argument("--json")
    a = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for r in range(a.repeats):
        order = list(CONFIGS)[r % len(CONFIGS) :] + list(CONFIGS)[: r % len(CONFIGS)]
        for name in order:
            times[name].append(run(a.home, a.version, CONFIGS[name], a.chunk, a.partition))
            print(f"repeat {r}: {name} {times[name][-1]:.1f} s", flush=True)
    median = {name: statistics.median(t) for name, t in times.items()}
    print("| configuration | median wall s | runs |")
    print("|---|---:|---|")
    for name, t in times.items():
        print(f"| {name} | {median[name]:.1f} | {', '.join(f'{x:.1f}' for x in t)} |")
    print(f"dask-1 / dask-2 = {median['dask-1'] / median['dask-2']:.2f}")
    print(f"single / dask-2 = {median['single'] / median['dask-2']:.2f}")
    write_json(a.json, {"args": vars(a), "seconds": times, "median": median})


if __name__ == "__main__":
    main()
