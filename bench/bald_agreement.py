"""Do BALD rankings from T = 32 posterior samples agree with a long-run reference?

Issue 3 asks for Spearman ≥ 0.8 between the morphology BALD of T = 32 samples and a long-run
reference (T = 4096) of the same model. This reads a recorded model version (by name; default
the survey's active one) and its recalibration, predicts held-out (test-split) galaxies once
with ``--reference`` samples (seed 0) and ``--seeds`` times with ``--samples`` (seeds 1..K),
and prints the Spearman correlation per seed. Run from the repo root:

    .venv/bin/python -m bench.bald_agreement --home /tmp/g20k --version mock-v1 \\
        --json docs/benchmarks/bald_agreement_20k.json
"""

from __future__ import annotations

import statistics

import numpy as np
import torch
from sqlalchemy import select

from app.config import resolve
from app.services.data.arrays import load_arrays
from app.services.models.training import read_survey
from app.services.models.versions import load_version
from bayes.predict import Posterior
from bench.common import parser, run_options, survey_options, write_json
from bench.rank_agreement import bald_agreement
from storage.db import session_scope
from storage.models import ModelVersion, Survey


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = parser(__doc__)
    survey_options(p)
    p.add_argument("--version", help="model version name (default: the active one)")
    p.add_argument("--galaxies", type=int, default=2000, help="test-split galaxies ranked")
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--reference", type=int, default=4096)
    p.add_argument("--seeds", type=int, default=5)
    run_options(p, threads=2, seed=False)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    settings = resolve(home=a.home)
    engine = settings.engine()
    with session_scope(engine) as session:
        query = select(ModelVersion).join(Survey).where(Survey.name == a.survey)
        query = query.where(ModelVersion.name == a.version if a.version else ModelVersion.is_active)
        version = session.scalars(query).one()
        name, checkpoint = version.name, version.checkpoint
    model = load_version(settings.home, checkpoint)
    data = read_survey(engine, a.survey, source="truth")
    rows = np.flatnonzero(data.split == "test")[: a.galaxies]

    arrays = load_arrays(settings.store(), data.refs, rows)  # read once for all six predictions

    def predict(samples: int, seed: int) -> Posterior:
        return model.predict(arrays, samples=samples, seed=seed)

    rho, ref = bald_agreement(
        predict, task=a.task, samples=a.samples, reference=a.reference, seeds=a.seeds
    )
    result = {
        "version": name,
        "arguments": vars(a),
        "galaxies": len(rows),
        "reference_bald_percentiles_10_50_90": np.percentile(ref, [10, 50, 90]).tolist(),
        "spearman": {"per_seed": rho, "min": min(rho), "median": statistics.median(rho)},
    }
    print(
        f"{name}: BALD Spearman, T={a.samples} vs T={a.reference} on {len(rows)} test galaxies:"
        f" per seed {[round(r, 3) for r in rho]}, median {statistics.median(rho):.3f},"
        f" min {min(rho):.3f}; reference BALD 10/50/90% "
        f"{np.round(result['reference_bald_percentiles_10_50_90'], 5).tolist()} nats"
    )
    write_json(a.json, result)
    return result


if __name__ == "__main__":
    main()
