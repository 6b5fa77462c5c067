"""A large photometry-only catalog for scale benchmarks, from a survey already in a home.

Resamples the survey's ugriz fluxes with their own noise (flux + N(0, 1/ivar)) at random sky
positions and writes a Parquet catalog for ``galactive ingest catalog``:

    .venv/bin/python bench/make_1m_catalog.py --home /tmp/g1m --n 980000 --out /tmp/big980k.parquet
"""

from __future__ import annotations

import argparse

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from app.config import resolve
from app.services.data.arrays import survey_refs
from storage.db import session_scope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--survey", default="mock")
    parser.add_argument("--n", type=int, default=980_000)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    settings = resolve(None, a.home)
    engine = settings.engine()
    with session_scope(engine) as session:
        refs = survey_refs(session, a.survey)
    engine.dispose()
    located = refs.photometry.rows(np.flatnonzero(refs.photometry.present))
    store = settings.store()
    flux, ivar = store.read_rows(located, "flux"), store.read_rows(located, "ivar")
    rng = np.random.default_rng(a.seed)
    pick = rng.integers(0, len(flux), a.n)
    resampled = flux[pick] + rng.standard_normal((a.n, flux.shape[1])) / np.sqrt(ivar[pick])
    columns = {
        "objid": [f"big{i:07d}" for i in range(a.n)],
        "ra": rng.uniform(0, 360, a.n),
        "dec": np.degrees(np.arcsin(rng.uniform(-1, 1, a.n))),
    }
    for b, band in enumerate("ugriz"):
        columns[f"flux_{band}"] = resampled[:, b]
        columns[f"ivar_{band}"] = ivar[pick, b]
    pq.write_table(pa.table(columns), a.out)
    print(f"wrote {a.n} rows to {a.out}")


if __name__ == "__main__":
    main()
