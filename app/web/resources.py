"""What the label page reads per galaxy, cached so a click does no heavy work twice.

A survey's array references are held per (database, survey, latest ingest): a new ingest
makes a new entry. A model version is loaded once per checkpoint and shared by every
session; a galaxy's posterior is computed once per (version, galaxy).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st
import torch
from sqlalchemy.orm import Session

from app.config import Settings
from app.services.data.arrays import SurveyRefs, latest_ingest, survey_refs
from app.services.loop.scoring import sorted_scores
from app.services.models.versions import load_version
from app.web.posterior import GalaxyPosterior, galaxy_posterior
from bayes.calibrated import CalibratedModel


def refs(session: Session, db_url: str, survey: str) -> SurveyRefs:
    """Array references of ``survey``, re-read only after a new ingest into it."""
    return _refs(session, db_url, survey, latest_ingest(session, survey))


@st.cache_resource(show_spinner=False, max_entries=8)
def _refs(_session: Session, db_url: str, survey: str, latest_ingest: int | None) -> SurveyRefs:
    return survey_refs(_session, survey)


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def model(home: str, checkpoint: str) -> CalibratedModel:
    """A recorded version's model and recalibration, loaded once per server.

    The server predicts one galaxy per click, where torch's intra-op threads only add
    overhead (measured on 2 shared cores: 11 ms with one thread, 450 ms with two), so the
    process runs torch on one thread.
    """
    torch.set_num_threads(1)
    return load_version(Path(home), checkpoint)


def posterior(
    settings: Settings, survey: SurveyRefs, version_id: int, checkpoint: str, galaxy_id: int
) -> GalaxyPosterior:
    """The posterior of galaxy ``galaxy_id`` (in ``survey``) under model version ``version_id``
    (saved at ``checkpoint``), computed once."""
    return _posterior(settings, survey, settings.db_url, version_id, checkpoint, galaxy_id)


@st.cache_resource(show_spinner=False, max_entries=4096)
def _posterior(
    _settings: Settings,
    _survey: SurveyRefs,
    db_url: str,
    version_id: int,
    checkpoint: str,
    galaxy_id: int,
) -> GalaxyPosterior:
    fitted = model(str(_settings.home), checkpoint)
    (position,) = _survey.index_of(np.array([galaxy_id]))
    return galaxy_posterior(fitted, _settings.store(), _survey, int(position))


def pool_scores(session: Session, db_url: str, version_id: int, task_id: int) -> np.ndarray:
    """The stored acquisition scores of a version's pool for a task, ascending, read once per
    (database, version, task): a version's scores do not change once its queue is built."""
    return _pool_scores(session, db_url, version_id, task_id)


@st.cache_resource(show_spinner=False, max_entries=16)
def _pool_scores(_session: Session, db_url: str, version_id: int, task_id: int) -> np.ndarray:
    return sorted_scores(_session, version_id, task_id)
