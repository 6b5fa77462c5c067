"""A simulated morphology expert: right less often for faint and small galaxies, wrong plausibly."""

import numpy as np
from scipy.special import expit

from app.mock.physics.population import ARTIFACT

# Row = true class, column = answer given when wrong (rows sum to 1; diagonal 0). Classes in
# MORPHOLOGY_CLASSES order: elliptical, spiral, edge_on, merger, irregular, artifact.
CONFUSION = np.array(
    [
        [0.00, 0.60, 0.10, 0.15, 0.10, 0.05],  # elliptical <-> S0-like spiral
        [0.20, 0.00, 0.35, 0.08, 0.35, 0.02],  # spiral <-> edge-on, irregular
        [0.15, 0.70, 0.00, 0.00, 0.10, 0.05],
        [0.15, 0.20, 0.00, 0.00, 0.60, 0.05],  # merger <-> irregular
        [0.10, 0.45, 0.00, 0.35, 0.00, 0.10],
        [0.30, 0.30, 0.00, 0.20, 0.20, 0.00],
    ]
)
ARTIFACT_ACCURACY = 0.95  # a strong artifact is hard to miss


def accuracy(r_mag: np.ndarray, size_psf: np.ndarray, true_class: np.ndarray) -> np.ndarray:
    """Probability (N,) the expert is right, from r magnitude and r50 / PSF FWHM.

    ~98% for bright (r < 15), well-resolved galaxies; ~60% at r ~ 17.5 with r50 ~ half a PSF,
    where even Galaxy Zoo volunteers mostly see a smudge.
    """
    logit = 3.0 - 1.1 * (r_mag - 16.0) + 1.5 * np.log(np.clip(size_psf, 1e-3, None))
    p = np.clip(expit(logit), 0.35, 0.98)
    return np.where(true_class == ARTIFACT, np.maximum(p, ARTIFACT_ACCURACY), p)


def answer(
    true_class: np.ndarray, r_mag: np.ndarray, size_psf: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """The expert's class index (N,) from two uniforms per galaxy u (N, 2)."""
    right = u[:, 0] < accuracy(r_mag, size_psf, true_class)
    wrong = np.argmax(u[:, 1, None] < np.cumsum(CONFUSION[true_class], axis=1), axis=1)
    return np.where(right, true_class, wrong)
