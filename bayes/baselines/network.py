"""Deterministic networks (same trunk, point-estimate heads): MC dropout and a deep ensemble.

MC dropout runs the *whole* network T times with dropout active, as BaaL's ModelWrapper does;
it is the cost :func:`bayes.predict.predict` avoids by running the trunk once per batch.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from bayes import targets as tg
from bayes.checkpoint import META, WEIGHTS
from bayes.config import ModelConfig
from bayes.data import GalaxyArrays, as_tensors
from bayes.layers.fusion import Trunk, embedding, modality_dropout
from bayes.layers.heads import combine, expert_outputs, likelihood
from bayes.model import input_widths
from bayes.predict import Posterior, check_fitted, stream_posterior


class PointNetwork(nn.Module):
    """Trunk (optionally with dropout) and one point-estimate linear head per task."""

    def __init__(self, config: ModelConfig, *, n_bands: int, n_phot: int, dropout: float):
        super().__init__()
        self.tasks = config.tasks
        self.trunk = Trunk(config, n_bands=n_bands, n_phot=n_phot, dropout=dropout)
        e, d = self.trunk.n_experts, config.latent_dim
        self.weight = nn.ParameterDict(
            {t.name: nn.Parameter(torch.randn(1, e, d, t.out_dim) / d**0.5) for t in config.tasks}
        )
        self.bias = nn.ParameterDict(
            {t.name: nn.Parameter(torch.zeros(1, e, t.out_dim)) for t in config.tasks}
        )

    def forward(self, inputs, present: torch.Tensor | None = None):
        """-> ({task: combined params (N, 1, K')}, embedding (N, D))."""
        latents, mask = self.trunk(inputs, present)
        params = {
            t.name: combine(
                t, expert_outputs(latents, self.weight[t.name], self.bias[t.name]), mask
            )
            for t in self.tasks
        }
        return params, embedding(latents, mask)


Stats = dict[str, tuple[float, float]]


def fit_network(
    config: ModelConfig,
    arrays: GalaxyArrays,
    targets: Mapping[str, np.ndarray],
    *,
    dropout: float,
    init_from: tuple[PointNetwork, tuple[int, int], Stats] | None = None,
) -> tuple[PointNetwork, tuple[int, int], Stats, list[float]]:
    """Maximum likelihood by Adam (mean NLL over known labels), same schedule as the SVI fit.

    init_from: (network, widths, target stats) of an earlier fit to start from (a warm
    start: its weights and target scaling are kept, so the labels it saw are not forgotten
    at step 0); None starts from random weights.
    -> (network, (B, P), regression target stats, per-epoch mean loss).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        if init_from is None:
            widths = input_widths(arrays, config)
            net = PointNetwork(config, n_bands=widths[0], n_phot=widths[1], dropout=dropout)
            stats = tg.fit_stats(config.tasks, targets)
        else:
            previous, widths, stats = init_from
            net = copy.deepcopy(previous)
        encoded = tg.encode(config.tasks, targets, len(arrays), stats)
        inputs = as_tensors(arrays, n_bands=widths[0], n_phot=widths[1])
        optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
        epochs = config.epochs_for(len(arrays))
        steps = max(epochs * -(-len(arrays) // config.batch_size), 1)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps, config.lr / 10)
        history = []
        net.train()
        for _ in range(epochs):
            order = torch.from_numpy(rng.permutation(len(arrays)))
            total = 0.0
            for start in range(0, len(arrays), config.batch_size):
                idx = order[start : start + config.batch_size]
                batch = inputs.index(idx)
                present = net.trunk.usable(batch.present)
                params, _ = net(
                    batch, modality_dropout(present, config.modality_dropout, generator)
                )
                loss = torch.zeros(())
                for t in config.tasks:
                    y, ok = (v[idx] for v in encoded[t.name])
                    total_count = y.sum(-1) if t.kind == "dirichlet_multinomial" else None
                    lp = likelihood(t, params[t.name][:, 0], total_count).log_prob(y)
                    loss = loss - torch.where(ok, lp, 0.0).sum() / ok.sum().clamp(min=1)
                optimiser.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), config.clip_norm)
                optimiser.step()
                schedule.step()
                total += float(loss.detach()) * len(idx) / len(arrays)
            history.append(total)
    return net.eval(), widths, stats, history


def _batches(arrays: GalaxyArrays | Iterable[GalaxyArrays], size: int):
    return arrays.batches(size) if isinstance(arrays, GalaxyArrays) else arrays


BASELINE_FORMAT = "galactive.bayes.baseline/1"


def _save(
    model: MCDropoutModel | DeepEnsemble,
    networks: list[PointNetwork],
    path: str | Path,
    metadata: Mapping[str, Any] | None,
    **extra: Any,
) -> Path:
    """Write a fitted baseline's networks (safetensors) and everything else (JSON) to ``path``."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"{k}.{name}": value.detach().contiguous().clone()
        for k, net in enumerate(networks)
        for name, value in net.state_dict().items()
    }
    save_file(tensors, out / WEIGHTS)
    meta = {
        "format": BASELINE_FORMAT,
        "kind": type(model).__name__,
        "config": model.config.to_dict(),
        "widths": list(model.widths_),
        "target_stats": model.target_stats_,
        "members": len(networks),
        **extra,
        "metadata": dict(metadata or {}),
    }
    (out / META).write_text(json.dumps(meta, indent=1))
    return out


def _load(path: str | Path, kind: str) -> tuple[dict, list]:
    """(meta, networks) of a baseline :func:`_save` wrote; ValueError on another kind or format."""
    src = Path(path)
    meta = json.loads((src / META).read_text())
    if meta.get("format") != BASELINE_FORMAT or meta.get("kind") != kind:
        found = (meta.get("format"), meta.get("kind"))
        raise ValueError(f"{src / META}: {found}, expected ({BASELINE_FORMAT!r}, {kind!r})")
    config, (n_bands, n_phot) = ModelConfig.from_dict(meta["config"]), meta["widths"]
    tensors = load_file(src / WEIGHTS)
    networks = []
    for k in range(meta["members"]):
        net = PointNetwork(config, n_bands=n_bands, n_phot=n_phot, dropout=meta.get("dropout", 0.0))
        prefix = f"{k}."
        net.load_state_dict(
            {n[len(prefix) :]: v for n, v in tensors.items() if n.startswith(prefix)}
        )
        networks.append(net.eval())
    meta["target_stats"] = {t: (float(a), float(b)) for t, (a, b) in meta["target_stats"].items()}
    return meta, networks


class MCDropoutModel:
    """MC dropout baseline: dropout in the trunk, the whole network run T times at prediction."""

    def __init__(self, config: ModelConfig, *, dropout: float = 0.1) -> None:
        self.config = config
        self.dropout = dropout

    def fit(
        self,
        arrays: GalaxyArrays,
        targets: Mapping[str, np.ndarray],
        *,
        init_from: MCDropoutModel | None = None,
    ) -> MCDropoutModel:
        """Train by maximum likelihood with dropout; see :func:`fit_network`.

        init_from: a fitted MCDropoutModel to warm-start from (pass all the labels).
        """
        if not 0 < self.dropout < 1:
            raise ValueError(f"dropout must be in (0, 1), got {self.dropout}")
        start = None
        if init_from is not None:
            _check_start(init_from, "network_", self.config)
            if init_from.dropout != self.dropout:
                raise ValueError(
                    f"init_from has dropout {init_from.dropout}, this model {self.dropout}"
                )
            start = (init_from.network_, init_from.widths_, init_from.target_stats_)
        self.network_, self.widths_, self.target_stats_, self.loss_history_ = fit_network(
            self.config, arrays, targets, dropout=self.dropout, init_from=start
        )
        return self

    def save(self, path: str | Path, *, metadata: Mapping[str, Any] | None = None) -> Path:
        """Write the fitted network to directory ``path`` (safetensors + JSON, no pickle)."""
        check_fitted(self, "network_")
        return _save(self, [self.network_], path, metadata, dropout=self.dropout)

    @classmethod
    def load(cls, path: str | Path) -> MCDropoutModel:
        """The model :meth:`save` wrote to ``path``."""
        meta, (network,) = _load(path, cls.__name__)
        model = cls(ModelConfig.from_dict(meta["config"]), dropout=meta["dropout"])
        model.network_, model.widths_ = network, tuple(meta["widths"])
        model.target_stats_, model.loss_history_ = meta["target_stats"], []
        return model

    def predict(
        self,
        arrays: GalaxyArrays | Iterable[GalaxyArrays],
        *,
        samples: int = 32,
        batch_size: int = 1024,
        seed: int = 0,
    ) -> Posterior:
        """T = ``samples`` full stochastic passes per batch -> Posterior (N, T, ...)."""
        check_fitted(self, "network_")
        net = self.network_

        @torch.no_grad()
        def forward(batch: GalaxyArrays):
            inputs = as_tensors(batch, n_bands=self.widths_[0], n_phot=self.widths_[1])
            net.train()  # dropout on: that is the method
            passes = [net(inputs) for _ in range(samples)]
            net.eval()
            params = {t.name: torch.cat([p[t.name] for p, _ in passes], 1) for t in net.tasks}
            return params, torch.stack([e for _, e in passes]).mean(0)

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # dropout masks come from the global RNG
            return stream_posterior(
                _batches(arrays, batch_size),
                forward,
                tasks=net.tasks,
                stats=self.target_stats_,
                rng=np.random.default_rng(seed),
            )


class DeepEnsemble:
    """``members`` point networks trained from seeds config.seed + k; T = members at prediction."""

    def __init__(self, config: ModelConfig, *, members: int = 5) -> None:
        self.config = config
        self.members = members

    def fit(
        self,
        arrays: GalaxyArrays,
        targets: Mapping[str, np.ndarray],
        *,
        init_from: DeepEnsemble | None = None,
    ) -> DeepEnsemble:
        """Fit every member on all the data, differing only in seed.

        init_from: a fitted ensemble of as many members; member k warm-starts from its k-th.
        """
        if self.members < 2:
            raise ValueError(f"members must be >= 2, got {self.members}")
        starts: list[tuple[PointNetwork, tuple[int, int], Stats] | None] = [None] * self.members
        if init_from is not None:
            _check_start(init_from, "networks_", self.config)
            if len(init_from.networks_) != self.members:
                have = len(init_from.networks_)
                raise ValueError(f"init_from has {have} members, this ensemble {self.members}")
            starts = [(n, init_from.widths_, init_from.target_stats_) for n in init_from.networks_]
        fits = [
            fit_network(
                _reseed(self.config, self.config.seed + k),
                arrays,
                targets,
                dropout=0.0,
                init_from=starts[k],
            )
            for k in range(self.members)
        ]
        self.networks_ = [f[0] for f in fits]
        self.widths_, self.target_stats_ = fits[0][1], fits[0][2]
        return self

    def save(self, path: str | Path, *, metadata: Mapping[str, Any] | None = None) -> Path:
        """Write every member to directory ``path`` (safetensors + JSON, no pickle)."""
        check_fitted(self, "networks_")
        return _save(self, self.networks_, path, metadata)

    @classmethod
    def load(cls, path: str | Path) -> DeepEnsemble:
        """The ensemble :meth:`save` wrote to ``path``."""
        meta, networks = _load(path, cls.__name__)
        model = cls(ModelConfig.from_dict(meta["config"]), members=meta["members"])
        model.networks_, model.widths_ = networks, tuple(meta["widths"])
        model.target_stats_ = meta["target_stats"]
        return model

    def predict(
        self,
        arrays: GalaxyArrays | Iterable[GalaxyArrays],
        *,
        batch_size: int = 1024,
        seed: int = 0,
    ) -> Posterior:
        """One pass per member -> Posterior with T = members."""
        check_fitted(self, "networks_")

        @torch.no_grad()
        def forward(batch: GalaxyArrays):
            inputs = as_tensors(batch, n_bands=self.widths_[0], n_phot=self.widths_[1])
            passes = [net(inputs) for net in self.networks_]
            tasks = self.config.tasks
            params = {t.name: torch.cat([p[t.name] for p, _ in passes], 1) for t in tasks}
            return params, torch.stack([e for _, e in passes]).mean(0)

        return stream_posterior(
            _batches(arrays, batch_size),
            forward,
            tasks=self.config.tasks,
            stats=self.target_stats_,
            rng=np.random.default_rng(seed),
        )


def _check_start(previous: MCDropoutModel | DeepEnsemble, attr: str, config: ModelConfig) -> None:
    """A warm start needs a fitted model of the same architecture (tasks, fusion, sizes)."""
    check_fitted(previous, attr)
    if previous.config.architecture() != config.architecture():
        raise ValueError("init_from has a different architecture (tasks, fusion or sizes)")


def _reseed(config: ModelConfig, seed: int) -> ModelConfig:
    return ModelConfig.from_dict({**config.to_dict(), "seed": seed})
