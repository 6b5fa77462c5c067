"""Baselines we must beat: MC dropout (BaaL-style), a deep ensemble, classical sklearn models."""

from bayes.baselines.classical import classical_model, photometry_features, spectrum_features
from bayes.baselines.network import DeepEnsemble, MCDropoutModel, PointNetwork

__all__ = [
    "DeepEnsemble",
    "MCDropoutModel",
    "PointNetwork",
    "classical_model",
    "photometry_features",
    "spectrum_features",
]
