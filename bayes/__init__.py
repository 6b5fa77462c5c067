"""Galactive's model library: arrays in, posterior samples and scores out.

Never imports ``storage`` or ``app``.
"""

from bayes.checkpoint import load, save
from bayes.config import ModelConfig, TaskConfig
from bayes.data import GalaxyArrays
from bayes.model import GalaxyModel
from bayes.predict import Posterior, predict, summarize_draws

__all__ = [
    "GalaxyArrays",
    "GalaxyModel",
    "ModelConfig",
    "Posterior",
    "TaskConfig",
    "load",
    "predict",
    "save",
    "summarize_draws",
]
