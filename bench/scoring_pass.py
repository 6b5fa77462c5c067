"""A scoring pass (``score_pool``: read, screen, predict, recalibrate, write the scores) over a
survey whose cutouts are stored in the network's form, as ``galactive`` ingests them now,
against a copy of the same survey with that form removed, as surveys were ingested before
issue 21 (every pass then stretches every cutout again). The two are interleaved, every pass
scores every galaxy with the survey's active version, and medians are reported.

    python -m bench.scoring_pass --home /tmp/demo --repeats 3 --threads 2 --json OUT.json
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import torch

from app.config import Settings, resolve
from app.services.data.arrays import survey_refs
from app.services.loop.retrain import active_version
from app.services.loop.scoring import score_pool
from bench.common import machine, parser, run_options, survey_options, write_json
from storage.db import session_scope


def strip_network_form(home: Path) -> int:
    """Delete every "network" dataset under ``home``'s array store; how many there were."""
    removed = 0
    for path in sorted((home / "arrays").glob("*.h5")):
        with h5py.File(path, "r+") as f:
            for group in f.get("images", {}).values():
                if "network" in group:
                    del group["network"]
                    removed += 1
    return removed


def one_pass(settings: Settings, version_id: int) -> float:
    """Score the pool once (every galaxy, every task); seconds."""
    engine = settings.engine()
    try:
        start = time.perf_counter()
        score_pool(engine, settings.store(), settings.home, version_id)
        return time.perf_counter() - start
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = parser(__doc__)
    survey_options(p, task=False)
    run_options(p, threads=2, seed=False)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    stored = resolve(None, a.home)
    with tempfile.TemporaryDirectory(prefix="galactive-pixels-") as tmp:
        copy = Path(tmp) / "home"
        shutil.copytree(stored.home, copy)
        pixels = resolve(None, copy)
        removed = strip_network_form(copy)
        if not removed:
            raise SystemExit(f"{a.home}: no cutout stored in the network's form; re-ingest it")
        engine = stored.engine()
        with session_scope(engine) as session:
            version = active_version(session, a.survey)
            if version is None:
                raise SystemExit(f"{a.survey}: no active model version")
            version_id = version.id
            galaxies = len(survey_refs(session, a.survey))
        engine.dispose()
        runs = {"network form stored": stored, "pixels only (before)": pixels}
        seconds: dict[str, list[float]] = {k: [] for k in runs}
        for r in range(a.repeats):
            names = list(runs)[r % 2 :] + list(runs)[: r % 2]
            for name in names:
                s = one_pass(runs[name], version_id)
                seconds[name].append(s)
                print(f"  repeat {r + 1}/{a.repeats} {name:22s} {galaxies / s:8.1f} galaxies/s")
    medians = {k: statistics.median(v) for k, v in seconds.items()}
    before, after = medians["pixels only (before)"], medians["network form stored"]
    result = {
        "machine": machine(a.threads),
        "arguments": vars(a),
        "galaxies": galaxies,
        "seconds": seconds,
        "median_seconds": medians,
        "galaxies_per_second": {k: galaxies / v for k, v in medians.items()},
        "speedup": before / after,
    }
    print(f"{galaxies} galaxies, median of {a.repeats}: {galaxies / after:.0f} galaxies/s stored, "
          f"{galaxies / before:.0f} before; {before / after:.2f}x")  # fmt: skip
    write_json(a.json, result)
    return result


if __name__ == "__main__":
    main()
