"""The stored network form's dtype: write it again from the pixels in another dtype in a copy of
a survey's store, then compare the posteriors the active version gives from the two forms.

    cp -a /tmp/g20k /tmp/g20k32
    python -m bench.network_dtype --home /tmp/g20k32 --rewrite float32
    python -m bench.network_dtype --home /tmp/g20k --other /tmp/g20k32 --json compare.json

(then ``bench.pass_seconds`` on each home, alternating, for the time of a pass.)
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch
from scipy.stats import spearmanr

from app.config import resolve
from app.services.data.arrays import NETWORK_IMAGES, load_arrays, survey_refs
from app.services.loop.retrain import active_version
from app.services.loop.strategy import acquisition_values
from app.services.models.versions import load_version
from bench.common import machine, parser, run_options, survey_options, write_json
from storage.db import session_scope


def rewrite(array_root: Path, dtype: str, *, block: int = 2048) -> int:
    """Compute every "network" dataset under ``array_root`` again from its pixels and store it
    in ``dtype`` (same chunks, no compression), as an ingest of that dtype writes it; the
    number rewritten."""
    count = 0
    for path in sorted(Path(array_root).rglob("*.h5")):
        with h5py.File(path, "r+") as f:
            cutouts = f["images"].values() if "images" in f else []
            for group in [g for g in cutouts if "network" in g]:
                chunks, pixels = group["network"].chunks, group["pixels"]
                del group["network"]
                new = group.create_dataset("network", pixels.shape, dtype=dtype, chunks=chunks)
                for start in range(0, len(pixels), block):
                    new[start : start + block] = NETWORK_IMAGES(pixels[start : start + block])
                count += 1
    return count


def compare(home: Path, other: Path, survey: str, galaxies: int) -> dict[str, object]:
    """The active version's posteriors from ``home``'s and ``other``'s stored network form of
    the first ``galaxies`` galaxies: largest differences and each task's score rank agreement."""
    settings, settings_other = resolve(None, home), resolve(None, other)
    engine = settings.engine()
    with session_scope(engine) as session:
        version = active_version(session, survey)
        if version is None:
            raise SystemExit(f"{survey}: no active model version")
        checkpoint, refs = version.checkpoint, survey_refs(session, survey)
    engine.dispose()
    model = load_version(settings.home, checkpoint)
    idx = np.arange(min(galaxies, len(refs)))
    a, b = (
        model.predict(load_arrays(s.store(), refs, idx, network=True), seed=0)
        for s in (settings, settings_other)
    )
    out: dict[str, object] = {}
    for task in (*a.probs, *a.loc):
        diff = a.probs[task] - b.probs[task] if task in a.probs else a.loc[task] - b.loc[task]
        scores = [acquisition_values(p, task, "bald") for p in (a, b)]
        out[task] = {
            "max_abs_difference": float(np.abs(diff).max()),
            "score_spearman": float(spearmanr(*scores).statistic),
            "score_max_relative_difference": float(
                (np.abs(scores[0] - scores[1]) / np.maximum(np.abs(scores[0]), 1e-12)).max()
            ),
        }
    return {"galaxies": len(idx), "tasks": out}


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = parser(__doc__)
    survey_options(p, task=False)
    run_options(p, threads=2, seed=False)
    p.add_argument("--rewrite", choices=("float16", "float32"), help="rewrite the form so")
    p.add_argument("--other", help="a copy of --home's survey to compare posteriors with")
    p.add_argument("--galaxies", type=int, default=20_000, help="galaxies compared")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    result: dict[str, object] = {"machine": machine(a.threads), "arguments": vars(a)}
    if a.rewrite:
        result["rewritten"] = rewrite(resolve(None, a.home).array_root, a.rewrite)
    if a.other:
        result |= compare(Path(a.home), Path(a.other), a.survey, a.galaxies)
    print(result)
    write_json(a.json, result)
    return result


if __name__ == "__main__":
    main()
