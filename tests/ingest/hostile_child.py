"""Feed every corpus file to every ingest subcommand, in this one process, and report.

Run by tests/ingest/test_hostile_corpus.py as ``python -m tests.ingest.hostile_child DB HOME
CORPUS``: a process of its own, so its peak resident memory (printed last) bounds what any
single ingest took (each run's result records the peak so far, so a failure names the run that
raised it). Each run has 10 s (SIGALRM) and is followed by a snapshot of the database and the
array store.
"""

from __future__ import annotations

import gc
import json
import resource
import signal
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from app.cli import app
from storage.arrays import ArrayStore
from storage.db import make_engine
from tests.ingest.hostile import CATALOG_MAP, CORPUS
from tests.snapshots import state

SECONDS = 10
SUBCOMMANDS = {
    "images": ["--pixel-scale", "0.262"],  # PNG and JPEG need it to reach their decoder
    "spectra": [],
    "hdf5": [],
    "catalog": ["--map", CATALOG_MAP],
}


class HungError(Exception):
    """A run took longer than SECONDS."""


def _alarm(_signum: int, _frame: object) -> None:
    raise HungError


def main(db: str, home: str, corpus: str) -> None:
    signal.signal(signal.SIGALRM, _alarm)
    engine = make_engine(db)
    store = ArrayStore(Path(home) / "arrays")
    before = state(engine, store)
    # the modules imported so far live as long as the process: frozen, no collection below
    # scans them again (a full one over torch's objects took 0.2 s, a minute over the corpus)
    gc.collect()
    gc.freeze()
    results = []
    for name in CORPUS:
        for sub, extra in SUBCOMMANDS.items():
            args = ["--db", db, "--home", home, "ingest", sub, str(Path(corpus) / name),
                    "--survey", "hostile", *extra]  # fmt: skip
            start = time.perf_counter()
            signal.alarm(SECONDS)
            try:
                result = CliRunner().invoke(app, args)
                code, output = result.exit_code, result.output
                if result.exception is not None and not isinstance(result.exception, SystemExit):
                    output += f"\nuncaught {type(result.exception).__name__}: {result.exception}"
            except HungError:
                code, output = None, "hung"
            finally:
                signal.alarm(0)
            seconds = time.perf_counter() - start
            unchanged = state(engine, store) == before
            gc.collect()  # what one ingest left in cycles is not the next one's memory
            results.append({"file": name, "subcommand": sub, "code": code, "output": output,
                            "seconds": seconds, "unchanged": unchanged,
                            "peak_bytes": peak_private()})  # fmt: skip
    engine.dispose()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"results": results, "peak_bytes": peak_private(), "peak_rss_bytes": rss}))


def peak_private() -> int:
    """Peak resident memory less the file-backed pages resident now (shared libraries: torch's
    alone maps ~0.5 GB), in bytes: what the process allocated itself. The peak RSS counts
    library pages as far as the page cache, warmed by other processes, lets them fault in: the
    same run measured 0.65 GB alone and 1.05 GB (after one empty file) beside the full suite.
    Without /proc, the peak RSS."""
    status = Path("/proc/self/status")
    if not status.exists():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
    kib = {k: int(fields[k].split()[0]) for k in ("VmHWM", "RssFile")}
    return (kib["VmHWM"] - kib["RssFile"]) * 1024


if __name__ == "__main__":
    main(*sys.argv[1:4])
