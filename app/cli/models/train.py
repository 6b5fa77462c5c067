"""``galactive train``: fit a model version on a survey's truth or labels."""

from __future__ import annotations

import typer

from app.cli.common import DEVICE, Advance, bar, device_or_fail, fail, ready
from app.config import Settings
from app.services.compute import use_threads_for_load
from app.services.loop.retrain import active_version, request_retrain
from app.services.models.metrics import PER_CLASS
from app.services.models.new_version import train as train_version
from app.services.models.pretraining import find_encoder
from bayes.config import EPOCHS, MIN_STEPS
from bayes.data import MODALITIES
from bayes.model import UPDATES
from storage.db import session_scope


def parse_modalities(text: str) -> tuple[str, ...]:
    """ "image,spectrum" -> ("image", "spectrum"); BadParameter naming an unknown modality."""
    names = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in names if m not in MODALITIES]
    if bad or not names:
        raise typer.BadParameter(f"unknown modalities {bad or text!r}; choose from {MODALITIES}")
    return names


def set_threads(threads: int | None) -> None:
    """Torch's intra-op threads: ``threads``, or None for the cores nobody else is running on
    (:func:`app.services.compute.threads_for_load`)."""
    if threads is None:
        use_threads_for_load()
        return
    import torch

    torch.set_num_threads(threads)


def train(
    ctx: typer.Context,
    survey: str = typer.Option("mock", "--survey", help="Survey to train on."),
    fusion: str = typer.Option("feature", "--fusion", help="early, feature or late."),
    modalities: str = typer.Option(
        ",".join(MODALITIES), "--modalities", help="Comma-separated: image,spectrum,photometry."
    ),
    epochs: int = typer.Option(
        EPOCHS, "--epochs", min=1, help="Most epochs (the best on validation is kept)."
    ),
    min_steps: int = typer.Option(
        MIN_STEPS, "--min-steps", min=0, help="Floor on optimiser steps (raises the epochs)."
    ),
    truth: bool = typer.Option(
        True,
        "--truth/--labels",
        help="Learn from the survey's stored truth values (a catalog's spectroscopic redshifts, "
        "the mock's simulated ones) or from its current labels.",
    ),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the train/val/test split."),
    seed: int = typer.Option(0, "--seed", help="Model initialisation and batching seed."),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="Torch CPU threads (default: the cores no other process is busy on).",
    ),
    device: str = DEVICE,
    skip_if_active: bool = typer.Option(
        False, "--skip-if-active", help="Do nothing if the survey has an active model (scripts)."
    ),
    encoder: str | None = typer.Option(
        None,
        "--encoder",
        help="Start from a pretrained encoder of the survey (`galactive pretrain`): latest, vN "
        "or a directory. Its modalities and fusion replace --modalities and --fusion.",
    ),
    encoder_update: str = typer.Option(
        "warm",
        "--encoder-update",
        help="With --encoder: heads (encoder frozen), warm (fine-tuned), prior (fine-tuned near "
        "the encoder) or probe (heads on the frozen encoder first, then fine-tuned).",
    ),
    background: bool = typer.Option(
        False,
        "--background",
        help="Queue the survey's first model as a job for `galactive worker` (which scores the "
        "pool and builds the queues too) and return at once; its progress shows in the app.",
    ),
) -> None:
    """Fit a Bayesian model on the training split, recalibrate on validation, record a version."""
    if fusion not in ("early", "feature", "late"):
        raise typer.BadParameter(f"unknown fusion {fusion!r}", param_hint="--fusion")
    names = parse_modalities(modalities)
    device = device_or_fail(device)
    settings = ready(ctx)
    if encoder_update not in UPDATES:
        raise typer.BadParameter(f"one of {UPDATES}", param_hint="--encoder-update")
    start: dict[str, str] = {}
    if encoder is not None:
        try:
            found = find_encoder(settings, survey, encoder)
        except ValueError as err:
            fail(str(err))
        start = {"encoder": str(found), "encoder_update": encoder_update}
    if (skip_if_active or background) and _has_active(settings, survey):
        if not skip_if_active:
            fail(f"survey {survey!r} has an active model: update it with `galactive retrain`")
        typer.echo(f"survey {survey!r} already has an active model; skipping")
        return
    if background:
        first = {"source": "truth" if truth else "labels", "split_seed": split_seed}
        first["model"] = {"fusion": fusion, "modalities": list(names), "seed": seed}
        first |= start
        job_id = _queue_first(
            settings, survey, first, epochs=epochs, min_steps=min_steps, device=device
        )
        typer.echo(f"first-model job {job_id} queued for survey {survey!r}; run `galactive worker`")
        return
    set_threads(threads)
    # the step floor may raise the epochs, and the training set's size is known only inside
    with bar(epochs, f"train {survey} ({fusion})", unit="epoch") as advance:
        try:
            result = train_version(
                settings,
                survey,
                source="truth" if truth else "labels",
                split_seed=split_seed,
                on_epoch=lambda _epoch, _loss: adapt(threads, advance),
                on_plan=advance.plan,
                fusion=fusion,
                modalities=names,
                epochs=epochs,
                min_steps=min_steps,
                seed=seed,
                device=device,
                **start,  # type: ignore[arg-type]
            )
        except ValueError as err:
            fail(str(err))
    fitted = result.fitted
    typer.echo(
        f"model {result.name} (id {result.version_id}): {fitted.n_train} galaxies, "
        f"{fitted.fit_seconds:.1f} s; checkpoint {settings.home / result.checkpoint}"
        + ("; active" if result.active else "")
    )
    for task, m in fitted.validation.items():
        typer.echo(f"  validation {task}: {_headline(m)}")
        if per_class := _per_class(m):
            typer.echo(f"    per class, recall / average precision: {per_class}")
    refit = " after one refit" if fitted.restarts else ""
    typer.echo(f"  health{refit}: {fitted.health.summary()}")
    if not fitted.health.ok:
        typer.echo("  this version will not be activated", err=True)


def _queue_first(
    settings: Settings, survey: str, first: dict, *, epochs: int, min_steps: int, device: str
) -> int:
    engine = settings.engine()
    named = None if device == "cpu" else device  # on the CPU: wherever the worker runs it
    try:
        with session_scope(engine) as session:
            return request_retrain(
                session, survey, epochs=epochs, min_steps=min_steps, first=first, device=named
            )
    finally:
        engine.dispose()


def _has_active(settings: Settings, survey: str) -> bool:
    engine = settings.engine()
    try:
        with session_scope(engine) as session:
            return active_version(session, survey) is not None
    finally:
        engine.dispose()


def adapt(threads: int | None, advance: Advance) -> None:
    """After an epoch: move the bar on and, unless --threads fixed them, fit the threads to the
    machine's load again."""
    advance(1)
    if threads is None:
        use_threads_for_load(samples=3)


def _headline(metrics: dict) -> str:
    """The task's validation metrics but the per-class ones, as `name value` pairs."""
    per_class = tuple(f"{m}_" for m in PER_CLASS)
    shown = {k: v for k, v in metrics.items() if not k.startswith(per_class)}
    return ", ".join(f"{k} {v:.4g}" for k, v in shown.items() if isinstance(v, float))


def _per_class(metrics: dict) -> str:
    """Each class's recall and average precision, `class 0.91 / 0.95` ('-' without a galaxy)."""
    classes = [k.removeprefix("recall_") for k in metrics if k.startswith("recall_")]

    def value(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    return ", ".join(
        f"{c} {value(metrics[f'recall_{c}'])} / {value(metrics.get(f'ap_{c}'))}" for c in classes
    )
