"""``python -m research probe``: how much a pretrained encoder's frozen latent already knows.

A linear probe (multinomial logistic regression on the standardised latent) fitted on N random
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
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.preprocessing import StandardScaler

from app.cli.common import fail, ready
from app.cli.models.train import parse_modalities
from app.services.experiments.maps import start_map
from app.services.experiments.run import rarest_class
from app.services.models.metrics import classification_metrics
from app.services.models.training import ArrayCache, read_survey, rows_for
from bayes.config import ModelConfig
from bayes.layers.fusion import Trunk
from bayes.pretrained import Encoder, load_encoder, with_architecture


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
    classes: tuple[str, ...], labels: list[int], seed: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """Test metrics of a linear probe on the first n of one random order of the pool, per n."""
    order = np.random.default_rng(seed).permutation(len(train))
    out = []
    for n in labels:
        rows = order[:n]
        scaler = StandardScaler().fit(train[rows])
        model = LogisticRegression(max_iter=2000).fit(scaler.transform(train[rows]), y_train[rows])
        probs = np.zeros((len(test), len(classes)))
        probs[:, model.classes_] = model.predict_proba(scaler.transform(test))
        out.append({"n_labels": n, **classification_metrics(probs, y_test, classes)})
    return out


def probe(
    ctx: typer.Context,
    arms: list[str] = typer.Argument(..., help="NAME=ENCODER_DIR, one or more."),
    survey: str = typer.Option("mock", "--survey"),
    task: str = typer.Option("morphology", "--task", help="A classification task."),
    modalities: str = typer.Option("image", "--modalities", help="Those the latent may read."),
    labels: str = typer.Option("100,300,500,1100", "--labels", help="Label counts, comma list."),
    seeds: int = typer.Option(5, "--seeds", min=1),
    out: Path | None = typer.Option(None, "--json", help="Write the curves here."),
) -> None:
    """Print a markdown table of linear-probe accuracy and rare-class recall per encoder, and
    what each latent encodes (effective rank; R² of the sky noise and of the central flux)."""
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
    if task not in tasks or not tasks[task].is_classification:
        fail(f"survey {survey!r} has no classification task {task!r}")
    t = tasks[task]
    first = next(iter(encoders.values()))
    config = with_architecture(ModelConfig(tasks=(t,), modalities=names), first.config)
    pool, test = rows_for(data, "train", config), rows_for(data, "test", config)
    cache = ArrayCache.load(settings.store(), data.refs, np.concatenate([pool, test]))
    cache = cache.stretched().only(names)
    y = data.targets.values[task].astype(int)
    result: dict[str, Any] = {"survey": survey, "task": task, "modalities": list(names),
                              "pool": len(pool), "test": len(test), "arms": {},
                              "latents": {}}  # fmt: skip
    for name, encoder in encoders.items():
        z_pool, z_test = start_map(cache, pool, encoder), start_map(cache, test, encoder)
        result["arms"][name] = [
            probe_curve(z_pool, y[pool], z_test, y[test], t.classes, counts, seed)
            for seed in range(seeds)
        ]
        images = cache.take(test).images
        result["latents"][name] = {"effective_rank": effective_rank(z_test)} | (
            {} if images is None else shortcut_r2(z_test, images)
        )
    rare = rarest_class(t, y[test])
    typer.echo(f"| labels | {' | '.join(f'{a} accuracy | {a} {rare} recall' for a in encoders)} |")
    typer.echo("|---:" * (1 + 2 * len(encoders)) + "|")
    for i, n in enumerate(counts):
        cells = [str(n)]
        for curves in result["arms"].values():
            for key in ("accuracy", f"recall_{rare}"):
                v = np.array([c[i][key] for c in curves], float)
                cells.append(f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0:.3f}")
        typer.echo("| " + " | ".join(cells) + " |")
    for name, facts in result["latents"].items():
        typer.echo(f"{name}: " + ", ".join(f"{k} {v:.3g}" for k, v in facts.items()))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
