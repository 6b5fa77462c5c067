"""A retrain round whose fit is worse than the active version is not activated, end to end:
real SDSS photometry ingested with the CLI, a version trained on its spectroscopic redshifts,
then the training labels scrambled and a round run by the worker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from astropy.table import Table
from sqlalchemy import select

from app.config import Settings, resolve
from app.services.data.split import assign_splits
from app.worker import WorkerOptions, run_worker
from storage.db import session_scope
from storage.labels import current_labels_query, supersede
from storage.models import Galaxy, Job, Label, ModelVersion, Task
from tests import sdss
from tests.worker.conftest import galactive

N = 900
MAP = (
    "id=@row,ra=RA,dec=DEC,flux=MODELFLUX[u,g,r,i,z],flux_ivar=MODELFLUX_IVAR,"
    "extinction=EXTINCTION,label.redshift=Z,label_source=spectroscopy"
)


@pytest.fixture
def sdss_survey(db_url: str, tmp_path: Path) -> Settings:
    """900 real SDSS galaxies whose redshifts are spectroscopy labels, and a version on them."""
    torch.set_num_threads(1)
    path = tmp_path / "sdss.fits"
    Table.read(sdss.KCORRECT_FILE)[:N].write(path)
    settings = resolve(db_url, tmp_path / "home")
    galactive(settings, "ingest", "catalog", str(path), "--survey", "sdss", "--map", MAP)
    galactive(settings, "train", "--survey", "sdss", "--labels", "--modalities", "photometry",
              "--epochs", "8", "--min-steps", "600", "--threads", "1")  # fmt: skip
    return settings


def _scramble_training_labels(settings: Settings) -> int:
    """Supersede every training-split redshift label by another galaxy's; the count."""
    engine = settings.engine()
    with session_scope(engine) as session:
        task = session.scalar(select(Task).where(Task.name == "redshift"))
        rows = session.execute(
            current_labels_query(task.id).join(Galaxy, Galaxy.id == Label.galaxy_id)
            .add_columns(Galaxy.source_id).order_by(Label.id)
        ).all()  # fmt: skip
        split = assign_splits([source_id for _, source_id in rows])
        train = [label for (label, _), s in zip(rows, split, strict=True) if s == "train"]
        values = np.random.default_rng(0).permutation([label.value for label in train])
        for label, value in zip(train, values, strict=True):
            supersede(session, label, value=float(value))
    engine.dispose()
    return len(train)


def test_a_worse_round_is_not_activated_and_says_why(sdss_survey: Settings) -> None:
    settings = sdss_survey
    engine = settings.engine()
    with session_scope(engine) as session:
        (first,) = session.scalars(select(ModelVersion)).all()
        assert first.is_active and first.metrics["health"]["ok"], first.metrics["health"]
    assert _scramble_training_labels(settings) > 500
    galactive(settings, "retrain", "--survey", "sdss")
    assert run_worker(settings, WorkerOptions(once=True, survey="sdss")) == 1
    with session_scope(engine) as session:
        job = session.scalars(select(Job)).one()
        versions = session.scalars(select(ModelVersion).order_by(ModelVersion.id)).all()
        first, second = versions
        assert job.status == "succeeded" and "not activated" in job.message, job.message
        assert f"{first.name} stays active" in job.message
        assert first.is_active and not second.is_active and second.status == "ready"
        activation = second.metrics["activation"]
        assert not activation["activate"] and activation["n_validation"] >= 50
    engine.dispose()
    out = galactive(settings, "status")
    assert f"active model: {first.name}" in out
    assert f"newest model {second.name}: rejected: " in out and "validation n=" in out
