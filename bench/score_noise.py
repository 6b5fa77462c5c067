"""How far the queue's own scores move when the same model is scored again with other draws.

A retrain round is judged by the rank agreement of its scores with a full round's (issue 21:
Spearman >= 0.95). The scores are Monte Carlo estimates from T head draws, so two scorings of
one model with different draws already disagree; that agreement is the ceiling any round can
reach. This scores a random subset of a survey with its active version twice at T = 32 (the
product's) and twice at a larger T, each task with the product's acquisition score (BALD;
information gain for a regression), and prints the Spearman of each pair.

    python -m bench.score_noise --home /tmp/g20k --galaxies 3000 --json OUT.json
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import spearmanr

from app.config import resolve
from app.services.data.arrays import load_arrays, survey_refs
from app.services.loop.retrain import active_version
from app.services.loop.scoring import acquisition_value
from app.services.models.versions import load_version
from bayes.predict import Posterior
from bench.common import machine, parser, write_json
from storage.db import session_scope


def queue_scores(posterior: Posterior) -> dict[str, np.ndarray]:
    """Each task's acquisition score per galaxy, as the queue stores it."""
    return {k: acquisition_value(posterior, k) for k in (*posterior.probs, *posterior.draws)}


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = parser(__doc__)
    p.add_argument("--home", required=True)
    p.add_argument("--survey", default="mock")
    p.add_argument("--galaxies", type=int, default=3000)
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--reference", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    settings = resolve(None, a.home)
    engine = settings.engine()
    with session_scope(engine) as session:
        refs = survey_refs(session, a.survey)
        version = active_version(session, a.survey)
        name, checkpoint = version.name, version.checkpoint
    engine.dispose()
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(refs), min(a.galaxies, len(refs)), replace=False))
    arrays = load_arrays(settings.store(), refs, idx, network=True)
    model = load_version(settings.home, checkpoint)
    scores = {
        (t, seed): queue_scores(model.predict(arrays, samples=t, seed=seed))
        for t in (a.samples, a.reference)
        for seed in (0, 1)
    }
    result: dict[str, object] = {"machine": machine(a.threads), "version": name,
                                 "galaxies": len(idx), "spearman": {}}  # fmt: skip
    for task in scores[(a.samples, 0)]:
        pairs = {
            f"T={a.samples}, two draws": ((a.samples, 0), (a.samples, 1)),
            f"T={a.reference}, two draws": ((a.reference, 0), (a.reference, 1)),
            f"T={a.samples} against T={a.reference}": ((a.samples, 0), (a.reference, 0)),
        }
        result["spearman"][task] = {
            label: float(spearmanr(scores[x][task], scores[y][task]).statistic)
            for label, (x, y) in pairs.items()
        }
        print(task, {k: round(v, 3) for k, v in result["spearman"][task].items()}, flush=True)
    write_json(a.json, result)
    return result


if __name__ == "__main__":
    main()
