"""The seed paper's classical baselines: linear models and random forests on summary features."""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from bayes.data import GalaxyArrays, as_tensors, asinh_magnitudes
from bayes.layers.fusion import bin_spectra


def photometry_features(arrays: GalaxyArrays) -> np.ndarray:
    """(N, 3P - 1): asinh magnitudes, adjacent colours and magnitude errors; NaN where missing."""
    ok = arrays.has_photometry[:, None] & (arrays.phot_ivar > 0) & np.isfinite(arrays.phot_flux)
    mag, err = asinh_magnitudes(
        np.where(ok, arrays.phot_flux, 0.0), np.where(ok, arrays.phot_ivar, 0)
    )
    mag, err = np.where(ok, mag, np.nan), np.where(ok, err, np.nan)
    return np.concatenate([mag, mag[:, :-1] - mag[:, 1:], err], axis=1)


def spectrum_features(
    arrays: GalaxyArrays, *, bins: int = 32, log_range: tuple[float, float] = (3.5, 4.05)
) -> np.ndarray:
    """(N, bins): median-normalised flux in fixed log10-wavelength bins; NaN where no data."""
    if arrays.flux is None:  # no galaxy here has a spectrum: same width, all missing
        return np.full((len(arrays), bins), np.nan)
    inputs = as_tensors(arrays, n_bands=0, n_phot=0)
    flux, snr = (t.numpy() for t in bin_spectra(inputs, bins=bins, log_range=log_range))
    return np.where((snr > 0) & inputs.present[:, 1:2].numpy(), flux, np.nan)


def classical_model(
    kind: Literal["linear", "forest"],
    *,
    task: Literal["regression", "classification"] = "regression",
    seed: int = 0,
) -> Pipeline:
    """Mean imputation (missing features) + scaling + a linear model or a 200-tree random forest."""
    if kind not in ("linear", "forest") or task not in ("regression", "classification"):
        raise ValueError(f"unknown classical model kind={kind!r} task={task!r}")
    if kind == "linear":
        est = LinearRegression() if task == "regression" else LogisticRegression(max_iter=1000)
    elif task == "regression":
        est = RandomForestRegressor(n_estimators=200, random_state=seed, n_jobs=1)
    else:
        est = RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1)
    return make_pipeline(SimpleImputer(keep_empty_features=True), StandardScaler(), est)


def baseline_features(arrays: GalaxyArrays, modalities: tuple[str, ...]) -> np.ndarray | None:
    """The classical baselines' features of the modalities a model uses (photometry, spectrum);
    None when it uses neither (images have no classical baseline here)."""
    parts = []
    if "photometry" in modalities and arrays.phot_flux is not None:
        parts.append(photometry_features(arrays))
    if "spectrum" in modalities:
        parts.append(spectrum_features(arrays))
    return np.concatenate(parts, axis=1) if parts else None


def forest_predictions(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_eval: np.ndarray,
    *,
    classification: bool,
    seed: int = 0,
) -> np.ndarray:
    """Point predictions (class index or value) of the random forest fitted on (x, y) train."""
    task = "classification" if classification else "regression"
    model = classical_model("forest", task=task, seed=seed).fit(x_train, y_train)
    return model.predict(x_eval)
