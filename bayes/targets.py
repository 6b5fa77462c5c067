"""Labels as the heads see them: transformed, standardised, with a mask of which are known.

Input per task (N galaxies): categorical (N,) int class index, -1 if unknown;
dirichlet_multinomial (N, C) vote counts, an all-zero row if unknown; regression (N,) float in
natural units (z, log SFR), NaN if unknown. A task missing from the mapping is unknown for all.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from bayes.config import TaskConfig

Stats = dict[str, tuple[float, float]]


def transform(task: TaskConfig, y: np.ndarray) -> np.ndarray:
    """Natural units -> the regression's space (log(1+z) for log1p tasks)."""
    return np.log1p(y) if task.transform == "log1p" else y


def inverse_transform(task: TaskConfig, u: np.ndarray) -> np.ndarray:
    """The regression's space -> natural units."""
    return np.expm1(u) if task.transform == "log1p" else u


def known(task: TaskConfig, y: np.ndarray) -> np.ndarray:
    """(N,) bool: which galaxies have a label for ``task``; raises ValueError on invalid labels."""
    if task.kind == "categorical":
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"{task.name}: expected (N,) integer classes, got {y.dtype} {y.shape}")
        if y.size and (y.min() < -1 or y.max() >= len(task.classes)):
            raise ValueError(f"{task.name}: class index outside [-1, {len(task.classes) - 1}]")
        return y >= 0
    if task.kind == "dirichlet_multinomial":
        if y.ndim != 2 or y.shape[1] != len(task.classes) or np.any(y < 0):
            raise ValueError(f"{task.name}: expected (N, {len(task.classes)}) counts >= 0")
        return y.sum(1) > 0
    if y.ndim != 1:
        raise ValueError(f"{task.name}: expected (N,) values, got shape {y.shape}")
    ok = np.isfinite(y)
    if task.transform == "log1p" and np.any(y[ok] <= -1):
        raise ValueError(f"{task.name}: log1p transform needs values > -1")
    return ok


def fit_stats(tasks: tuple[TaskConfig, ...], targets: Mapping[str, np.ndarray]) -> Stats:
    """Mean and std of each regression's known labels in its transformed space."""
    stats = {}
    for t in tasks:
        if t.is_classification:
            continue
        y = targets.get(t.name)
        u = np.zeros(0) if y is None else transform(t, y[known(t, y)])
        if len(u) < 2:
            raise ValueError(f"{t.name}: need >= 2 known labels to standardise, got {len(u)}")
        stats[t.name] = (float(u.mean()), float(u.std()) or 1.0)
    return stats


def encode(
    tasks: tuple[TaskConfig, ...], targets: Mapping[str, np.ndarray], n: int, stats: Stats
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{task: (values, known (N,) bool)}; unknown values are replaced by valid placeholders."""
    unknown = [k for k in targets if k not in {t.name for t in tasks}]
    if unknown:
        raise ValueError(f"targets for unknown tasks {unknown}")
    out = {}
    for t in tasks:
        y = targets.get(t.name)
        if y is None:
            y = np.zeros((n, len(t.classes))) if t.kind == "dirichlet_multinomial" else None
            y = np.full(n, -1) if t.kind == "categorical" else y
            y = np.full(n, np.nan) if y is None else y
        if len(y) != n:
            raise ValueError(f"{t.name}: {len(y)} targets for {n} galaxies")
        ok = known(t, y)
        if t.kind == "categorical":
            v = torch.from_numpy(np.where(ok, y, 0).astype(np.int64))
        elif t.kind == "dirichlet_multinomial":
            v = torch.from_numpy(y.astype(np.float32))
        else:
            loc, scale = stats[t.name]
            u = (transform(t, np.where(ok, y, 0.0)) - loc) / scale
            v = torch.from_numpy(np.where(ok, u, 0.0).astype(np.float32))
        out[t.name] = (v, torch.from_numpy(ok))
    return out
