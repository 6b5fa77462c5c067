"""A physically grounded mock SDSS-like galaxy survey (images, photometry, spectra, truth)."""

from app.mock.survey import generate_survey
from app.mock.tasks import BANDS, MORPHOLOGY_CLASSES, MORPHOLOGY_TASK, REDSHIFT_TASK, SFR_TASK

__all__ = [
    "BANDS",
    "MORPHOLOGY_CLASSES",
    "MORPHOLOGY_TASK",
    "REDSHIFT_TASK",
    "SFR_TASK",
    "generate_survey",
]
