"""What an experiment runs: strategies x seeds x rounds, fit lengths, the posterior, the start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.services.loop.strategy import CONTROL_FRACTION
from bayes.config import EPOCHS, MIN_STEPS, WARM_EPOCHS, WARM_MIN_STEPS
from bayes.model import UPDATES

METHODS = ("heads", "ensemble", "mc_dropout")
INITIAL_BY = ("random", "typiclust")


@dataclass(frozen=True)
class ExperimentSpec:
    """What to run: strategies x seeds x (rounds + 1) fits of a one-task model.

    model: further ModelConfig fields (latent_dim, image_channels, batch_size, lr, fusion).
    warm: each round after the first starts from the previous round's model
    (``update="warm"``) for ``warm_epochs`` epochs. min_steps and
    warm_min_steps: floors on optimiser steps for a fit from scratch and a warm one
    (:meth:`bayes.config.ModelConfig.epochs_for`),
    so a small labelled set is trained as far as a large one. screen: keep the
    artifact screen's flagged galaxies out of the active picks (None: the product's rule,
    :func:`app.services.loop.strategy.screens`). method: where the posterior's spread comes from —
    ``heads`` (the product's model: Bayesian heads on a point-estimate trunk, recalibrated on
    validation), ``ensemble`` (a deep ensemble of ``members`` point networks) or
    ``mc_dropout`` (dropout through the whole trunk); the last two are not recalibrated, and
    with ``warm`` every network starts from its previous round's weights. first_seed: run
    seeds first_seed .. first_seed + seeds - 1, so runs on several machines can be merged
    (:mod:`app.services.experiments.merge`). device: where the product's model fits
    (``heads`` only; the research posteriors fit on the CPU). initial_by: how each seed's
    first ``initial`` labels are drawn — ``random``, or ``typiclust``
    (:func:`bayes.cold_start.typiclust`) on the pretrained encoder's latents, or without an
    encoder on the catalogue colours. debias: weight each labelled galaxy's likelihood by its
    LURE weight (:func:`bayes.acquisition.lure_weights`), so a stochastic strategy's fit
    estimates the pool's loss rather than its picks' (random's weights are all 1).
    """

    task: str
    strategies: tuple[str, ...]
    rounds: int
    batch: int
    seeds: int
    initial: int
    modalities: tuple[str, ...] = ("photometry",)
    epochs: int = EPOCHS
    warm: bool = False
    warm_epochs: int = WARM_EPOCHS
    min_steps: int = MIN_STEPS
    warm_min_steps: int = WARM_MIN_STEPS
    control_fraction: float = CONTROL_FRACTION
    screen: bool | None = None
    beta: float = 1.0
    model: dict[str, Any] = field(default_factory=dict)
    method: str = "heads"
    members: int = 5
    first_seed: int = 0
    device: str = "cpu"
    encoder: str | None = None
    encoder_update: str = "heads"
    initial_by: str = "random"
    debias: bool = False

    def __post_init__(self) -> None:
        if "random" not in self.strategies:
            raise ValueError("strategies must include 'random', the baseline every verdict uses")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose from {METHODS}")
        if self.method == "ensemble" and self.members < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {self.members}")
        if min(self.min_steps, self.warm_min_steps) < 0:
            raise ValueError("min_steps and warm_min_steps must be >= 0")
        if min(self.rounds, self.batch, self.seeds, self.initial) < 1:
            raise ValueError("rounds, batch, seeds and initial must all be >= 1")
        if self.first_seed < 0:
            raise ValueError(f"first_seed must be >= 0, got {self.first_seed}")
        if self.device != "cpu" and self.method != "heads":
            raise ValueError(f"method {self.method!r} fits on the CPU; --device is for 'heads'")
        if self.encoder is not None and (self.method != "heads" or self.warm):
            raise ValueError("a pretrained encoder is for the product's model, fitted cold")
        if self.encoder_update not in UPDATES:
            raise ValueError(f"encoder_update is one of {UPDATES}, not {self.encoder_update!r}")
        if self.initial_by not in INITIAL_BY:
            raise ValueError(f"initial_by is one of {INITIAL_BY}, not {self.initial_by!r}")
        if self.debias:
            fixed = [s for s in self.strategies if s != "random" and not s.startswith("power_")]
            if fixed or self.initial_by != "random" or self.method != "heads" or self.warm:
                raise ValueError(
                    "debias weighs random draws: only random and power_* strategies, a random "
                    f"first set and the product's cold fits (not {fixed or self.initial_by})"
                )
