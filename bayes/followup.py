"""Spectroscopic follow-up: what a spectrum costs, what it teaches, and which to take tonight.

Pure maths over arrays (no storage, no app). Costs come from a CCD signal-to-noise model
calibrated by one reference point; the expected information gain about a regression target
(redshift in log(1+z)) compares a galaxy's current posterior variance with the variance that
comparable galaxies *with* spectra reach; a greedy fill ranks gain per hour under a budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class SNModel:
    """Exposure time to reach ``snr_target`` per pixel, from the CCD equation.

    S/N = s t / sqrt(s t + b t + R): source rate s and sky rate b (e-/s/pixel), read variance
    R = read_noise² (e-²/pixel, one read-out). s at ``mag_ref`` is fixed by one reference point
    (``snr_ref`` in ``t_ref`` s at ``mag_ref``); the sky's rate is that of a source of
    ``sky_mag``, so only magnitude differences matter. Defaults are the mock survey's SDSS-like
    spectrograph (``app.mock.physics.spectra``): S/N 11.8 per pixel at 5600–6800 Å at fiber r = 19
    in 3 x 15 min (docs/mock_survey.md), sky r = 20.8 mag/arcsec² in a 3″ fiber (18.68 mag),
    read noise 10 e⁻. ``aperture_offset`` (mag) is added to the given magnitude to get the
    magnitude in the fiber: the mock's median fiber r - model r (docs/followup.md); pass 0 when
    giving fiber magnitudes. Galaxies needing more than ``max_exposure_s`` are excluded (inf);
    ``overhead_s`` (slew, acquisition, read-out) is added to every target's cost.
    """

    snr_target: float = 10.0
    snr_ref: float = 11.8
    t_ref: float = 2700.0
    mag_ref: float = 19.0
    sky_mag: float = 18.68
    read_noise: float = 10.0
    aperture_offset: float = 1.32
    max_exposure_s: float = 7200.0
    overhead_s: float = 300.0

    def __post_init__(self) -> None:
        for name in ("snr_target", "snr_ref", "t_ref", "max_exposure_s"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"SNModel.{name} must be a positive number, got {value!r}")
        for name in ("read_noise", "overhead_s"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"SNModel.{name} must be a non-negative number, got {value!r}")
        for name in ("mag_ref", "sky_mag", "aperture_offset"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"SNModel.{name} must be finite, got {getattr(self, name)!r}")

    @property
    def source_rate_ref(self) -> float:
        """Source rate (e-/s/pixel) at ``mag_ref`` that gives ``snr_ref`` in ``t_ref`` seconds."""
        q2, k = self.snr_ref**2, self._sky_ratio
        # (s t)² = q²((1 + k) s t + R), solved for x = s t.
        x = 0.5 * (q2 * (1 + k) + np.sqrt((q2 * (1 + k)) ** 2 + 4 * q2 * self.read_noise**2))
        return float(x / self.t_ref)

    @property
    def _sky_ratio(self) -> float:
        """Sky rate over the source rate at ``mag_ref``."""
        return float(10.0 ** (-0.4 * (self.sky_mag - self.mag_ref)))

    def _rates(self, mag: np.ndarray) -> tuple[np.ndarray, float]:
        """Source rate (e-/s/pixel) of each (total) magnitude in the fiber, and the sky rate."""
        s_ref = self.source_rate_ref
        fiber = np.asarray(mag, dtype=np.float64) + self.aperture_offset
        return s_ref * 10.0 ** (-0.4 * (fiber - self.mag_ref)), s_ref * self._sky_ratio

    def snr(self, mag: np.ndarray, exposure_s: np.ndarray) -> np.ndarray:
        """S/N per pixel reached at magnitudes ``mag`` (N,) in ``exposure_s`` (N,) seconds."""
        s, b = self._rates(mag)
        t = np.asarray(exposure_s, dtype=np.float64)
        return s * t / np.sqrt(s * t + b * t + self.read_noise**2)

    def exposure_s(self, mag: np.ndarray) -> np.ndarray:
        """Seconds (N,) to reach ``snr_target`` at magnitudes ``mag`` (N,); inf if excluded.

        Excluded: fainter than ``max_exposure_s`` allows, or a non-finite magnitude.
        Monotone: a fainter galaxy never costs less.
        """
        mag = np.asarray(mag, dtype=np.float64)
        ok = np.isfinite(mag)
        s, b = self._rates(np.where(ok, mag, self.mag_ref))
        q2, r2 = self.snr_target**2, self.read_noise**2
        # s² t² - q² (s + b) t - q² R = 0, the positive root.
        t = (q2 * (s + b) + np.sqrt((q2 * (s + b)) ** 2 + 4 * s**2 * q2 * r2)) / (2 * s**2)
        return np.where(ok & (t <= self.max_exposure_s), t, np.inf)

    def cost_s(self, mag: np.ndarray) -> np.ndarray:
        """Telescope seconds (N,) per target: exposure plus overhead; inf if excluded."""
        return self.exposure_s(mag) + self.overhead_s


def posterior_variance(loc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Predictive variance (N,) of a regression from T head samples' means and noise scales.

    loc, scale: (N, T) in the task's transformed units (log(1+z) for redshift); variance of
    the equal-weight mixture = spread of the means + mean noise variance.
    """
    loc, scale = np.asarray(loc, np.float64), np.asarray(scale, np.float64)
    if loc.ndim != 2 or loc.shape != scale.shape:
        raise ValueError(f"loc and scale must both be (N, T), got {loc.shape} and {scale.shape}")
    return loc.var(1) + (scale**2).mean(1)


def expected_gain(var_without: np.ndarray, var_with: np.ndarray) -> np.ndarray:
    """Expected information gain (nats, N,) of a spectrum: 0.5 log(var_without / var_with) ≥ 0.

    The entropy drop of a Gaussian posterior whose variance shrinks from ``var_without`` (now)
    to ``var_with`` (after the spectrum); clipped at 0 as a spectrum cannot add uncertainty.
    """
    before = np.asarray(var_without, dtype=np.float64)
    after = np.asarray(var_with, dtype=np.float64)
    if before.shape != after.shape:
        raise ValueError(f"var_without {before.shape} and var_with {after.shape} differ in shape")
    for name, v in (("var_without", before), ("var_with", after)):
        if not np.all(np.isfinite(v) & (v > 0)):
            raise ValueError(f"{name} must be finite and positive")
    return np.maximum(0.5 * np.log(before / after), 0.0)


def neighbour_variance(
    embedding: np.ndarray,
    magnitude: np.ndarray,
    ref_embedding: np.ndarray,
    ref_magnitude: np.ndarray,
    ref_var_with: np.ndarray,
    *,
    k: int = 16,
    magnitude_weight: float = 1.0,
    chunk: int = 4096,
) -> np.ndarray:
    """Posterior variance (N,) a spectrum would give, from the k most similar reference galaxies.

    The geometric mean of ``ref_var_with`` (M,) over each galaxy's k nearest references.
    Distance: every column standardised by the references; the embedding (N, D) / (M, D) is
    divided by √D so that it weighs as much as the magnitude (N,) / (M,) times
    ``magnitude_weight``. The references' embeddings must come from the same inputs as the
    query's (spectra hidden), so that "similar" means similar *before* the spectrum.
    """
    emb, ref_emb = np.asarray(embedding, np.float64), np.asarray(ref_embedding, np.float64)
    mag, ref_mag = np.asarray(magnitude, np.float64), np.asarray(ref_magnitude, np.float64)
    ref_var = np.asarray(ref_var_with, np.float64)
    if emb.ndim != 2 or ref_emb.ndim != 2 or emb.shape[1] != ref_emb.shape[1]:
        raise ValueError(f"embedding {emb.shape} and ref_embedding {ref_emb.shape} must be (., D)")
    if mag.shape != (len(emb),) or ref_mag.shape != (len(ref_emb),):
        raise ValueError("magnitude / ref_magnitude must be (N,) / (M,) like the embeddings")
    if ref_var.shape != (len(ref_emb),):
        raise ValueError(f"ref_var_with {ref_var.shape} must be ({len(ref_emb)},)")
    if not 1 <= k <= len(ref_emb):
        raise ValueError(f"k must be in 1..{len(ref_emb)} (the reference count), got {k}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    for name, a in (("embedding", emb), ("magnitude", mag), ("ref_embedding", ref_emb)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite")
    if not np.all(np.isfinite(ref_mag)):
        raise ValueError("ref_magnitude must be finite")
    if not np.all(np.isfinite(ref_var) & (ref_var > 0)):
        raise ValueError("ref_var_with must be finite and positive")
    ref = np.column_stack([ref_emb, ref_mag])
    query = np.column_stack([emb, mag])
    mean, std = ref.mean(0), ref.std(0)
    std = np.where(std > 0, std, 1.0)
    weight = np.append(np.full(emb.shape[1], 1.0 / np.sqrt(max(emb.shape[1], 1))), magnitude_weight)
    ref = (ref - mean) / std * weight  # (M, D + 1)
    query = (query - mean) / std * weight  # (N, D + 1)
    log_var = np.log(ref_var)
    ref_sq = (ref**2).sum(1)
    out = np.empty(len(query))
    for start in range(0, len(query), chunk):
        q = query[start : start + chunk]
        d2 = (q**2).sum(1)[:, None] + ref_sq[None, :] - 2.0 * q @ ref.T  # (n, M)
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]  # (n, k)
        out[start : start + len(q)] = log_var[nearest].mean(1)
    return np.exp(out)


def fill(
    order: np.ndarray,
    cost_s: np.ndarray,
    *,
    budget_hours: float | None = None,
    budget_fibers: int | None = None,
) -> np.ndarray:
    """Indices taken from ``order`` while they fit the budget; non-finite costs are skipped.

    A target that would overrun ``budget_hours`` (sum of cost_s, seconds) is skipped and the
    next tried, so cheaper targets further down still fill the night; at most
    ``budget_fibers`` targets. No budget: every finite-cost index of ``order``.
    """
    cost = np.asarray(cost_s, dtype=np.float64)
    order = np.asarray(order, dtype=np.int64)
    if budget_hours is not None and not (np.isfinite(budget_hours) and budget_hours >= 0):
        raise ValueError(f"budget_hours must be a non-negative number, got {budget_hours!r}")
    if budget_fibers is not None and budget_fibers < 0:
        raise ValueError(f"budget_fibers must be >= 0, got {budget_fibers!r}")
    if np.any(cost[np.isfinite(cost)] < 0):
        raise ValueError("cost_s must be non-negative")
    seconds = np.inf if budget_hours is None else budget_hours * SECONDS_PER_HOUR
    fibers = len(order) if budget_fibers is None else budget_fibers
    chosen: list[int] = []
    spent = 0.0
    for i in order:
        if len(chosen) >= fibers:
            break
        c = cost[i]
        if np.isfinite(c) and spent + c <= seconds * (1 + 1e-12):
            chosen.append(int(i))
            spent += c
    return np.array(chosen, dtype=np.int64)


def gain_per_hour(gain: np.ndarray, cost_s: np.ndarray) -> np.ndarray:
    """Gain (N,) per telescope hour of cost_s (N,) seconds; 0 where the cost is not finite."""
    gain, cost = np.asarray(gain, np.float64), np.asarray(cost_s, np.float64)
    if gain.shape != cost.shape:
        raise ValueError(f"gain {gain.shape} and cost_s {cost.shape} differ in shape")
    ok = np.isfinite(cost) & (cost > 0)
    return np.where(ok, gain / np.where(ok, cost, 1.0) * SECONDS_PER_HOUR, 0.0)


def greedy_fill(
    gain: np.ndarray,
    cost_s: np.ndarray,
    *,
    budget_hours: float | None = None,
    budget_fibers: int | None = None,
) -> np.ndarray:
    """Indices (in observing priority) chosen greedily by gain per hour under the budget.

    gain: (N,) nats; cost_s: (N,) seconds, inf for excluded galaxies (skipped), as are
    galaxies with no gain (≤ 0 or NaN: nothing to learn). Ties keep index order.
    """
    gain = np.asarray(gain, dtype=np.float64)
    rate = gain_per_hour(gain, cost_s)
    useful = np.flatnonzero(np.isfinite(cost_s) & np.isfinite(gain) & (gain > 0))
    order = useful[np.argsort(-rate[useful], kind="stable")]
    return fill(order, cost_s, budget_hours=budget_hours, budget_fibers=budget_fibers)
