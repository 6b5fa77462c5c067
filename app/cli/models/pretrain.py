"""``galactive pretrain``: a survey's own encoder from every galaxy, labelled or not."""

from __future__ import annotations

import typer

from app.cli.common import THREADS, bar, fail, ready
from app.cli.models.train import parse_modalities, set_threads
from app.services.models.pretrain_job import request_pretraining
from app.services.models.pretraining import run_pretraining
from bayes.data import MODALITIES
from bayes.pretrain import PretrainConfig
from storage.db import session_scope

DEFAULTS = PretrainConfig()


def pretrain(
    ctx: typer.Context,
    survey: str = typer.Option("mock", "--survey", help="Survey to pretrain on."),
    modalities: str = typer.Option(
        ",".join(MODALITIES), "--modalities", help="Comma-separated: image,spectrum,photometry."
    ),
    epochs: int = typer.Option(DEFAULTS.epochs, "--epochs", min=1, help="Passes over the survey."),
    batch_size: int = typer.Option(DEFAULTS.batch_size, "--batch-size", min=1),
    lr: float = typer.Option(DEFAULTS.lr, "--lr", min=0.0, help="AdamW learning rate."),
    mask_ratio: float = typer.Option(
        DEFAULTS.mask_ratio,
        "--mask-ratio",
        min=0.0,
        max=0.99,
        help="Share of image patches and spectrum tokens hidden.",
    ),
    band_ratio: float = typer.Option(
        DEFAULTS.band_ratio, "--band-ratio", min=0.0, max=0.99, help="Share of bands hidden."
    ),
    drop_modality: float = typer.Option(
        DEFAULTS.drop_modality,
        "--drop-modality",
        min=0.0,
        max=0.99,
        help="Chance a modality is hidden whole (galaxies with several).",
    ),
    invariance: float = typer.Option(
        DEFAULTS.invariance,
        "--invariance",
        min=0.0,
        help="Weight of a VICReg term asking the masked view of a galaxy and a whole one (turned "
        "or mirrored, more noise) for the same latent; 0 reconstructs only. Research: on the "
        "20k mock it did worse than 0 (docs/pretraining.md).",
    ),
    contrastive: float = typer.Option(
        DEFAULTS.contrastive,
        "--contrastive",
        min=0.0,
        help="Weight of a CLIP-style term asking each galaxy's image-only and spectrum-only "
        "latents to pick each other out of a batch of galaxies with both (AstroCLIP); 0 leaves "
        "it out. Needs image and spectrum among --modalities. Research: on the 20k mock it "
        "lifted image-only redshift on an image+spectrum encoder from worst to level with "
        "from-scratch, at 3.3x the pretraining time (docs/pretraining.md).",
    ),
    seed: int = typer.Option(DEFAULTS.seed, "--seed"),
    threads: int | None = THREADS,
    background: bool = typer.Option(
        False,
        "--background",
        help="Queue it as a job for `galactive worker` (progress and ETA in the jobs table; a "
        "lost worker's run is resumed) and return at once.",
    ),
) -> None:
    """Masked pretraining of an encoder on every galaxy of a survey, as a new version under
    <home>/encoders/<survey>/; an interrupted run with the same settings is resumed."""
    names = parse_modalities(modalities)
    settings = ready(ctx)
    config = PretrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        mask_ratio=mask_ratio,
        band_ratio=band_ratio,
        drop_modality=drop_modality,
        invariance=invariance,
        contrastive=contrastive,
        seed=seed,
    )
    if background:
        engine = settings.engine()
        try:
            with session_scope(engine) as session:
                job_id = request_pretraining(session, survey, names, config)
        finally:
            engine.dispose()
        typer.echo(f"pretraining job {job_id} queued for survey {survey!r}; run `galactive worker`")
        return
    set_threads(threads)
    with bar(None, f"pretrain {survey}", unit="step") as advance:
        shown = [0]

        def step(done: int, total: int) -> None:  # a resumed run starts past step 0
            if not shown[0]:
                advance.plan(total)
            advance(done - shown[0])
            shown[0] = done

        try:
            result = run_pretraining(settings, survey, names, config, on_step=step)
        except ValueError as err:
            fail(str(err))
    resumed = f", resumed after epoch {result.resumed_from}" if result.resumed_from else ""
    typer.echo(
        f"encoder {result.directory}: {result.galaxies} galaxies, {result.seconds:.0f} s{resumed}"
    )
    typer.echo("  loss, last epoch: " + ", ".join(f"{k} {v:.4g}" for k, v in result.losses.items()))
