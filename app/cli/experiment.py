"""``galactive experiment``: oracle active-learning runs of strategies against random."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

import typer

from app.cli.common import fail, ready
from app.cli.evaluate import machine
from app.cli.progress import bar
from app.cli.train import parse_modalities, set_threads
from app.services.experiments.oracle import ORACLES
from app.services.experiments.plot import plot_experiment
from app.services.experiments.run import METHODS, ExperimentSpec, merge_results, run_experiment
from app.services.loop.strategy import (
    CONTROL_FRACTION,
    DEFAULT_STRATEGY,
    REGRESSION_CANDIDATE,
)
from app.services.models.training import read_survey
from bayes.acquisition import STRATEGIES
from bayes.config import EPOCHS, MIN_STEPS, WARM_EPOCHS, WARM_MIN_STEPS, ModelConfig, TaskConfig

# The product's model: an experiment measures what train and retrain fit unless told otherwise.
DEFAULTS = ModelConfig(tasks=(TaskConfig("t", "gaussian"),))


def experiment(
    ctx: typer.Context,
    survey: str = typer.Option(
        "mock", "--survey", help="Survey with stored truth values (e.g. spectroscopic redshifts)."
    ),
    task: str = typer.Option(
        "morphology", "--task", help="Task whose stored truth is revealed as labels."
    ),
    strategies: list[str] = typer.Option(
        [],
        "--strategy",
        help=f"Repeat for several; random is always added. One of {', '.join(STRATEGIES)}; or"
        f" {' or '.join(ORACLES)}, references that see the truth (classification only). "
        f"Default: {DEFAULT_STRATEGY} for a classification, {REGRESSION_CANDIDATE} for a "
        "regression (whose product default is random: docs/real_data.md).",
    ),
    rounds: int = typer.Option(8, "--rounds", min=1, help="Acquisition rounds after round 0."),
    batch: int = typer.Option(50, "--batch", min=1, help="Labels revealed per round."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Repeats (initial set, model seed)."),
    initial: int = typer.Option(100, "--initial", min=1, help="Random initial labelled set."),
    out: Path = typer.Option(..., "--json", help="Where to write the results (JSON)."),
    plot: Path | None = typer.Option(None, "--plot", help="Learning-curve PNG."),
    modalities: str = typer.Option("photometry", "--modalities", help="Model inputs."),
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
    threads: int | None = typer.Option(None, "--threads", min=1, help="Torch CPU threads."),
    method: str = typer.Option(
        "heads", "--method", help=f"Posterior: one of {', '.join(METHODS)} (see docs)."
    ),
    members: int = typer.Option(5, "--members", min=2, help="Deep-ensemble size."),
    first_seed: int = typer.Option(
        0, "--first-seed", min=0, help="Run seeds from here (merge runs: experiment-merge)."
    ),
) -> None:
    """Reveal truth labels round by round; compare strategies with random on the test split."""
    names = tuple(dict.fromkeys([*strategies, "random"]))
    unknown = [s for s in names if s not in STRATEGIES + ORACLES]
    if unknown:
        raise typer.BadParameter(
            f"unknown strategies {unknown}; choose from {STRATEGIES + ORACLES}"
        )
    try:
        channels = tuple(int(c) for c in image_channels.split(","))
    except ValueError:
        raise typer.BadParameter(f"{image_channels!r}", param_hint="--image-channels") from None
    set_threads(threads)
    settings = ready(ctx)
    start = time.perf_counter()
    engine = settings.engine()
    try:
        data = read_survey(engine, survey, source="truth", split_seed=split_seed)
        if not strategies:
            kinds = {t.name: t.is_classification for t in data.tasks}
            names = (DEFAULT_STRATEGY if kinds.get(task, True) else REGRESSION_CANDIDATE, "random")
        spec = ExperimentSpec(
            task=task, strategies=names, rounds=rounds, batch=batch, seeds=seeds,
            initial=initial, modalities=parse_modalities(modalities), epochs=epochs, warm=warm,
            warm_epochs=warm_epochs, min_steps=min_steps, warm_min_steps=warm_min_steps,
            control_fraction=control_fraction, screen=screen,
            beta=beta, model={"latent_dim": latent_dim, "image_channels": channels,
                              "batch_size": batch_size, "lr": lr},
            method=method, members=members, first_seed=first_seed,
        )  # fmt: skip
    except ValueError as err:
        fail(str(err))
    finally:
        engine.dispose()
    total = len(names) * seeds * (rounds + 1)
    with bar(total, f"experiment {survey}/{task}", unit="fit") as advance:
        try:
            result = run_experiment(
                settings.store(), data, spec, on_fit=lambda _s, _seed, _r: advance(1)
            )
        except ValueError as err:
            fail(str(err))
    result["command"] = " ".join(shlex.quote(a) for a in ["galactive", *sys.argv[1:]])
    result["machine"] = machine()
    result["survey"] = survey
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    if plot is not None:
        plot_experiment(result, plot, title=f"{survey}: {task} from {modalities}")
    for line in result["summary"]:
        typer.echo(line)
    shown = f"{out}" + (f" and {plot}" if plot else "")
    typer.echo(f"wrote {shown} in {result['wall_seconds']:.0f} s")


def merge(
    parts: list[Path] = typer.Argument(..., help="Experiment JSONs of the same setup."),
    out: Path = typer.Option(..., "--json", help="Where to write the merged result (JSON)."),
    plot: Path | None = typer.Option(None, "--plot", help="Learning-curve PNG."),
) -> None:
    """Merge experiment runs on different seeds (--first-seed) into one result and plot."""
    try:
        results = [json.loads(p.read_text()) for p in parts]
    except (OSError, json.JSONDecodeError) as err:
        fail(f"cannot read an experiment JSON: {err}")
    try:
        result = merge_results(results)
    except (ValueError, KeyError) as err:
        fail(f"cannot merge {', '.join(map(str, parts))}: {err}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    if plot is not None:
        title = f"{result['survey']}: {result['setup']['task']} from "
        plot_experiment(result, plot, title=title + ",".join(result["setup"]["modalities"]))
    for line in result["summary"]:
        typer.echo(line)
    typer.echo(f"merged seeds {result['setup']['seed_ids']} into {out}")
