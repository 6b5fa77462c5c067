"""``python -m research experiment``: ``galactive experiment`` with every research knob."""

from __future__ import annotations

from pathlib import Path

import typer

from app.cli.common import DEVICE, device_or_fail
from app.cli.models.experiment import (
    BATCH,
    FIRST_SEED,
    INITIAL,
    JSON_OUT,
    MODALITIES,
    PLOT,
    ROUNDS,
    SEEDS,
    STRATEGY_HELP,
    SURVEY,
    TASK,
    THREADS,
    execute,
)
from app.cli.models.train import parse_modalities
from app.services.experiments.spec import METHODS, ExperimentSpec
from app.services.loop.strategy import CONTROL_FRACTION
from app.services.models.training import SurveyData
from bayes.config import EPOCHS, MIN_STEPS, WARM_EPOCHS, WARM_MIN_STEPS, ModelConfig, TaskConfig
from research.oracle import ORACLES, choosers

# The product's model: an experiment measures what train and retrain fit unless told otherwise.
DEFAULTS = ModelConfig(tasks=(TaskConfig("t", "gaussian"),))


def experiment(
    ctx: typer.Context,
    survey: str = SURVEY,
    task: str = TASK,
    strategies: list[str] = typer.Option(
        [],
        "--strategy",
        help=f"{STRATEGY_HELP} Or {' or '.join(ORACLES)}: references that see the truth "
        "(classification only).",
    ),
    rounds: int = ROUNDS,
    batch: int = BATCH,
    seeds: int = SEEDS,
    initial: int = INITIAL,
    out: Path = JSON_OUT,
    plot: Path | None = PLOT,
    modalities: str = MODALITIES,
    epochs: int = typer.Option(EPOCHS, "--epochs", min=1, help="Most epochs per fit."),
    warm: bool = typer.Option(
        False, "--warm/--scratch", help="Start each round from the previous model, or afresh."
    ),
    warm_epochs: int = typer.Option(
        WARM_EPOCHS, "--warm-epochs", min=1, help="Most epochs of a warm fit."
    ),
    min_steps: int = typer.Option(
        MIN_STEPS,
        "--min-steps",
        min=0,
        help="Floor on optimiser steps per fit (epochs are raised).",
    ),
    warm_min_steps: int = typer.Option(
        WARM_MIN_STEPS, "--warm-min-steps", min=0, help="Floor on steps of a warm fit."
    ),
    control_fraction: float = typer.Option(
        CONTROL_FRACTION, "--control-fraction", min=0.0, max=1.0, help="Random share of a batch."
    ),
    screen: bool | None = typer.Option(
        None,
        "--screen/--no-screen",
        help="Keep galaxies the artifact screen flags out of the active picks (not the control); "
        "default: the product's rule (off; see app/services/loop/strategy.py).",
    ),
    beta: float = typer.Option(1.0, "--beta", min=0.0, help="Power-sampling exponent."),
    latent_dim: int = typer.Option(
        DEFAULTS.latent_dim, "--latent-dim", min=1, help="Fused latent size."
    ),
    image_channels: str = typer.Option(
        ",".join(map(str, DEFAULTS.image_channels)), "--image-channels", help="CNN widths."
    ),
    batch_size: int = typer.Option(
        DEFAULTS.batch_size, "--batch-size", min=1, help="SVI minibatch size."
    ),
    lr: float = typer.Option(DEFAULTS.lr, "--lr", min=0.0, help="Adam learning rate."),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the train/val/test split."),
    threads: int | None = THREADS,
    method: str = typer.Option(
        "heads", "--method", help=f"Posterior: one of {', '.join(METHODS)} (see docs)."
    ),
    members: int = typer.Option(5, "--members", min=2, help="Deep-ensemble size."),
    first_seed: int = FIRST_SEED,
    device: str = DEVICE,
    encoder: Path | None = typer.Option(
        None, "--encoder", help="A pretrained encoder's directory (python -m research pretrain)."
    ),
    encoder_update: str = typer.Option(
        "heads",
        "--encoder-update",
        help="heads: the encoder frozen; warm: fine-tuned; prior: fine-tuned under a prior "
        "centred on the encoder's weights; probe: heads on the frozen encoder first, then "
        "fine-tuned (LP-FT).",
    ),
    initial_by: str = typer.Option(
        "random",
        "--initial-by",
        help="How each seed's first labels are drawn: random, or typiclust (the most typical "
        "galaxy of each unlabelled k-means cluster, on the encoder's latents or else colours).",
    ),
    debias: bool = typer.Option(
        False,
        "--debias",
        help="Weight each labelled galaxy's likelihood by its LURE weight (Farquhar et al. "
        "2021), so a power_* strategy's fits estimate the pool's loss, not its picks'.",
    ),
) -> None:
    """Reveal truth labels round by round with every research knob: fit lengths, model sizes,
    the control share, the screen, power-sampling beta, other posteriors, oracle references."""
    device = device_or_fail(device)
    try:
        channels = tuple(int(c) for c in image_channels.split(","))
    except ValueError:
        raise typer.BadParameter(f"{image_channels!r}", param_hint="--image-channels") from None

    def spec(names: tuple[str, ...]) -> ExperimentSpec:
        return ExperimentSpec(
            task=task, strategies=names, rounds=rounds, batch=batch, seeds=seeds,
            initial=initial, modalities=parse_modalities(modalities), epochs=epochs, warm=warm,
            warm_epochs=warm_epochs, min_steps=min_steps, warm_min_steps=warm_min_steps,
            control_fraction=control_fraction, screen=screen,
            beta=beta, model={"latent_dim": latent_dim, "image_channels": channels,
                              "batch_size": batch_size, "lr": lr},
            method=method, members=members, first_seed=first_seed, device=device,
            encoder=str(encoder) if encoder else None, encoder_update=encoder_update,
            initial_by=initial_by, debias=debias,
        )  # fmt: skip

    def check(data: SurveyData, built: ExperimentSpec) -> None:
        kinds = {t.name: t.is_classification for t in data.tasks}
        if set(built.strategies) & set(ORACLES) and not kinds.get(task, True):
            raise ValueError(f"the oracle references need a classification task; {task!r} is not")

    execute(
        ctx, survey, task, strategies, spec, out, plot, modalities, threads,
        choosers=choosers(), check=check, split_seed=split_seed, program="python -m research",
    )  # fmt: skip
