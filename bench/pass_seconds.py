"""Seconds of full-trunk scoring passes (``score_pool`` with no latent cache: read, trunk,
screen, heads, write) over a survey's pool with its active version, and the commit that ran
them. Run it from two checkouts in turn to compare code on the same survey and machine:

    for r in 1 2 3; do
      (cd /tmp/before && python -m bench.pass_seconds --home /tmp/g20k --json before_$r.json)
      python -m bench.pass_seconds --home /tmp/g20k --json after_$r.json
    done
"""

from __future__ import annotations

import statistics
import subprocess
import time

import torch

from app.config import resolve
from app.services.compute import keep_freed_memory
from app.services.data.arrays import survey_refs
from app.services.loop.retrain import active_version
from app.services.loop.scoring import score_pool
from bench.common import machine, parser, run_options, survey_options, write_json
from storage.db import session_scope


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = parser(__doc__)
    survey_options(p, task=False)
    run_options(p, threads=2, seed=False)
    p.add_argument("--repeats", type=int, default=1, help="passes in this process")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    keep_freed_memory()  # as every galactive command does
    settings = resolve(None, a.home)
    engine = settings.engine()
    with session_scope(engine) as session:
        version = active_version(session, a.survey)
        if version is None:
            raise SystemExit(f"{a.survey}: no active model version")
        version_id, galaxies = version.id, len(survey_refs(session, a.survey))
    seconds = []
    try:
        for r in range(a.repeats):
            start = time.perf_counter()
            score_pool(engine, settings.store(), settings.home, version_id)
            seconds.append(time.perf_counter() - start)
            print(f"  pass {r + 1}/{a.repeats}: {seconds[-1]:.1f} s, "
                  f"{galaxies / seconds[-1]:.0f} galaxies/s")  # fmt: skip
    finally:
        engine.dispose()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    result = {
        "machine": machine(a.threads),
        "arguments": vars(a),
        "commit": commit,
        "galaxies": galaxies,
        "seconds": seconds,
        "median_seconds": statistics.median(seconds),
    }
    write_json(a.json, result)
    return result


if __name__ == "__main__":
    main()
