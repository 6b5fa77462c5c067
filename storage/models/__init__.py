"""All ORM models; importing this package registers every table on ``Base.metadata``."""

from storage.models.base import Base
from storage.models.job import Job
from storage.models.label import Label
from storage.models.lease import Lease
from storage.models.modality import ImageCutout, Photometry, Spectrum
from storage.models.model_version import ModelVersion, Score
from storage.models.queue import QueueItem
from storage.models.survey import Galaxy, Ingest, Survey
from storage.models.task import Task, Truth
from storage.models.user import SignInFailure, User, WebSession

__all__ = [
    "Base",
    "Galaxy",
    "ImageCutout",
    "Ingest",
    "Job",
    "Label",
    "Lease",
    "ModelVersion",
    "Photometry",
    "QueueItem",
    "Score",
    "SignInFailure",
    "Spectrum",
    "Survey",
    "Task",
    "Truth",
    "User",
    "WebSession",
]
