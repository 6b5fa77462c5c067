"""Bayesian linear heads: expert outputs, their combination, likelihoods, prior and posterior.

A head maps expert latents (N, E, D) with weights (T, E, D, K) and biases (T, E, K) to
(N, T, E, K) outputs for T weight samples at once; :func:`combine` merges the E experts into
the task's predictive parameters (N, T, K'). With E = 1 combining is the identity map.
"""

from __future__ import annotations

import torch
from pyro import distributions as dist
from torch import nn
from torch.nn import functional as F  # noqa: N812 (the torch convention)

from bayes.config import TaskConfig

MIN_SCALE = 1e-3  # floor on the predicted noise scale, in standardised target units


def expert_outputs(latents: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """(N, E, D) latents, (T, E, D, K) weights, (T, E, K) biases -> (N, T, E, K)."""
    return torch.einsum("ned,tedk->ntek", latents, weight) + bias


def combine(task: TaskConfig, out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Product of the present experts' predictive distributions.

    out: (N, T, E, K); mask: (N, E) bool. Returns (N, T, K'):
    categorical -> log-probs (N, T, C): normalised sum of the experts' log-probs;
    dirichlet_multinomial -> concentration (N, T, C): 1 + sum of experts' (alpha - 1);
    gaussian / student_t -> (loc, scale) (N, T, 2): precision-weighted (exact for Gaussians;
    for Student-t the experts are combined as if Gaussian).
    """
    m = mask[:, None, :, None].float()  # (N, 1, E, 1)
    if task.kind == "categorical":
        return torch.log_softmax((F.log_softmax(out, -1) * m).sum(2), -1)
    if task.kind == "dirichlet_multinomial":
        return 1.0 + (F.softplus(out) * m).sum(2)
    loc, scale = out[..., 0], F.softplus(out[..., 1]) + MIN_SCALE
    precision = (m[..., 0] / scale**2).sum(2)
    loc = (m[..., 0] * loc / scale**2).sum(2) / precision
    return torch.stack([loc, precision.rsqrt()], -1)


def likelihood(
    task: TaskConfig, params: torch.Tensor, total_count: torch.Tensor | None = None
) -> dist.TorchDistribution:
    """The observation distribution from combined parameters (..., K'); batch shape (...)."""
    if task.kind == "categorical":
        return dist.Categorical(logits=params)
    if task.kind == "dirichlet_multinomial":
        return dist.DirichletMultinomial(params, total_count=total_count)
    if task.kind == "gaussian":
        return dist.Normal(params[..., 0], params[..., 1])
    return dist.StudentT(task.df, params[..., 0], params[..., 1])


class _Site(nn.Module):
    """Mean-field Normal over one task's (E, D, K) weights and (E, K) biases."""

    def __init__(self, shape: tuple[int, int, int], loc: torch.Tensor, scale: float, learn: bool):
        super().__init__()
        e, _, k = shape
        tensors = {
            "weight_loc": loc,
            "bias_loc": torch.zeros(e, k),
            # learnable scales live as softplus^-1 so that any real value is a valid scale
            "weight_scale": torch.full(shape, _inv_softplus(scale) if learn else scale),
            "bias_scale": torch.full((e, k), _inv_softplus(scale) if learn else scale),
        }
        self.learn = learn
        for name, t in tensors.items():
            if learn:
                self.register_parameter(name, nn.Parameter(t))
            else:
                self.register_buffer(name, t)

    def loc_scale(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{"weight": (loc, scale), "bias": (loc, scale)} with positive scales."""
        pos = F.softplus if self.learn else (lambda s: s)
        return {
            "weight": (self.weight_loc, pos(self.weight_scale)),
            "bias": (self.bias_loc, pos(self.bias_scale)),
        }


def _inv_softplus(y: float) -> float:
    return float(torch.log(torch.expm1(torch.tensor(y))))


class HeadParams(nn.Module):
    """Normal distributions over every task's head weights: a prior (buffers) or a posterior.

    The posterior's locs start as small random values (from ``generator``) to break symmetry.
    """

    def __init__(
        self,
        tasks: tuple[TaskConfig, ...],
        *,
        n_experts: int,
        latent_dim: int,
        scale: float,
        learn: bool,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.tasks, self.n_experts, self.latent_dim = tasks, n_experts, latent_dim
        sites = {}
        for t in tasks:
            shape = (n_experts, latent_dim, t.out_dim)
            loc = (
                torch.randn(shape, generator=generator) / latent_dim**0.5
                if learn
                else torch.zeros(shape)
            )
            sites[t.name] = _Site(shape, loc, scale, learn)
        self.sites = nn.ModuleDict(sites)

    def loc_scale(self, task: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """{"weight": (loc (E, D, K), scale), "bias": (loc (E, K), scale)} of one task."""
        return self.sites[task].loc_scale()

    @torch.no_grad()
    def sample(
        self, samples: int, generator: torch.Generator
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """T joint draws: {task: (weight (T, E, D, K), bias (T, E, K))}."""
        out = {}
        for name in self.sites:
            draws = []
            for loc, scale in self.loc_scale(name).values():
                eps = torch.randn((samples, *loc.shape), generator=generator)
                draws.append(loc + scale * eps)
            out[name] = (draws[0], draws[1])
        return out

    @torch.no_grad()
    def as_prior(self) -> HeadParams:
        """A frozen copy (buffers) of these distributions, to serve as the next round's prior."""
        prior = HeadParams(
            self.tasks, n_experts=self.n_experts, latent_dim=self.latent_dim, scale=1.0, learn=False
        )
        for name, site in prior.sites.items():
            ls = self.loc_scale(name)
            site.weight_loc.copy_(ls["weight"][0])
            site.weight_scale.copy_(ls["weight"][1])
            site.bias_loc.copy_(ls["bias"][0])
            site.bias_scale.copy_(ls["bias"][1])
        return prior
