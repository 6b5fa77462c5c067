"""Posterior predictive: stream batches, run the trunk once per batch, sample only the heads.

Sample axis convention (ours, unlike BaaL's sample-last): class probabilities (N, T, C),
regression draws (N, T). The T head-weight draws are made once per call and shared by every
batch, so galaxy i and galaxy j see the same T posterior samples (as joint acquisition needs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch

from bayes import acquisition
from bayes.config import TaskConfig
from bayes.data import GalaxyArrays
from bayes.latents import Latents, model_latents
from bayes.layers.fusion import embedding
from bayes.layers.heads import combine, expert_outputs
from bayes.targets import inverse_transform

if TYPE_CHECKING:
    from bayes.model import GalaxyModel

Batch = TypeVar("Batch")
Forward = Callable[[Batch], tuple[dict[str, torch.Tensor], torch.Tensor]]
STATISTICS = ("AVG", "MEDIAN", "MODE", "P16", "P84", "P2P5", "P97P5", "ENTROPY")


class NotFittedError(ValueError, AttributeError):
    """Raised when predicting with a model that has not been fitted."""


@dataclass(frozen=True)
class Posterior:
    """Posterior predictive samples for N galaxies and T samples.

    probs: {classification task: (N, T, C)}; draws: {regression task: (N, T)} in natural units
    (z, not log(1+z)), one predictive draw per head sample; loc, scale: {regression task: (N, T)}
    predictive mean and aleatoric noise scale per head sample in the task's transformed units
    (log(1+z) for log1p tasks); embedding: (N, D) fused latent.
    """

    probs: dict[str, np.ndarray]
    draws: dict[str, np.ndarray]
    loc: dict[str, np.ndarray]
    scale: dict[str, np.ndarray]
    embedding: np.ndarray

    def uncertainty(self, task: str) -> dict[str, np.ndarray]:
        """Epistemic and aleatoric parts of one task's uncertainty, each (N,)."""
        if task in self.probs:
            return classification_uncertainty(self.probs[task])
        return regression_uncertainty(self.loc[task], self.scale[task])


def classification_uncertainty(probs: np.ndarray) -> dict[str, np.ndarray]:
    """(N, T, C) -> total H[mean p], aleatoric mean H[p], epistemic = difference (BALD, computed
    once, in :mod:`bayes.acquisition`)."""
    total, epistemic = acquisition.predictive_entropy(probs), acquisition.bald(probs)
    return {"total": total, "aleatoric": total - epistemic, "epistemic": epistemic}


def regression_uncertainty(loc: np.ndarray, scale: np.ndarray) -> dict[str, np.ndarray]:
    """(N, T) means and noise scales -> std of the means (epistemic), rms noise (aleatoric)."""
    epistemic = loc.std(1)
    aleatoric = np.sqrt((scale**2).mean(1))
    return {"total": np.hypot(epistemic, aleatoric), "aleatoric": aleatoric, "epistemic": epistemic}


def summarize_draws(draws: np.ndarray, *, grid: int = 128, chunk: int = 1024) -> dict:
    """SFR-style statistics of (N, T) draws -> {AVG, MEDIAN, MODE, P16, P84, P2P5, P97P5, ENTROPY}.

    MODE and ENTROPY (differential, nats) come from a Gaussian KDE (Silverman bandwidth)
    evaluated on ``grid`` points per galaxy, ``chunk`` galaxies at a time to bound memory.
    """
    q = np.quantile(draws, [0.5, 0.16, 0.84, 0.025, 0.975], axis=1)
    out = {"AVG": draws.mean(1), "MEDIAN": q[0], "P16": q[1], "P84": q[2]}
    out |= {"P2P5": q[3], "P97P5": q[4]}
    modes, entropies = [], []
    for start in range(0, len(draws), chunk):
        m, h = _kde_mode_entropy(draws[start : start + chunk], grid)
        modes.append(m)
        entropies.append(h)
    out["MODE"] = np.concatenate(modes) if modes else np.zeros(0)
    out["ENTROPY"] = np.concatenate(entropies) if entropies else np.zeros(0)
    return {k: out[k] for k in STATISTICS}


def _kde_mode_entropy(d: np.ndarray, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, T) draws -> KDE mode (n,) and differential entropy (n,)."""
    t = d.shape[1]
    iqr = np.subtract(*np.quantile(d, [0.75, 0.25], axis=1))
    spread = np.minimum(d.std(1), iqr / 1.34)
    spread = np.where(spread > 0, spread, d.std(1))
    h = 0.9 * spread * t ** (-0.2)
    h = np.maximum(h, 1e-6 * (np.abs(d).max(1) + 1.0))[:, None]  # identical draws
    x = np.linspace(d.min(1) - 4 * h[:, 0], d.max(1) + 4 * h[:, 0], grid, axis=1)  # (n, G)
    z = (x[:, :, None] - d[:, None, :]) / h[:, :, None]  # (n, G, T)
    density = np.exp(-0.5 * z**2).mean(2) / (h * np.sqrt(2 * np.pi))  # (n, G)
    dx = x[:, 1] - x[:, 0]
    p = density / (density.sum(1, keepdims=True) * dx[:, None])  # renormalise on the grid
    logp = np.log(np.where(p > 0, p, 1.0))
    ent = -(p * logp).sum(1) * dx
    return x[np.arange(len(x)), density.argmax(1)], ent


def check_fitted(model: object, attribute: str = "posterior_") -> None:
    """Raise NotFittedError unless ``model`` has the fitted ``attribute``."""
    if not hasattr(model, attribute):
        raise NotFittedError(f"{type(model).__name__} is not fitted; call fit first")


def predict(
    model: GalaxyModel,
    arrays: GalaxyArrays | Iterable[GalaxyArrays],
    *,
    samples: int = 32,
    batch_size: int = 1024,
    seed: int = 0,
) -> Posterior:
    """Posterior predictive of a fitted GalaxyModel, streamed over batches.

    arrays: all galaxies (cut into ``batch_size`` batches) or an iterable of batches (a stream
    from storage). The trunk runs once per galaxy (:func:`bayes.latents.encode`); the T =
    ``samples`` head draws are applied to a batch's latents in one vectorised product.
    """
    check_fitted(model)
    return predict_latents(
        model, model_latents(model, arrays, batch_size=batch_size), samples=samples, seed=seed
    )


def predict_latents(
    model: GalaxyModel, latents: Iterable[Latents], *, samples: int = 32, seed: int = 0
) -> Posterior:
    """The posterior predictive from the trunk's latents, batch by batch: the heads alone.

    Given the latents :func:`predict` would compute (the same batches), the result is the
    same, draw for draw: a cache of the pool's latents rescores it without the trunk.
    """
    check_fitted(model)
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    heads = model.posterior_.sample(samples, torch.Generator().manual_seed(seed))
    tasks = model.config.tasks

    @torch.inference_mode()
    def forward(batch: Latents) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        z, mask = batch.latents, batch.mask
        params = {t.name: combine(t, expert_outputs(z, *heads[t.name]), mask) for t in tasks}
        return params, embedding(z, mask)

    return stream_posterior(
        latents, forward, tasks=tasks, stats=model.target_stats_, rng=np.random.default_rng(seed)
    )


def stream_posterior(
    batches: Iterable[Batch],
    forward: Forward,
    *,
    tasks: tuple[TaskConfig, ...],
    stats: Mapping[str, tuple[float, float]],
    rng: np.random.Generator,
) -> Posterior:
    """Run ``forward`` (batch -> {task: combined params (n, T, K')}, embedding (n, D)) per batch."""
    parts: dict[str, dict[str, list[np.ndarray]]] = {
        k: {t.name: [] for t in tasks} for k in ("probs", "draws", "loc", "scale")
    }
    embeddings = []
    for batch in batches:
        params, emb = forward(batch)
        embeddings.append(emb.numpy().astype(np.float32))
        for t in tasks:
            for key, value in task_outputs(t, params[t.name], stats, rng).items():
                parts[key][t.name].append(value)
    cat = {k: {t: np.concatenate(v) for t, v in d.items() if v} for k, d in parts.items()}
    emb = np.concatenate(embeddings) if embeddings else np.zeros((0, 0), np.float32)
    return Posterior(**cat, embedding=emb)


def task_outputs(
    task: TaskConfig,
    params: torch.Tensor,
    stats: Mapping[str, tuple[float, float]],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Combined head parameters (n, T, K') -> {"probs"} or {"draws", "loc", "scale"} arrays."""
    p = params.numpy().astype(np.float64)
    if task.kind == "categorical":
        return {"probs": np.exp(p).astype(np.float32)}
    if task.kind == "dirichlet_multinomial":
        return {"probs": (p / p.sum(-1, keepdims=True)).astype(np.float32)}
    mean, std = stats[task.name]
    loc, scale = p[..., 0] * std + mean, p[..., 1] * std
    if task.kind == "gaussian":
        noise = rng.standard_normal(loc.shape)
    else:
        noise = rng.standard_t(task.df, loc.shape)
    draws = inverse_transform(task, loc + scale * noise)
    return {
        "draws": draws.astype(np.float32),
        "loc": loc.astype(np.float32),
        "scale": scale.astype(np.float32),
    }
