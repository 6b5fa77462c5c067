"""The demo's first fit on an idle machine and with one CPU-bound process beside it.

Each run copies a survey's home (SQLite database and arrays, e.g. the demo's ./galactive-data
before its first model) and times ``galactive train --survey mock --labels`` in a fresh process,
threads chosen for the load (the default). Modes alternate within each repeat (idle, busy), so
both see the same machine; ``--fixed-threads N`` adds a busy run with N threads forced, the
behaviour before the threads followed the load. Reports the median seconds per mode and the
busy/idle ratio of the medians.

    python -m bench.busy_fit --home galactive-data --repeats 3 --json busy_fit.json
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import parser, write_json

SPIN = "while True: pass"


def timed_fit(home: Path, *, busy: bool, threads: int | None) -> float:
    """Seconds of one first fit on a copy of ``home``, with a spinning process beside it when
    ``busy``."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "home"
        shutil.copytree(home, copy, ignore=shutil.ignore_patterns("checkpoints"))
        db = f"sqlite:///{copy / 'galactive.db'}"
        cli = [sys.executable, "-c", "from app.cli import main; main()"]
        cmd = [*cli, "--db", db, "--home", str(copy), "train"]
        cmd += ["--survey", "mock", "--labels"]
        if threads is not None:
            cmd += ["--threads", str(threads)]
        spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
        try:
            time.sleep(1.0 if busy else 0.0)  # the spinner is running before the fit starts
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            return time.perf_counter() - start
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--home", required=True, help="a survey home without an active model")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--fixed-threads", type=int, help="also time a busy run with these threads")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    home = Path(args.home)
    modes: dict[str, tuple[bool, int | None]] = {"idle": (False, None), "busy": (True, None)}
    if args.fixed_threads:
        modes[f"busy, {args.fixed_threads} threads forced"] = (True, args.fixed_threads)
    seconds: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(args.repeats):
        for mode, (busy, threads) in modes.items():
            if threads is not None and r > 0:
                continue  # the forced run is slow; once shows the old behaviour
            seconds[mode].append(timed_fit(home, busy=busy, threads=threads))
            print(f"repeat {r + 1}/{args.repeats} {mode}: {seconds[mode][-1]:.1f} s", flush=True)
    medians = {m: statistics.median(s) for m, s in seconds.items()}
    result: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "seconds": seconds,
        "median_seconds": medians,
        "busy_over_idle": {m: medians[m] / medians["idle"] for m in medians if m != "idle"},
    }
    for mode, median in medians.items():
        print(f"{mode}: median {median:.1f} s ({median / medians['idle']:.2f}x idle)")
    write_json(args.json, result)


if __name__ == "__main__":
    main()
