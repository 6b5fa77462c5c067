"""``python -m research probe``: how much a pretrained encoder's frozen latent already knows.

A linear probe (multinomial logistic regression on the standardised latent for a
classification, ridge regression in the task's fitted space for a regression) fitted on N random
labels of the experiment's pool and scored on its test split, for each encoder and for an
untrained trunk of the same architecture (the floor a representation must clear). Seconds per
encoder once its latents exist, against hours for the experiment runs it screens for: the
representation-learning field's standard first measure (e.g. Walmsley et al. 2022, Zoobot).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import typer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import cross_val_score
from sklearn.preprocessing import StandardScaler

from app.cli.common import fail, ready
from app.cli.models.train import parse_modalities
from app.services.experiments.maps import start_map
from app.services.experiments.run import rarest_class
from app.services.models.metrics import classification_metrics, is_redshift, regression_metrics
from app.services.models.training import ArrayCache, read_survey, rows_for
from bayes.config import ModelConfig, TaskConfig
from bayes.layers.fusion import Trunk
from bayes.pretrained import Encoder, load_encoder, with_architecture
from bayes.targets import inverse_transform, transform


def _arms(specs: list[str]) -> dict[str, Encoder]:
    """'name=DIR' -> {name: encoder}, and 'untrained': the first one's architecture, fresh."""
    arms = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise typer.BadParameter(f"{spec!r}: expected NAME=ENCODER_DIR", param_hint="ARMS")
        arms[name] = load_encoder(path)
    first = next(iter(arms.values()))
    torch.manual_seed(0)
    fresh = Trunk(first.config, n_bands=first.n_bands, n_phot=first.n_phot)
    # the input scaling fitted from the survey (buffers, not learnt) comes along, so the floor
    # is the architecture's, not a badly scaled input's
    fresh.load_state_dict({**fresh.state_dict(), **dict(first.trunk.named_buffers())})
    return {"untrained": first._replace(trunk=fresh), **arms}


def effective_rank(z: np.ndarray) -> float:
    """exp(entropy) of the latent covariance's eigenvalue shares: how many directions it uses
    (Roy & Vetterli 2007); 1 when it collapsed to one, D when all D are used alike."""
    share = np.clip(np.linalg.eigvalsh(np.cov(z.T)), 0, None)
    share = share[share > 0] / share.sum()
    return float(np.exp(-(share * np.log(share)).sum()))


MIN_FOLD = 10  # galaxies per cross-validation fold below which no R² is reported


def shortcut_r2(z: np.ndarray, images: np.ndarray) -> dict[str, float]:
    """Cross-validated R² (5 folds) of a linear map from the latent to the cutout's sky noise
    (median absolute deviation of its 4-pixel border, mean over bands) and to its central flux
    (sum of the central quarter): a latent that tells the noise better than the galaxy learnt a
    shortcut. Empty below ``MIN_FOLD`` galaxies a fold, where R² means little."""
    if len(z) < 5 * MIN_FOLD:
        return {}
    edge = np.concatenate([images[:, :, :4].reshape(*images.shape[:2], -1),
                           images[:, :, -4:].reshape(*images.shape[:2], -1)], 2)  # fmt: skip
    noise = np.median(np.abs(edge - np.median(edge, 2, keepdims=True)), 2).mean(1)
    h, w = images.shape[2:]
    centre = images[:, :, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].sum((1, 2, 3))
    return {name: float(cross_val_score(LinearRegression(), z, y, cv=5).mean())
            for name, y in (("sky_noise", noise), ("central_flux", centre))}  # fmt: skip


def probe_curve(
    train: np.ndarray, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray,
    task: TaskConfig, labels: list[int], seed: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """Test metrics of a linear probe on the first n of one random order of the pool, per n."""
    order = np.random.default_rng(seed).permutation(len(train))
    out = []
    for n in labels:
        rows = order[:n]
        scaler = StandardScaler().fit(train[rows])
        x, x_test = scaler.transform(train[rows]), scaler.transform(test)
        if task.is_classification:
            model = LogisticRegression(max_iter=2000).fit(x, y_train[rows])
            probs = np.zeros((len(test), len(task.classes)))
            probs[:, model.classes_] = model.predict_proba(x_test)
            metrics = classification_metrics(probs, y_test, task.classes)
        else:
            ridge = Ridge(alpha=1.0).fit(x, transform(task, y_train[rows]))
            predicted = inverse_transform(task, ridge.predict(x_test))
            metrics = regression_metrics(task, predicted, y_test, {})
        out.append({"n_labels": n, **metrics})
    return out


def _columns(task: TaskConfig, y_test: np.ndarray) -> tuple[str, str]:
    """The two metrics the table shows for ``task``."""
    if task.is_classification:
        return "accuracy", f"recall_{rarest_class(task, y_test)}"
    return ("sigma_nmad", "outlier_fraction") if is_redshift(task) else ("rmse", "r2")


def probe(
    ctx: typer.Context,
    arms: list[str] = typer.Argument(..., help="NAME=ENCODER_DIR, one or more."),
    survey: str = typer.Option("mock", "--survey"),
    task: str = typer.Option("morphology", "--task", help="A task of the survey."),
    modalities: str = typer.Option("image", "--modalities", help="Those the latent may read."),
    labels: str = typer.Option("100,300,500,1100", "--labels", help="Label counts, comma list."),
    seeds: int = typer.Option(5, "--seeds", min=1),
    out: Path | None = typer.Option(None, "--json", help="Write the curves here."),
) -> None:
    """Print a markdown table of linear-probe accuracy and rare-class recall (a regression:
    σ_NMAD and outlier fraction, or RMSE and R²) per encoder, and what each latent encodes
    (effective rank; R² of the sky noise and of the central flux)."""
    settings = ready(ctx)
    counts = [int(x) for x in labels.split(",")]
    names = parse_modalities(modalities)
    encoders = _arms(arms)
    engine = settings.engine()
    try:
        data = read_survey(engine, survey, source="truth")
    finally:
        engine.dispose()
    tasks = {t.name: t for t in data.tasks}
    if task not in tasks:
        fail(f"survey {survey!r} has no task {task!r}; it has {', '.join(tasks)}")
    t = tasks[task]
    first = next(iter(encoders.values()))
    config = with_architecture(ModelConfig(tasks=(t,), modalities=names), first.config)
    pool, test = rows_for(data, "train", config), rows_for(data, "test", config)
    cache = ArrayCache.load(settings.store(), data.refs, np.concatenate([pool, test]))
    cache = cache.stretched().only(names)
    y = data.targets.values[task]
    y = y.astype(int) if t.is_classification else y.astype(float)
    result: dict[str, Any] = {"survey": survey, "task": task, "modalities": list(names),
                              "pool": len(pool), "test": len(test), "arms": {},
                              "latents": {}}  # fmt: skip
    for name, encoder in encoders.items():
        z_pool, z_test = start_map(cache, pool, encoder), start_map(cache, test, encoder)
        result["arms"][name] = [
            probe_curve(z_pool, y[pool], z_test, y[test], t, counts, seed) for seed in range(seeds)
        ]
        images = cache.take(test).images
        result["latents"][name] = {"effective_rank": effective_rank(z_test)} | (
            {} if images is None else shortcut_r2(z_test, images)
        )
    keys = _columns(t, y[test])
    heads = [f"{a} {k}" for a in encoders for k in keys]
    typer.echo(f"| labels | {' | '.join(heads)} |")
    typer.echo("|---:" * (1 + len(heads)) + "|")
    for i, n in enumerate(counts):
        cells = [str(n)]
        for curves in result["arms"].values():
            for key in keys:
                v = np.array([c[i][key] for c in curves], float)
                m, sd = v.mean(), v.std(ddof=1) if len(v) > 1 else 0.0
                form = "{:.3f} ± {:.3f}" if t.is_classification else "{:.4g} ± {:.2g}"
                cells.append(form.format(m, sd))
        typer.echo("| " + " | ".join(cells) + " |")
    for name, facts in result["latents"].items():
        typer.echo(f"{name}: " + ", ".join(f"{k} {v:.3g}" for k, v in facts.items()))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
