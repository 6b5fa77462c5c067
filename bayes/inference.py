"""Pyro model and guide over the head weights, and the SVI loop that trains trunk and heads.

The trunk's latents are an input to the model: the trunk is a deterministic point estimate
trained by back-propagating the ELBO (its Gaussian prior enters as an L2 penalty, i.e. MAP), and
only the heads carry sample sites. The model and guide read their parameters from the
:class:`~bayes.layers.heads.HeadParams` objects passed in, never from Pyro's param store, so a
fitted model is a set of ordinary modules that can be saved and loaded.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import pyro
import torch
from pyro import distributions as dist
from pyro import poutine
from pyro.infer import Trace_ELBO
from torch import nn

from bayes.config import ModelConfig, TaskConfig
from bayes.data import ModelInputs
from bayes.layers.fusion import Trunk, modality_dropout
from bayes.layers.heads import HeadParams, combine, expert_outputs, likelihood

Targets = dict[str, tuple[torch.Tensor, torch.Tensor]]
# At most this many validation checks per fit: a 1700-step floor on 200 galaxies is 213 epochs.
MAX_CHECKS = 50


@dataclass
class TrainLog:
    """What a fit did: loss per epoch; validation loss at each checked epoch and the best one."""

    loss: list[float] = field(default_factory=list)
    checked: list[int] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    diverged: bool = False


def _sample_heads(tasks: tuple[TaskConfig, ...], params: HeadParams) -> dict[str, tuple]:
    """One pyro.sample per task site from the Normal distributions in ``params``."""
    out = {}
    for t in tasks:
        ls = params.loc_scale(t.name)
        w = pyro.sample(f"{t.name}.weight", dist.Normal(*ls["weight"]).to_event(3))
        b = pyro.sample(f"{t.name}.bias", dist.Normal(*ls["bias"]).to_event(2))
        out[t.name] = (w, b)
    return out


def head_model(
    latents: torch.Tensor,
    mask: torch.Tensor,
    targets: Targets,
    *,
    n_total: int,
    tasks: tuple[TaskConfig, ...],
    prior: HeadParams,
    weights: torch.Tensor | None = None,
) -> None:
    """Priors on head weights; likelihood of a batch scaled to the dataset of ``n_total`` galaxies.

    latents: (B, E, D); mask: (B, E); targets: {task: (values (B, ...), known (B,))};
    weights: (B,) importance weights of the galaxies' likelihoods (None: all 1).
    """
    heads = _sample_heads(tasks, prior)
    batch = torch.arange(latents.shape[0], device=latents.device)
    weighted, kept = nullcontext(), None
    if weights is not None:  # Pyro scales by > 0 only: a weight of 0 is a mask
        kept = weights > 0
        weighted = poutine.scale(scale=torch.where(kept, weights, torch.ones_like(weights)))
    with pyro.plate("galaxies", n_total, subsample=batch), weighted:
        for t in tasks:
            w, b = heads[t.name]
            params = combine(t, expert_outputs(latents, w[None], b[None]), mask)[:, 0]
            y, ok = targets[t.name]
            ok = ok if kept is None else ok & kept
            total = y.sum(-1) if t.kind == "dirichlet_multinomial" else None
            pyro.sample(f"{t.name}.obs", likelihood(t, params, total).mask(ok), obs=y)


def head_guide(
    latents: torch.Tensor,
    mask: torch.Tensor,
    targets: Targets,
    *,
    n_total: int,
    tasks: tuple[TaskConfig, ...],
    posterior: HeadParams,
    weights: torch.Tensor | None = None,
) -> None:
    """Mean-field Normal variational posterior over the head weights (same signature as model)."""
    _sample_heads(tasks, posterior)


def trunk_penalty(
    trunk: nn.Module, anchor: list[torch.Tensor] | None, scale: float | None
) -> torch.Tensor:
    """-log N(theta | anchor, scale^2) up to a constant (anchor None: zero); 0 if scale is None."""
    if scale is None:
        return torch.zeros(())
    params = list(trunk.parameters())
    centres = anchor if anchor is not None else [torch.zeros_like(p) for p in params]
    return sum(((p - c) ** 2).sum() for p, c in zip(params, centres, strict=True)) / (2 * scale**2)


def elbo_loss(
    trunk: Trunk,
    prior: HeadParams,
    posterior: HeadParams,
    inputs: ModelInputs,
    targets: Targets,
    *,
    config: ModelConfig,
    n_total: int,
    present: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Negative ELBO (one particle) of the whole dataset estimated from this batch; scalar.
    weights: (B,) importance weights of the batch's likelihoods (None: all 1)."""
    latents, mask = trunk(inputs, present)
    return Trace_ELBO().differentiable_loss(
        _bind(head_model, tasks=config.tasks, prior=prior),
        _bind(head_guide, tasks=config.tasks, posterior=posterior),
        latents,
        mask,
        targets,
        n_total=n_total,
        weights=weights,
    )


@torch.no_grad()
def validation_loss(
    trunk: Trunk,
    posterior: HeadParams,
    inputs: ModelInputs,
    targets: Targets,
    *,
    config: ModelConfig,
) -> float:
    """Mean negative log-likelihood per known target at the posterior-mean head weights.

    Summed over tasks (each a mean over its known galaxies, in standardised units), so every
    task counts alike whatever its number of labels. Cheap and deterministic: the selector of
    the best epoch, not a report.
    """
    was_training = trunk.training
    trunk.eval()
    latents, mask = trunk(inputs)
    trunk.train(was_training)
    total = 0.0
    for t in config.tasks:
        y, ok = targets[t.name]
        if not ok.any():
            continue
        ls = posterior.loc_scale(t.name)
        params = combine(
            t, expert_outputs(latents, ls["weight"][0][None], ls["bias"][0][None]), mask
        )
        count = y.sum(-1) if t.kind == "dirichlet_multinomial" else None
        logp = likelihood(t, params[:, 0], count).log_prob(y)
        total -= float(logp[ok].mean())
    return total


def _bind(fn: Callable, **fixed) -> Callable:
    def bound(*args, **kwargs):
        return fn(*args, **kwargs, **fixed)

    return bound


class WeightAverage:
    """An exponential moving average of parameters, swapped in to validate and to keep.

    Adam's last step leaves the weights wherever a noisy mini-batch pushed them; their average
    over the last few hundred steps is a better model (Polyak averaging). On real SDSS
    photometry it steadied the full-pool fit across seeds (docs/real_data.md). The decay
    warms up as (1 + t) / (10 + t), so the random initial weights are forgotten within the
    first steps rather than weighting the average for ``1 / (1 - decay)`` of them.
    """

    def __init__(self, params: list[torch.Tensor], decay: float) -> None:
        self.params, self.decay, self.steps = params, decay, 0
        self.average = [p.detach().clone() for p in params]

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current weights in (after each optimiser step)."""
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        torch._foreach_lerp_(self.average, [p.detach() for p in self.params], 1 - decay)

    @torch.no_grad()
    def swap(self) -> None:
        """Exchange the live weights and the average (twice restores them)."""
        for p, a in zip(self.params, self.average, strict=True):
            p.data, a.data = a.data, p.data


def svi_train(
    trunk: Trunk,
    prior: HeadParams,
    posterior: HeadParams,
    inputs: ModelInputs,
    targets: Targets,
    *,
    config: ModelConfig,
    anchor: list[torch.Tensor] | None,
    anchor_scale: float | None,
    rng: np.random.Generator,
    generator: torch.Generator,
    on_epoch: Callable[[int, float], None] | None = None,
    validate: Callable[[], float] | None = None,
    weights: torch.Tensor | None = None,
) -> TrainLog:
    """Adam on (negative ELBO + trunk penalty) / N over shuffled mini-batches -> the TrainLog.

    weights: (N,) importance weights of the galaxies' likelihoods (None: all 1), e.g. those
    that undo an active selection's bias (:func:`bayes.acquisition.lure_weights`).

    on_epoch(epoch, loss) is called after every epoch (progress bars). validate(): the
    held-out loss of the current weights (:func:`validation_loss`); when given, it is checked
    at up to MAX_CHECKS evenly spaced epochs (the last included) and the weights of the best
    check are restored at the end. With ``config.average`` > 0 the weights validated and kept
    are the moving average of the steps (:class:`WeightAverage`). On real SDSS photometry a
    70-epoch fit, before the best epoch was kept, shrank its noise scale on the training
    galaxies, so its intervals needed widening by 1.7 and then covered 83% for 68%
    (docs/real_data.md). A fit whose loss or weights stop being finite stops there, with its
    last checked (or initial) weights and ``diverged`` set.

    The learning rate follows a cosine from ``config.lr`` to a tenth of it, so the fit settles
    instead of ending wherever the last noisy step left it. Gradients are clipped to
    ``config.clip_norm``: heteroscedastic likelihoods can otherwise diverge when a predicted
    noise scale collapses early in training. Pyro draws the guide's samples from torch's
    global RNG: callers seed it (see GalaxyModel.fit).
    """
    n = len(inputs)
    params = [*trunk.parameters(), *posterior.parameters()]
    optimiser = torch.optim.Adam(params, lr=config.lr)
    epochs = config.epochs_for(n)
    steps = epochs * -(-n // config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(steps, 1), config.lr / 10)
    log = TrainLog()
    every = -(-epochs // MAX_CHECKS)
    best_value = np.inf
    best_state = copy.deepcopy((trunk.state_dict(), posterior.state_dict()))
    average = WeightAverage(params, config.average) if config.average else None
    for epoch in range(epochs):
        total = 0.0
        for idx in torch.from_numpy(rng.permutation(n)).split(config.batch_size):
            batch = inputs.index(idx)
            present = modality_dropout(
                trunk.usable(batch.present), config.modality_dropout, generator
            )
            batch_targets = {k: (y[idx], ok[idx]) for k, (y, ok) in targets.items()}
            loss = elbo_loss(
                trunk, prior, posterior, batch, batch_targets,
                config=config, n_total=n, present=present,
                weights=None if weights is None else weights[idx],
            )  # fmt: skip
            loss = (loss + trunk_penalty(trunk, anchor, anchor_scale)) / n
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.clip_norm)
            optimiser.step()
            schedule.step()
            if average is not None:
                average.update()
            total += float(loss.detach()) * len(idx) / n
            if not (np.isfinite(total) and _finite(params)):
                total = np.nan
                break
        log.loss.append(total)
        if not np.isfinite(total):  # diverged: stop, and keep the last good weights
            log.diverged = True
            break
        if validate is not None and ((epoch + 1) % every == 0 or epoch == epochs - 1):
            if average is not None:
                average.swap()
            value = validate()
            log.checked.append(epoch)
            log.validation.append(value)
            if value < best_value:  # a NaN loss is never the best
                log.best_epoch, best_value = epoch, value
                best_state = copy.deepcopy((trunk.state_dict(), posterior.state_dict()))
            if average is not None:
                average.swap()
        if on_epoch is not None:
            on_epoch(epoch, total)
    if average is not None and not log.diverged:
        average.swap()  # the average of the steps, unless a check below keeps an earlier one
    if log.diverged or (log.best_epoch is not None and log.best_epoch != epochs - 1):
        trunk.load_state_dict(best_state[0])
        posterior.load_state_dict(best_state[1])
    return log


def _finite(params: list[torch.Tensor]) -> bool:
    """Whether every parameter is finite (one reduction per tensor: cheap next to a step)."""
    return bool(torch.isfinite(torch.stack([p.detach().sum() for p in params])).all())
