"""A full-trunk scoring pass with glibc's malloc as it comes against one that keeps freed
memory for reuse (``app.services.compute.keep_freed_memory``, what the CLI does).

Each pass is its own process (malloc's settings are the process's), scores every galaxy of
the survey with its active version through the trunk (no latent cache), and times
``score_pool`` alone; the two kinds alternate and medians are reported:

    python -m bench.malloc_pass --home /tmp/g20k_heads --repeats 3 --json OUT.json
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from bench.common import machine, parser, survey_options, write_json

ONE_PASS = """
import json, sys, time
import torch
from app.config import resolve
from app.services.compute import keep_freed_memory
from app.services.loop.retrain import active_version
from app.services.loop.scoring import score_pool
from storage.db import session_scope
kept = keep_freed_memory() if sys.argv[3] == "kept" else False
torch.set_num_threads(int(sys.argv[4]))
settings = resolve(None, sys.argv[1])
engine = settings.engine()
with session_scope(engine) as session:
    version_id = active_version(session, sys.argv[2]).id
start = time.perf_counter()
score_pool(engine, settings.store(), settings.home, version_id)
print(json.dumps({"seconds": time.perf_counter() - start, "kept": kept}))
"""


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = parser(__doc__)
    survey_options(p, task=False)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json")
    a = p.parse_args(argv)
    seconds: dict[str, list[float]] = {"plain": [], "kept": []}
    for r in range(a.repeats):
        for kind in ("plain", "kept") if r % 2 == 0 else ("kept", "plain"):
            out = subprocess.run(
                [sys.executable, "-c", ONE_PASS, a.home, a.survey, kind, str(a.threads)],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            result = json.loads(out.strip().splitlines()[-1])
            if kind == "kept" and not result["kept"]:
                raise SystemExit("malloc refused the settings (not glibc?)")
            seconds[kind].append(result["seconds"])
            print(f"repeat {r}, {kind}: {result['seconds']:.1f} s", flush=True)
    median = {k: statistics.median(v) for k, v in seconds.items()}
    print(f"medians: plain {median['plain']:.1f} s, kept {median['kept']:.1f} s "
          f"(kept / plain {median['kept'] / median['plain']:.2f})")  # fmt: skip
    result = {"args": vars(a), "machine": machine(a.threads), "seconds": seconds, "median": median}
    write_json(a.json, result)
    return result


if __name__ == "__main__":
    main()
