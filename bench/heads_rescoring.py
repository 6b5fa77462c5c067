"""Heads-only rescoring at survey scale: a million galaxies' cached latents through the heads.

Takes a survey home with an active version. If the pool's latents under that version's trunk
are not cached yet, one scoring pass with the cache on puts them there (timed: the full-trunk
pass, for comparison). It then writes a cache of ``--n`` galaxies by tiling those real
latents (galaxy ids offset, in a scratch directory) and times, ``--repeats`` times, what
``score_pool`` does per chunk of 2048 on a heads-only pass: read the chunk's latents and
screen flags, the heads (T = 32 draws, recalibrated) and the score rows. The database writes
are not in it (``bench/million_survey.py`` measures those). Peak RSS is the process's.
Run from the repo root:

    .venv/bin/python -m bench.heads_rescoring --home /tmp/g20k --n 1000000 --repeats 3
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sqlalchemy import select
from tqdm import tqdm

from app.config import resolve
from app.services.data.arrays import survey_refs
from app.services.loop.scoring import CHUNK, PREDICT_BATCH, prepare, score_pool, score_rows
from app.services.models.versions import load_version
from bayes.latents import Latents, trunk_digest
from bench.common import machine, write_json
from storage.db import session_scope
from storage.latents import LatentCache
from storage.models import ModelVersion, Survey


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True, help="a survey home with an active version")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json")
    a = parser.parse_args()
    settings = resolve(None, a.home)
    engine = settings.engine()
    with session_scope(engine) as session:
        version = session.scalars(select(ModelVersion).where(ModelVersion.is_active)).one()
        version_id = version.id
        survey = session.scalar(select(Survey.name).where(Survey.id == version.survey_id))
        refs = survey_refs(session, survey)
    model = load_version(settings.home, version.checkpoint)
    digest = trunk_digest(model.base)
    cache = settings.latents()
    full_pass = None
    if cache.reader(refs.survey_id, digest, refs.galaxy_id) is None:
        began = time.perf_counter()
        score_pool(engine, settings.store(), settings.home, version_id, cache=cache)
        full_pass = time.perf_counter() - began
        print(f"full-trunk pass over {len(refs)} galaxies: {full_pass:.1f} s", flush=True)
    task_ids = prepare(engine, version_id, refs=refs).task_ids
    engine.dispose()
    z, mask, flags = cache.reader(refs.survey_id, digest, refs.galaxy_id).read(refs.galaxy_id)
    scratch = Path(tempfile.mkdtemp(prefix="heads-rescoring-"))
    seconds = []
    try:
        big = LatentCache(scratch)
        writer = big.writer(0, digest)
        ids = np.arange(a.n, dtype=np.int64)
        for start in range(0, a.n, len(refs)):
            take = np.arange(start, min(start + len(refs), a.n)) - start
            writer.append(ids[start : start + len(take)], z[take], mask[take], flags[take])
        writer.commit()
        size = big.path(0, digest).stat().st_size / 1e9
        print(f"cache of {a.n} galaxies: {size:.2f} GB", flush=True)
        for r in range(a.repeats):
            began = time.perf_counter()
            reader = big.reader(0, digest, ids)
            rows = 0
            for start in tqdm(range(0, a.n, CHUNK), desc=f"repeat {r}", unit="chunk"):
                chunk = ids[start : start + CHUNK]
                lz, lmask, lflags = reader.read(chunk)
                batches = Latents.from_numpy(lz, lmask).batches(PREDICT_BATCH)
                posterior = model.predict_latents(batches, samples=32)
                rows += len(score_rows(posterior, chunk, task_ids, version_id))
                rows += int(lflags.sum()) * len(task_ids)
            seconds.append(time.perf_counter() - began)
            print(f"repeat {r}: {seconds[-1]:.1f} s, {rows} rows", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    median = statistics.median(seconds)
    print(f"heads-only rescoring of {a.n} galaxies: median {median:.1f} s "
          f"({a.n / median:.0f} galaxies/s), runs {[round(s, 1) for s in seconds]}, "
          f"peak RSS {peak:.2f} GB")  # fmt: skip
    write_json(
        a.json,
        {"args": vars(a), "machine": machine(torch.get_num_threads()), "seconds": seconds,
         "median": median, "peak_rss_gb": peak, "full_pass_seconds": full_pass,
         "pool": len(refs), "cache_gb": size},
    )  # fmt: skip


if __name__ == "__main__":
    main()
