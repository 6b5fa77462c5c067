"""``python -m research evaluate``: the seed paper's grid of model variants on the test split."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import typer
from tqdm import tqdm

from app.cli.common import fail, machine, ready
from app.cli.models.train import set_threads
from app.services.data.targets import SOURCE_WORDS
from app.services.models.training import EpochHook, read_survey, trainable_tasks
from bayes.config import EPOCHS, MIN_STEPS
from research.evaluation.markdown import write_report
from research.evaluation.run import CLASSICAL, VARIANTS, compare
from research.evaluation.sequential import sequential_comparison


def evaluate(
    ctx: typer.Context,
    survey: str = typer.Option("mock", "--survey", help="Survey to evaluate on."),
    out: Path = typer.Option(
        Path("docs"), "--out", help="Directory for evaluation.md, evaluation.json and img/."
    ),
    epochs: int = typer.Option(
        EPOCHS, "--epochs", min=1, help="Most epochs per variant (the best on validation is kept)."
    ),
    min_steps: int = typer.Option(
        MIN_STEPS, "--min-steps", min=0, help="Floor on optimiser steps (raises the epochs)."
    ),
    variants: str = typer.Option(
        ",".join(VARIANTS), "--variants", help=f"Comma-separated subset of {', '.join(VARIANTS)}."
    ),
    truth: bool = typer.Option(
        True,
        "--truth/--labels",
        help="Targets: the survey's stored truth values (e.g. spectroscopic redshifts) or its "
        "current labels.",
    ),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the train/val/test split."),
    seed: int = typer.Option(0, "--seed", help="Model initialisation and batching seed."),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="Torch CPU threads (default: the cores no other process is busy on).",
    ),
    sequential: bool = typer.Option(
        False, "--sequential", help="Also measure updating with 10% more labels vs retraining."
    ),
    update_epochs: int | None = typer.Option(
        None, "--update-epochs", min=1, help="Epochs of the warm update (default epochs / 3)."
    ),
) -> None:
    """Fit every variant on the training split and compare them on the test split."""
    names = [v.strip() for v in variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names:
        raise typer.BadParameter(f"unknown variants {unknown}; choose from {tuple(VARIANTS)}")
    set_threads(threads)
    settings = ready(ctx)
    engine = settings.engine()
    start = time.perf_counter()
    try:
        data = read_survey(
            engine, survey, source="truth" if truth else "labels", split_seed=split_seed
        )
        tasks = trainable_tasks(data)
    except ValueError as err:
        fail(str(err))
    finally:
        engine.dispose()
    open_bars: list[tqdm] = []

    def on_variant(name: str) -> EpochHook | None:
        """Close the previous variant's bar; a new epoch bar for a Bayesian variant."""
        for b in open_bars:
            b.close()
        open_bars.clear()
        if name in CLASSICAL:
            typer.echo(f"classical baseline: {name}", err=True)
            return None
        progress = tqdm(total=epochs, desc=name, unit="epoch", dynamic_ncols=True)
        open_bars.append(progress)
        return lambda _epoch, _loss: progress.update(1)

    comparison = compare(
        settings.store(),
        data,
        variants=names,
        epochs=epochs,
        seed=seed,
        on_variant=on_variant,
        min_steps=min_steps,
    )
    steps = None
    if sequential:
        steps = sequential_comparison(
            settings.store(),
            data,
            epochs=epochs,
            update_epochs=update_epochs or max(1, epochs // 3),
            seed=seed,
            on_step=on_variant,
            min_steps=min_steps,
        )
    for b in open_bars:
        b.close()
    total = time.perf_counter() - start
    counts = {s: int((data.split == s).sum()) for s in ("train", "validation", "test")}
    command = " ".join(shlex.quote(a) for a in ["python", "-m", "research", *sys.argv[1:]])
    meta = {
        "command": command,
        "machine": machine(),
        "total_seconds": total,
        "survey": survey,
        "n_galaxies": len(data.refs),
        "n_spectra": int(data.refs.spectrum.present.sum()),
        "split": counts,
        "split_seed": split_seed,
        "seed": seed,
        "epochs": epochs,
        "targets": "truth" if truth else "labels",
        "variants": names,
    }
    preamble = [
        f"Command: `{command}`",
        "",
        f"Machine: {meta['machine']}. Total wall time {total:.0f} s.",
        "",
        f"Survey {survey!r}: {len(data.refs)} galaxies, split by hashed source id "
        f"(seed {split_seed}) into {counts}; {meta['n_spectra']} have spectra. "
        f"Targets: {SOURCE_WORDS[meta['targets']]}. "
        f"{epochs} epoch{'s' * (epochs != 1)} per variant.",
    ]
    path = write_report(comparison, tasks, out, preamble=preamble, meta=meta, sequential=steps)
    typer.echo(f"wrote {path} and {path.with_suffix('.json').name} in {total:.0f} s")
