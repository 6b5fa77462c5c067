"""`galactive pretrain` end to end on a small mock: numbered versions, resumed after kill -9 to
the same weights, and an experiment whose model sits on the encoder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import app
from app.config import resolve
from bayes.calibrated import CalibratedModel
from bayes.pretrained import ENCODER, STATE, load_encoder
from research.cli import app as research
from research.probe import effective_rank, shortcut_r2
from storage.db import session_scope
from storage.models import Job, ModelVersion

runner = CliRunner()
N = 48
ARGS = ("pretrain", "--epochs", "8", "--batch-size", "8", "--threads", "1")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 48-galaxy mock survey with spectra for a third."""
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("galactive")
    args = ["--home", str(path), "mock", "--n", str(N), "--seed", "2", "--workers", "1"]
    result = runner.invoke(app, [*args, "--spectra-fraction", "0.3"])
    assert result.exit_code == 0, result.output
    return path


def _run(home: Path, *args: str) -> str:
    command = research if args[0] in ("experiment", "probe") else app
    result = runner.invoke(command, ["--home", str(home), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_killed_run_resumes_to_the_weights_of_an_unbroken_one(home: Path):
    version = home / "encoders" / "mock"
    code = "from app.cli import main; main()"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code, "--home", str(home), *ARGS], env=env)
    state = version / "v1" / STATE
    deadline = time.monotonic() + 300
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert state.exists() and not (version / "v1" / ENCODER).exists(), "killed before epoch 1"
    out = _run(home, *ARGS)
    assert "v1" in out and "resumed after epoch" in out
    assert not state.exists()  # a finished version keeps only its encoder
    unbroken = _run(home, *ARGS)  # the same settings again: v1 is finished, so a new version
    assert "v2" in unbroken and "resumed" not in unbroken
    a, b = (load_file(version / v / ENCODER) for v in ("v1", "v2"))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    encoder = load_encoder(version / "v1")
    assert encoder.metadata["galaxies"] == N
    assert len(encoder.metadata["losses"]) == 8
    settings = json.loads((version / "v1" / "settings.json").read_text())
    assert settings["epochs"] == 8 and settings["survey"] == "mock"


def test_an_experiment_fits_on_the_encoder(home: Path, tmp_path: Path):
    modalities = ("--modalities", "image,photometry")
    _run(home, "pretrain", "--epochs", "1", *modalities, "--threads", "1")
    encoder = sorted((home / "encoders" / "mock").glob("v*"))[-1]
    out = tmp_path / "e.json"
    # photometry alone on an encoder pretrained with images too; first labels by TypiClust
    _run(
        home, "experiment", "--task", "redshift", "--modalities", "photometry",
        "--strategy", "random", "--rounds", "1", "--batch", "4", "--initial", "8",
        "--seeds", "1", "--epochs", "2", "--min-steps", "0", "--threads", "1",
        "--encoder", str(encoder), "--initial-by", "typiclust", "--json", str(out),
    )  # fmt: skip
    result = json.loads(out.read_text())
    setup = result["setup"]
    assert setup["encoder"] == str(encoder) and setup["initial_by"] == "typiclust"
    assert setup["model_config"]["modalities"] == ["image", "photometry"]  # the encoder's
    rounds = result["strategies"]["random"]["seeds"][0]
    assert [r["n_labels"] for r in rounds] == [8, 12]  # two fits, each on the frozen encoder
    failed = runner.invoke(
        research,
        ["--home", str(home), "experiment", "--task", "redshift", "--modalities", "spectrum",
         "--strategy", "random", "--rounds", "1", "--batch", "4", "--initial", "8",
         "--encoder", str(encoder), "--json", str(tmp_path / "refused.json")],
    )  # fmt: skip
    words = " ".join(failed.output.replace("│", " ").split())
    assert failed.exit_code != 0 and "the encoder reads ('image', 'photometry')" in words, words


def test_a_worker_runs_a_queued_pretraining(home: Path):
    args = ("pretrain", "--background", "--epochs", "2", "--modalities", "image", "--seed", "7",
            "--invariance", "0.5")  # fmt: skip
    assert "queued" in _run(home, *args)
    assert "queued" in _run(home, *args)  # the same settings again: the same job, not a twin
    _run(home, "worker", "--once", "--poll", "0.1")
    settings = resolve(home=home)
    engine = settings.engine()
    with session_scope(engine) as session:
        done = session.scalars(select(Job).where(Job.kind == "pretrain")).all()
        rows = [(j.status, j.progress, j.message) for j in done]
    engine.dispose()
    assert len(rows) == 1, rows
    status, progress, message = rows[0]
    assert status == "succeeded" and progress == 1.0, rows
    directory = home / message.split()[1].rstrip(":")
    encoder = load_encoder(directory)
    assert encoder.config.modalities == ("image",)
    # the VICReg term travelled through the job: in the version's settings and its losses
    assert json.loads((directory / "settings.json").read_text())["invariance"] == 0.5
    assert all("invariance" in epoch for epoch in encoder.metadata["losses"])


def test_train_starts_from_the_latest_encoder(home: Path):
    _run(home, "pretrain", "--epochs", "1", "--modalities", "photometry", "--seed", "3")
    versions = (home / "encoders" / "mock").glob("v*")
    latest = max(versions, key=lambda p: int(p.name[1:]))
    encoder = load_encoder(latest)
    out = _run(
        home, "train", "--encoder", "latest", "--encoder-update", "heads", "--epochs", "2",
        "--min-steps", "0", "--threads", "1",
    )  # fmt: skip
    checkpoint = Path(out.split("checkpoint ")[1].split(";")[0].split()[0])
    model = CalibratedModel.load(checkpoint).base
    assert model.config.modalities == ("photometry",)  # the encoder's, not --modalities' default
    for name, value in model.trunk_.state_dict().items():  # frozen: the encoder's weights
        assert torch.equal(value, encoder.trunk.state_dict()[name]), name
    settings = resolve(home=home)
    engine = settings.engine()
    with session_scope(engine) as session:
        version = session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc())).first()
        recorded = version.config["encoder"]
    engine.dispose()
    assert recorded == {"path": str(latest), "update": "heads"}
    failed = runner.invoke(app, ["--home", str(home), "train", "--encoder", "v99"])
    words = " ".join(failed.output.replace("│", " ").split())
    assert failed.exit_code != 0 and "no finished encoder 'v99' for survey 'mock'" in words, words


def test_a_linear_probe_scores_each_encoder_against_an_untrained_trunk(home: Path, tmp_path: Path):
    _run(home, "pretrain", "--epochs", "1", "--modalities", "image", "--seed", "11")
    latest = max((home / "encoders" / "mock").glob("v*"), key=lambda p: int(p.name[1:]))
    out = tmp_path / "probe.json"
    shown = _run(home, "probe", f"mae={latest}", "--labels", "8,16", "--seeds", "2",
                 "--json", str(out))  # fmt: skip
    assert "| labels | untrained accuracy |" in shown and "mae accuracy" in shown
    result = json.loads(out.read_text())
    assert list(result["arms"]) == ["untrained", "mae"]
    for curves in result["arms"].values():
        assert len(curves) == 2 and [r["n_labels"] for r in curves[0]] == [8, 16]
        for record in curves[0]:
            assert 0 <= record["accuracy"] <= 1 and record["n"] == result["test"]
            assert {k for k in record if k.startswith("recall_")}  # the rare-class view
    assert result["arms"]["untrained"] != result["arms"]["mae"]  # another latent, other scores
    assert set(result["latents"]) == {"untrained", "mae"}  # what each latent encodes
    # a handful of test galaxies: the rank, but no cross-validated R² from folds of one or two
    assert all(set(v) == {"effective_rank"} for v in result["latents"].values())
    # a regression: ridge in log(1 + z), scored with the photo-z metrics
    shown = _run(home, "probe", f"mae={latest}", "--task", "redshift", "--labels", "8,16",
                 "--seeds", "2", "--json", str(out))  # fmt: skip
    assert "| labels | untrained sigma_nmad | untrained outlier_fraction |" in shown, shown
    for curves in json.loads(out.read_text())["arms"].values():
        assert all(r["sigma_nmad"] > 0 and 0 <= r["outlier_fraction"] <= 1 for r in curves[0])


def test_effective_rank_counts_the_directions_a_latent_uses():
    rng = np.random.default_rng(0)
    assert effective_rank(rng.normal(size=(5000, 8))) == pytest.approx(8, rel=0.02)
    line = rng.normal(size=(5000, 1)) * np.ones((1, 8)) + 1e-6 * rng.normal(size=(5000, 8))
    assert effective_rank(line) == pytest.approx(1, abs=0.01)
    two = np.concatenate([rng.normal(size=(5000, 2)), np.zeros((5000, 6))], 1)
    assert effective_rank(two) == pytest.approx(2, rel=0.02)


def test_shortcut_r2_tells_which_the_latent_encodes():
    """A latent holding each cutout's noise level (and nothing of its light) predicts the noise,
    not the central flux, out of fold."""
    rng = np.random.default_rng(1)
    level = rng.uniform(0.5, 2.0, 400)
    light = rng.uniform(0, 5, 400)
    images = rng.normal(size=(400, 2, 16, 16)) * level[:, None, None, None]
    images[:, :, 6:10, 6:10] += light[:, None, None, None]
    z = np.stack([level, rng.normal(size=400)], 1)
    r2 = shortcut_r2(z, images)
    assert r2["sky_noise"] > 0.8 and r2["central_flux"] < 0.1, r2
    assert shortcut_r2(z[:49], images[:49]) == {}  # under 10 galaxies a fold
