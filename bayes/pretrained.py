"""A pretrained trunk on disk, and a pretraining run's resumable state: safetensors and JSON,
never pickle. Each is one file written to a temporary name and renamed, so a run killed while
saving leaves the previous file whole."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from bayes.config import ModelConfig
from bayes.layers.fusion import Trunk
from bayes.pretrain import PretrainState

FORMAT = "galactive.encoder/1"
ENCODER, STATE = "encoder.safetensors", "state.safetensors"


class Encoder(NamedTuple):
    """A pretrained trunk with what it was built for: its config (architecture), the input
    widths B and P, and what was recorded with it (pretraining settings, losses)."""

    trunk: Trunk
    config: ModelConfig
    n_bands: int
    n_phot: int
    metadata: dict[str, Any]


def _replace(tensors: dict[str, torch.Tensor], path: Path, meta: dict[str, str]) -> None:
    part = path.with_name(path.name + ".part")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, part, metadata=meta)
    os.replace(part, path)


def save_encoder(
    directory: str | Path,
    trunk: Trunk,
    config: ModelConfig,
    *,
    n_bands: int,
    n_phot: int,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``directory``/encoder.safetensors (weights, and the config as JSON metadata)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "config": config.to_dict(),
        "n_bands": n_bands,
        "n_phot": n_phot,
        "metadata": metadata or {},
    }
    _replace(trunk.state_dict(), out / ENCODER, {"galactive": json.dumps(meta)})
    return out / ENCODER


def load_encoder(directory: str | Path) -> Encoder:
    """The encoder :func:`save_encoder` wrote; ValueError naming the file if it is not one."""
    path = Path(directory) / ENCODER
    if not path.is_file():
        raise ValueError(f"{path}: no pretrained encoder here (galactive pretrain writes one)")
    with safe_open(str(path), framework="pt") as f:
        raw = (f.metadata() or {}).get("galactive")
    meta = json.loads(raw) if raw else {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    config = ModelConfig.from_dict(meta["config"])
    trunk = Trunk(config, n_bands=meta["n_bands"], n_phot=meta["n_phot"])
    trunk.load_state_dict(load_file(path), strict=True)
    return Encoder(trunk.eval(), config, meta["n_bands"], meta["n_phot"], meta["metadata"])


def save_state(directory: str | Path, state: PretrainState) -> Path:
    """Write a run's state after an epoch to ``directory``/state.safetensors, replacing the
    last one in one rename."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {f"trunk.{k}": v for k, v in state.trunk.items()}
    tensors |= {f"decoders.{k}": v for k, v in state.decoders.items()}
    tensors |= {f"optimizer.{k}": v for k, v in state.optimizer.items()}
    meta = {"epoch": str(state.epoch), "losses": json.dumps(state.losses)}
    _replace(tensors, out / STATE, meta)
    return out / STATE


def load_state(directory: str | Path) -> PretrainState | None:
    """The state :func:`save_state` last wrote to ``directory``, or None if there is none."""
    path = Path(directory) / STATE
    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    tensors = load_file(path)

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    return PretrainState(
        int(meta["epoch"]),
        part("trunk."),
        part("decoders."),
        part("optimizer."),
        json.loads(meta["losses"]),
    )


def with_architecture(config: ModelConfig, encoder_config: ModelConfig) -> ModelConfig:
    """``config`` with the trunk's architecture (modalities, fusion, sizes) of a pretrained
    encoder's config, so a model built from it takes the encoder's weights."""
    shape = {k for k in encoder_config.architecture() if k != "tasks"}
    shape |= {"channels_last", "early_log_wave_range"}
    return dataclasses.replace(config, **{k: getattr(encoder_config, k) for k in shape})
