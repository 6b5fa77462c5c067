"""Pretrain a survey's encoder on every galaxy (:mod:`bayes.pretrain`), as numbered versions on
disk: ``<home>/encoders/<survey>/v<N>/``. A run saves its state after every epoch; a run killed
at any point (``kill -9`` included) is taken up where its last epoch ended by the next run with
the same settings, and ends with the same weights as one that never stopped.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.config import Settings
from app.services.data.arrays import load_arrays
from app.services.models.training import read_survey
from bayes.config import ModelConfig, TaskConfig
from bayes.data import MODALITIES
from bayes.layers.fusion import Trunk
from bayes.model import input_widths
from bayes.pretrain import PretrainConfig, pretrain
from bayes.pretrained import ENCODER, STATE, load_state, save_encoder, save_state

SETTINGS = "settings.json"
PLACEHOLDER = (TaskConfig("pretraining", "gaussian"),)  # a trunk has no task; a config needs one


@dataclass(frozen=True)
class PretrainResult:
    """A finished encoder version: where it is, on how many galaxies, its last epoch's losses
    (reconstruction, and the invariance or contrastive term if asked), and whether it went on
    from an interrupted run."""

    directory: Path
    galaxies: int
    losses: dict[str, float]
    seconds: float
    resumed_from: int


def encoders_dir(settings: Settings, survey: str) -> Path:
    """Where ``survey``'s encoder versions live."""
    return settings.home / "encoders" / survey


def find_encoder(settings: Settings, survey: str, name: str) -> Path:
    """The encoder directory ``name`` names: ``latest`` (the survey's newest finished version),
    ``vN``, or a path; ValueError listing the survey's finished versions otherwise."""
    root = encoders_dir(settings, survey)
    done = [p for p in _versions(root) if (p / ENCODER).is_file()]
    if name == "latest" and done:
        return done[-1]
    for path in (root / name, Path(name).expanduser()):
        if name != "latest" and (path / ENCODER).is_file():
            return path
    have = ", ".join(p.name for p in done) or "none: run `galactive pretrain` first"
    raise ValueError(f"no finished encoder {name!r} for survey {survey!r} (finished: {have})")


def _settings(survey: str, modalities: tuple[str, ...], config: PretrainConfig) -> dict[str, Any]:
    return {"survey": survey, "modalities": list(modalities), **dataclasses.asdict(config)}


def _versions(root: Path) -> list[Path]:
    """The version directories vN under ``root``, by N."""
    numbered = (p for p in root.glob("v*") if p.name[1:].isdigit())
    return sorted(numbered, key=lambda p: int(p.name[1:]))


def _version_dir(root: Path, wanted: dict[str, Any]) -> Path:
    """An unfinished version with the same settings (to resume), else a new numbered one."""
    versions = _versions(root)
    for path in versions:
        recorded = path / SETTINGS
        unfinished = not (path / ENCODER).exists() and recorded.exists()
        if unfinished and json.loads(recorded.read_text()) == wanted:
            return path
    number = int(versions[-1].name[1:]) + 1 if versions else 1
    path = root / f"v{number}"
    path.mkdir(parents=True)
    (path / SETTINGS).write_text(json.dumps(wanted, indent=1))
    return path


def run_pretraining(
    settings: Settings,
    survey: str,
    modalities: tuple[str, ...] = MODALITIES,
    config: PretrainConfig = PretrainConfig(),  # noqa: B008 (frozen: never mutated)
    *,
    on_step: Callable[[int, int], None] | None = None,
) -> PretrainResult:
    """Pretrain ``survey``'s encoder over ``modalities`` on every galaxy that has one of them
    (labels and splits play no part), or finish the unfinished run with these settings."""
    engine = settings.engine()
    try:
        data = read_survey(engine, survey, source="truth")
    finally:
        engine.dispose()
    cols = [MODALITIES.index(m) for m in modalities]
    rows = np.flatnonzero(data.present(np.arange(len(data.refs)))[:, cols].any(1))
    if not len(rows):
        raise ValueError(f"no galaxy of survey {survey!r} has modalities {modalities}")
    arrays = load_arrays(settings.store(), data.refs, rows, network=True).stretched()
    model_config = ModelConfig(tasks=PLACEHOLDER, modalities=modalities)
    n_bands, n_phot = input_widths(arrays, model_config)
    directory = _version_dir(encoders_dir(settings, survey), _settings(survey, modalities, config))
    resume = load_state(directory)
    torch.manual_seed(config.seed)
    trunk = Trunk(model_config, n_bands=n_bands, n_phot=n_phot)
    start = time.perf_counter()
    state = pretrain(
        trunk,
        arrays,
        config,
        n_bands=n_bands,
        n_phot=n_phot,
        resume=resume,
        on_epoch=lambda s: save_state(directory, s),
        on_step=on_step,
    )
    seconds = time.perf_counter() - start
    metadata = {
        "survey": survey,
        "galaxies": len(rows),
        "pretrain": dataclasses.asdict(config),
        "losses": state.losses,
        "seconds_this_run": seconds,
        "resumed_from_epoch": resume.epoch if resume else 0,
    }
    save_encoder(directory, trunk, model_config, n_bands=n_bands, n_phot=n_phot, metadata=metadata)
    (directory / STATE).unlink(missing_ok=True)
    last = state.losses[-1] if state.losses else {}
    return PretrainResult(directory, len(rows), last, seconds, metadata["resumed_from_epoch"])
