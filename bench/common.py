"""What the benchmark scripts share: their command line's common options and the JSON result."""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

import torch


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser described by the first paragraph of a script's docstring."""
    return argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])


def survey_options(
    p: argparse.ArgumentParser, *, task: bool = True, modalities: bool = False
) -> None:
    """--home (a survey's home) and --survey, and optionally --task and --modalities."""
    p.add_argument("--home", required=True, help="a survey's home")
    p.add_argument("--survey", default="mock")
    if task:
        p.add_argument("--task", default="morphology")
    if modalities:
        p.add_argument("--modalities", default="image")


def run_options(p: argparse.ArgumentParser, *, threads: int = 1, seed: bool = True) -> None:
    """--threads (torch CPU threads), --json (where the result goes) and optionally --seed."""
    if seed:
        p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=threads)
    p.add_argument("--json", help="write the results here")


def write_json(path: str | None, result: dict[str, Any], *, indent: int = 2) -> None:
    """Write ``result`` to ``path`` when one was given (``--json``)."""
    if path:
        Path(path).write_text(json.dumps(result, indent=indent))


def machine(threads: int) -> dict[str, object]:
    """What the numbers were measured on."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": threads,
    }
