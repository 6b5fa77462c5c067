"""``evaluation.json``: the machine-readable twin of ``evaluation.md``.

Every result (metrics per task, n, training labels, timings, calibration), the sequential
steps, the classical-floor checks and the run's metadata (command, machine, survey, split).
Non-finite numbers become null so that the file is strict JSON.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from research.evaluation.baseline_floor import FloorCheck
from research.evaluation.run import Result

SCHEMA = 1


def result_json(result: Result) -> dict[str, Any]:
    """One result as plain JSON types."""
    return jsonable(dataclasses.asdict(result))


def evaluation_json(
    results: Sequence[Result],
    *,
    tasks: Mapping[str, str],
    floor: Sequence[FloorCheck],
    meta: Mapping[str, Any],
    sequential: Sequence[Result] | None = None,
    figures: Sequence[str] = (),
) -> dict[str, Any]:
    """The whole evaluation as one JSON-ready dict.

    tasks: {task: "classification" | "redshift" | "other"}; meta: the run's description
    (command, machine, timings, survey, targets), copied under "run".
    """
    return {
        "schema": SCHEMA,
        "run": jsonable(dict(meta)),
        "tasks": dict(tasks),
        "results": [result_json(r) for r in results],
        "against_classical": [jsonable(dataclasses.asdict(c)) for c in floor],
        "sequential": [result_json(r) for r in sequential] if sequential else None,
        "figures": list(figures),
    }


def write_json(path: Path, document: Mapping[str, Any]) -> Path:
    """Write ``document`` as strict, indented JSON; returns ``path``."""
    path.write_text(json.dumps(jsonable(document), indent=2, allow_nan=False) + "\n")
    return path


def jsonable(value: Any) -> Any:
    """Tuples to lists, numpy scalars and arrays to Python, NaN and ±inf to None."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
