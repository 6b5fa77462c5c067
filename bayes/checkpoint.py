"""Save and load a fitted GalaxyModel as safetensors (tensors) plus JSON (everything else).

Loading reads tensors with safetensors and numbers with json: nothing is ever unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from bayes.config import ModelConfig
from bayes.model import GalaxyModel, build
from bayes.predict import check_fitted

FORMAT = "galactive.bayes/3"  # 2: adjacent colours; 3: photometry standardised from the data
WEIGHTS, META = "weights.safetensors", "model.json"
PARTS = ("trunk_", "prior_", "posterior_")


def save(model: GalaxyModel, path: str | Path, *, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``path``/weights.safetensors and ``path``/model.json; returns the directory.

    metadata: JSON-ready extras recorded with the model (label snapshot, metrics, version).
    """
    check_fitted(model)
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"{part}.{k}": v.detach().cpu().contiguous().clone()
        for part in PARTS
        for k, v in getattr(model, part).state_dict().items()
    }
    save_file(tensors, out / WEIGHTS)
    meta = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "n_bands": model.n_bands_,
        "n_phot": model.n_phot_,
        "target_stats": model.target_stats_,
        "loss_history": model.loss_history_,
        "metadata": metadata or {},
    }
    (out / META).write_text(json.dumps(meta, indent=1))
    return out


def load(path: str | Path) -> GalaxyModel:
    """Rebuild a fitted GalaxyModel from a directory written by :func:`save`."""
    src = Path(path)
    meta = json.loads((src / META).read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{src / META}: format {meta.get('format')!r}, expected {FORMAT!r}")
    model = GalaxyModel(ModelConfig.from_dict(meta["config"]))
    modules = build(model.config, n_bands=meta["n_bands"], n_phot=meta["n_phot"])
    tensors = load_file(src / WEIGHTS)
    for part, module in zip(PARTS, modules, strict=True):
        prefix = f"{part}."
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        module.load_state_dict(state, strict=True)
        setattr(model, part, module)
    model.trunk_.eval()
    model.n_bands_, model.n_phot_ = meta["n_bands"], meta["n_phot"]
    model.target_stats_ = {k: (float(a), float(b)) for k, (a, b) in meta["target_stats"].items()}
    model.loss_history_ = list(meta["loss_history"])
    return model


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``metadata`` dict saved with a model."""
    return json.loads((Path(path) / META).read_text())["metadata"]


def read_config(path: str | Path) -> ModelConfig:
    """The configuration saved with a model (tasks, modalities, sizes), without its weights."""
    return ModelConfig.from_dict(json.loads((Path(path) / META).read_text())["config"])
