"""Score a survey's pool on a Dask cluster: Parquet partitions out, score rows back.

The client writes the pool's array references as Parquet partitions (one file per
``partition`` galaxies, cut at multiples of the scoring chunk so results equal
single-process scoring), workers read a partition, the checkpoint and the array store (a
shared filesystem on a multi-node cluster), score it chunk by chunk, and return the rows;
the client alone writes them to the database, so workers need no database access.
The same call runs on a LocalCluster (``scheduler=None``) or a cluster at an address.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from app.config import Settings
from app.services.compute import keep_freed_memory
from app.services.data.arrays import ModalityRefs, SurveyRefs
from app.services.loop.scoring import CHUNK, insert_scores, pool_screen, prepare, score_chunk
from app.services.loop.screening import ColourScreen
from app.services.models.versions import load_version
from bayes.checkpoint import read_config
from storage.arrays import ArrayStore

MODALITY_NAMES = ("image", "spectrum", "photometry")
PartitionHook = Callable[[int, int], None]  # (partitions done, total)


def write_partitions(refs: SurveyRefs, out: Path, *, partition: int) -> list[Path]:
    """The pool's references as Parquet files of ``partition`` galaxies each, in id order."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, start in enumerate(range(0, len(refs), partition)):
        stop = min(start + partition, len(refs))
        columns = {"galaxy_id": refs.galaxy_id[start:stop]}
        columns["source_id"] = refs.source_id[start:stop].astype(str)
        sources = {}
        for name in MODALITY_NAMES:
            m: ModalityRefs = getattr(refs, name)
            for field in ("source", "start", "length"):
                columns[f"{name}_{field}"] = getattr(m, field)[start:stop]
            sources[name] = [list(s) for s in m.sources]
        table = pa.table(columns).replace_schema_metadata(
            {"galactive": json.dumps({"survey_id": refs.survey_id, "sources": sources})}
        )
        path = out / f"part-{number:05d}.parquet"
        pq.write_table(table, path)
        paths.append(path)
    return paths


def read_partition(path: Path) -> SurveyRefs:
    """A partition written by :func:`write_partitions`, as the SurveyRefs of its galaxies."""
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"galactive"])
    col = {name: table.column(name).to_numpy() for name in table.column_names}

    def modality(name: str) -> ModalityRefs:
        return ModalityRefs(
            tuple(tuple(s) for s in meta["sources"][name]),
            col[f"{name}_source"].astype(np.int64),
            col[f"{name}_start"].astype(np.int64),
            col[f"{name}_length"].astype(np.int64),
        )

    return SurveyRefs(
        survey_id=meta["survey_id"],
        galaxy_id=col["galaxy_id"].astype(np.int64),
        source_id=col["source_id"].astype(object),
        image=modality("image"),
        spectrum=modality("spectrum"),
        photometry=modality("photometry"),
    )


def score_partition(
    path: str,
    home: str,
    array_root: str,
    checkpoint: str,
    task_ids: dict[str, int],
    version_id: int,
    *,
    chunk: int = CHUNK,
    samples: int = 32,
    threads: int = 1,
    colours: ColourScreen | None = None,
) -> list[dict]:
    """Run on a worker: the score rows of one partition, chunk by chunk; colours: the colour
    screen the client fitted to the whole pool."""
    import torch

    keep_freed_memory()  # a worker process, like the CLI's, reuses the trunk's buffers
    torch.set_num_threads(threads)
    refs = read_partition(Path(path))
    model = load_version(Path(home), checkpoint)
    store = ArrayStore(Path(array_root))
    rows: list[dict] = []
    for start in range(0, len(refs), chunk):
        idx = np.arange(start, min(start + chunk, len(refs)))
        rows += score_chunk(
            model, store, refs, idx, task_ids, version_id, samples=samples, colours=colours
        )
    return rows


def score_pool_dask(
    settings: Settings,
    version_id: int,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    partition: int = 4 * CHUNK,
    chunk: int = CHUNK,
    samples: int = 32,
    on_partition: PartitionHook | None = None,
) -> int:
    """Score every galaxy of the version's survey on Dask and write the rows; their count.

    scheduler: a ``dask.distributed`` scheduler address, or None for a LocalCluster of
    ``workers`` single-threaded processes on this machine.
    """
    from dask.distributed import Client, LocalCluster, as_completed

    if partition < chunk or partition % chunk:
        raise ValueError(f"partition must be a multiple of the chunk {chunk}, got {partition}")
    engine = settings.engine()
    plan = prepare(engine, version_id)
    modalities = read_config(settings.home / plan.checkpoint).modalities  # not its weights
    colours = pool_screen(settings.store(), plan.refs, modalities)
    cluster = None
    try:
        with tempfile.TemporaryDirectory(dir=settings.home, prefix="partitions-") as tmp:
            paths = write_partitions(plan.refs, Path(tmp), partition=partition)
            if scheduler is None:
                cluster = LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                )
            with Client(scheduler or cluster) as client:
                futures = client.map(
                    score_partition,
                    [str(p) for p in paths],
                    home=str(settings.home),
                    array_root=str(settings.array_root),
                    checkpoint=plan.checkpoint,
                    task_ids=plan.task_ids,
                    version_id=version_id,
                    chunk=chunk,
                    samples=samples,
                    colours=colours,
                )
                written = 0
                for done, future in enumerate(as_completed(futures), start=1):
                    rows = future.result()
                    insert_scores(engine, rows)
                    written += len(rows)
                    if on_partition is not None:
                        on_partition(done, len(paths))
    finally:
        if cluster is not None:
            cluster.close()
        engine.dispose()
    return written
