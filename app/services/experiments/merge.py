"""One experiment result from runs of it on different seeds (several machines, or a run
continued with ``--first-seed``)."""

from __future__ import annotations

from typing import Any

from app.services.experiments.summary import summarise


def seed_ids(result: dict[str, Any]) -> list[int]:
    """The seeds an experiment result holds, in order (older results ran 0 .. seeds - 1)."""
    setup = result["setup"]
    if "seed_ids" in setup:
        return list(setup["seed_ids"])
    first = setup.get("first_seed", 0)
    return list(range(first, first + setup["seeds"]))


def merge_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from runs of the same experiment on different seeds (e.g. two machines).

    Every setup field but the seeds and the device must agree; a seed may appear once. The
    summary is recomputed over all seeds; commands, machines and wall-clock seconds are kept
    per part.
    """
    if not results:
        raise ValueError("nothing to merge")
    ignore = ("seeds", "first_seed", "seed_ids", "device")
    base = {k: v for k, v in results[0]["setup"].items() if k not in ignore}
    ids: list[int] = []
    runs: dict[str, list[list[dict[str, Any]]]] = {}
    for i, result in enumerate(results):
        setup = {k: v for k, v in result["setup"].items() if k not in ignore}
        differ = sorted(k for k in base.keys() | setup.keys() if base.get(k) != setup.get(k))
        if differ:
            raise ValueError(f"result {i + 1} was run with a different setup: {', '.join(differ)}")
        clash = set(ids) & set(seed_ids(result))
        if clash:
            raise ValueError(f"result {i + 1} repeats seeds {sorted(clash)}")
        ids += seed_ids(result)
        for name, entry in result["strategies"].items():
            runs.setdefault(name, []).extend(entry["seeds"])
    out = summarise(runs, metric=results[0]["primary_metric"],
                    higher_is_better=results[0]["higher_is_better"])  # fmt: skip
    out["setup"] = {**base, "seeds": len(ids), "seed_ids": ids}
    out["parts"] = [
        {k: r.get(k) for k in ("command", "machine", "wall_seconds")} | {"seeds": seed_ids(r)}
        for r in results
    ]
    out["survey"] = results[0].get("survey")
    return out
