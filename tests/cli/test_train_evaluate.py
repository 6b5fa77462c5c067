"""`galactive train` and `python -m research evaluate` end to end on a small mock (SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.cli import app
from app.config import Settings, resolve
from app.services.data.arrays import load_arrays
from app.services.models.metrics import posterior_metrics
from app.services.models.training import (
    ArrayCache,
    fit_calibrated,
    predict_rows,
    read_survey,
    rows_for,
    subset,
)
from app.services.models.versions import load_version
from bayes.checks.health import MIN_DECIDE
from bayes.config import ModelConfig
from research.cli import app as research
from research.evaluation.run import training_cache
from storage.db import session_scope
from storage.models import Label, ModelVersion

runner = CliRunner()
N = 60


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60-galaxy mock survey with spectra for 30% (so --labels has redshifts to learn)."""
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("galactive")
    args = ["--home", str(path), "mock", "--n", str(N), "--seed", "5", "--workers", "1"]
    result = runner.invoke(app, [*args, "--spectra-fraction", "0.3"])
    assert result.exit_code == 0, result.output
    return path


def _galactive(home: Path, *args: str) -> str:
    command = research if args[0] == "evaluate" else app  # evaluate is a research command
    result = runner.invoke(command, ["--home", str(home), *args])
    assert result.exit_code == 0, result.output
    return result.output


def _versions(settings: Settings) -> list[ModelVersion]:
    engine = settings.engine()
    with session_scope(engine) as session:
        versions = session.scalars(select(ModelVersion).order_by(ModelVersion.id)).all()
    engine.dispose()
    return list(versions)


def test_train_records_a_ready_active_version_whose_checkpoint_reloads(home: Path) -> None:
    output = _galactive(home, "train", "--epochs", "1", "--min-steps", "0", "--threads", "1")
    assert "validation morphology: accuracy" in output
    per_class = next(ln for ln in output.splitlines() if "per class" in ln)
    assert "spiral " in per_class and "recall_" not in output  # recall / AP pairs, by class name
    settings = resolve(None, home)
    (version,) = _versions(settings)
    assert (version.status, version.is_active, version.activated_at is not None) == (
        "ready",
        True,
        True,
    )
    assert version.config["model"]["fusion"] == "feature" and version.config["source"] == "truth"
    assert version.label_watermark is None  # trained on truth, not on labels
    data = read_survey(settings.engine(), "mock", source="truth")
    assert version.n_labels == 3 * int((data.split == "train").sum())  # three tasks, all known
    metrics = version.metrics["validation"]
    assert set(metrics) == {"morphology", "redshift", "sfr"}
    assert 0 <= metrics["morphology"]["ece"] <= 1 and metrics["redshift"]["sigma_nmad"] > 0
    assert (home / version.checkpoint / "weights.safetensors").exists()

    # Reloaded from disk, the model gives the same validation posterior, hence the same metrics.
    model = load_version(home, version.checkpoint)
    val = rows_for(data, "validation", model.config)
    # Under MIN_DECIDE validation galaxies: no recalibration factor, and health says so.
    assert len(val) < MIN_DECIDE and model.calibration.to_dict() == {
        "temperature": {},
        "spread": {},
    }
    assert version.metrics["health"]["ok"] and version.metrics["activation"]["activate"]
    baseline = [c for c in version.metrics["health"]["checks"] if c["name"] == "baseline"]
    assert baseline and all("too few to compare" in c["detail"] for c in baseline)
    posterior = predict_rows(model, settings.store(), data.refs, val)
    again = predict_rows(model, settings.store(), data.refs, val)
    np.testing.assert_array_equal(posterior.probs["morphology"], again.probs["morphology"])
    tasks = model.config.tasks
    recomputed = posterior_metrics(
        posterior, subset(data.targets.values, val), tasks, data.present(val)
    )
    assert recomputed == metrics

    # A second version is recorded but does not take over: activation is not train's job.
    _galactive(home, "train", "--epochs", "1", "--fusion", "late", "--min-steps", "0",
               "--threads", "1")  # fmt: skip
    first, second = _versions(settings)
    assert first.is_active and not second.is_active and second.status == "ready"
    assert second.name != first.name and (home / second.checkpoint).is_dir()


def test_train_on_labels_records_the_label_watermark(home: Path) -> None:
    settings = resolve(None, home)
    _galactive(home, "train", "--labels", "--modalities", "spectrum,photometry", "--epochs", "1",
               "--min-steps", "12")  # fmt: skip
    version = _versions(settings)[-1]
    # the step floor raised the one epoch: 12 steps at ceil(n / 32) steps an epoch
    steps_per_epoch = -(-version.metrics["n_train"] // 32)
    assert version.config["model"]["min_steps"] == 12
    assert len(version.metrics["loss_history"]) == max(1, -(-12 // steps_per_epoch))
    engine = settings.engine()
    with session_scope(engine) as session:
        newest = session.scalar(select(func.max(Label.id)))
    engine.dispose()
    data = read_survey(settings.engine(), "mock", source="labels")
    train_labels = np.isfinite(data.targets.values["redshift"][data.split == "train"]).sum()
    assert version.label_watermark == newest  # the mock's labels are spectroscopic redshifts
    assert version.n_labels == train_labels
    assert set(version.metrics["validation"]) <= {"redshift"}
    assert version.config["model"]["modalities"] == ["spectrum", "photometry"]


def test_bad_options_are_refused_with_their_value(home: Path) -> None:
    result = runner.invoke(app, ["--home", str(home), "train", "--modalities", "image,radio"])
    assert result.exit_code == 2 and "radio" in result.output
    result = runner.invoke(app, ["--home", str(home), "train", "--survey", "nope"])
    assert result.exit_code == 2 and "no survey named 'nope'" in result.output
    result = runner.invoke(
        research, ["--home", str(home), "evaluate", "--variants", "feature,fancy"]
    )
    assert result.exit_code == 2 and "fancy" in result.output


def test_evaluate_writes_the_table_and_figures(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "docs"
    args = ["evaluate", "--out", str(out), "--epochs", "1", "--min-steps", "0", "--threads", "1"]
    _galactive(home, *args, "--variants", "image,feature", "--sequential")
    text = (out / "evaluation.md").read_text()
    for row in ("| image |", "| feature |", "| linear (photometry) |", "| forest (photometry) |"):
        assert row in text
    assert "σ_NMAD image+spectrum" in text and "## Acceptance checks" in text
    assert "## Sequential update" in text
    for step in ("| base (", "| scratch (all", "| warm (all", "| prior (new"):
        assert step in text
    for name in ("eval_reliability.png", "eval_pit.png", "eval_coverage.png", "eval_redshift.png"):
        png = out / "img" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Against the classical baselines" in text.split("## Results")[0]
    assert "| 95% coverage | CDE loss |" in text and "coverage of the central interval" in text
    assert "Targets: truth (the survey's stored truth values" in text
    assert "simulation truth" not in text
    doc = json.loads((out / "evaluation.json").read_text())
    names = [r["name"] for r in doc["results"]]
    assert names == ["image", "feature", "linear (photometry)", "forest (photometry)"]
    assert doc["run"]["targets"] == "truth" and doc["run"]["variants"] == ["image", "feature"]
    assert doc["run"]["total_seconds"] > 0 and "cores" in doc["run"]["machine"]
    assert [r["name"].split(" ")[0] for r in doc["sequential"]] == ["base", "scratch", "warm",
                                                                     "prior"]  # fmt: skip
    feature = doc["results"][1]["metrics"]["redshift"]
    assert len(feature["coverage"]) == len(feature["coverage_levels"]) == 20
    assert isinstance(feature["cde_loss"], float)
    assert {c["variant"] for c in doc["against_classical"]} == {"image", "feature"}


def test_evaluate_one_variant_on_labels_draws_its_calibration_beside_the_floor(
    home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "docs"
    args = [
        "evaluate",
        "--out",
        str(out),
        "--epochs",
        "1",
        "--min-steps",
        "0",
        "--threads",
        "1",
        "--labels",
    ]
    _galactive(home, *args, "--variants", "photometry")
    text = (out / "evaluation.md").read_text()
    assert "![PIT histograms](img/eval_pit.png)" in text  # drawn for a single-modality variant
    assert "![coverage against nominal level](img/eval_coverage.png)" in text
    assert "Targets: current labels" in text
    doc = json.loads((out / "evaluation.json").read_text())
    by_name = {r["name"]: r for r in doc["results"]}
    assert set(by_name) == {"photometry", "linear (photometry)", "forest (photometry)"}
    # the classical floor learns from exactly the photometry variant's training labels
    bayes, forest = by_name["photometry"], by_name["forest (photometry)"]
    assert forest["train_labels"] == bayes["train_labels"] and forest["n_train"] == bayes["n_train"]
    for task, m in bayes["metrics"].items():
        assert forest["metrics"][task]["n"] == m["n"]  # and is scored on the same test galaxies
    assert doc["figures"][:2] == ["img/eval_pit.png", "img/eval_coverage.png"]


def test_help_texts_do_not_call_stored_truth_a_simulation() -> None:
    for cli, command in ((app, "train"), (research, "evaluate"), (app, "experiment")):
        result = runner.invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and "simulation truth" not in result.output


def test_a_cache_holding_the_validation_split_calibrates_alike(home: Path) -> None:
    settings = resolve(home=home)
    engine = settings.engine()
    data = read_survey(engine, "mock", source="truth")
    engine.dispose()
    config = ModelConfig(tasks=data.tasks, modalities=("photometry",), epochs=2)
    train, val = rows_for(data, "train", config), rows_for(data, "validation", config)
    store = settings.store()
    small = ArrayCache.load(store, data.refs, train)
    full = ArrayCache.load(store, data.refs, np.concatenate([train, val]))
    assert full.holds(val) and not small.holds(val) and small.holds(train[:0])
    with pytest.raises(ValueError, match="not loaded"):
        small.take(val)
    streamed = fit_calibrated(store, data, config, cache=small)  # val streams from the store
    cached = fit_calibrated(store, data, config, cache=full)  # val comes from the cache
    assert cached.model.calibration.to_dict() == streamed.model.calibration.to_dict()
    assert cached.validation == streamed.validation


def test_the_evaluation_cache_is_stretched_once_and_fits_alike(home: Path) -> None:
    settings = resolve(home=home)
    engine = settings.engine()
    data = read_survey(engine, "mock", source="truth")
    engine.dispose()
    store = settings.store()
    cache = training_cache(store, data)
    assert cache.arrays.images_stretched
    # pixels, as a survey ingested before the network form was stored is read
    raw = ArrayCache(cache.idx, load_arrays(store, data.refs, cache.idx))
    assert not raw.arrays.images_stretched
    config = ModelConfig(tasks=data.tasks, modalities=("image",), epochs=2)
    # The stretch is per cutout, so stretching once or at every minibatch feeds the same pixels
    # (the stored network form is that stretch rounded to float16: tests/services/test_arrays.py)
    once = fit_calibrated(store, data, config, cache=raw.stretched())
    every_batch = fit_calibrated(store, data, config, cache=raw)
    assert once.validation == every_batch.validation
