"""One galaxy from its population row to a noisy ugriz cutout, catalog fluxes, fiber fractions."""

from dataclasses import dataclass

import numpy as np

from app.mock.artifacts import draw_artifact, saturate
from app.mock.instrument import PIXEL_SCALE, pixel_variance
from app.mock.physics.morphology import Component, build_components
from app.mock.physics.population import ARTIFACT, Population
from app.mock.physics.spectra import FIBER_RADIUS
from app.mock.render import (
    add_noise,
    aperture_weights,
    band_psfs,
    component_fluxes,
    draw,
    stamp_center,
)

APERTURE_RANGE = (3.0, 12.0)  # arcsec: catalog aperture radius, ~2 x the seeing-convolved r50


@dataclass(frozen=True)
class RenderedGalaxy:
    """A galaxy's images and catalog photometry.

    pixels, ivar (B, S, S) float32; model (B, S, S) noiseless galaxy alone (no artifact);
    flux, flux_ivar (B,) catalog nmgy; component_flux (K, B) nmgy; fiber (K, B) fraction of
    each component's light in a 3" fiber, or None when not asked for; artifact kind or None.
    """

    pixels: np.ndarray
    ivar: np.ndarray
    model: np.ndarray
    flux: np.ndarray
    flux_ivar: np.ndarray
    components: list[Component]
    component_flux: np.ndarray
    fiber: np.ndarray | None
    artifact: str | None


def aperture_radius_px(r50: float, fwhm_r: float) -> float:
    """Catalog aperture radius (pixels): twice the seeing-convolved half-light radius, clipped."""
    return float(np.clip(2.0 * np.hypot(r50, fwhm_r / 2.0), *APERTURE_RANGE)) / PIXEL_SCALE


def render_galaxy(
    pop: Population, j: int, rng: np.random.Generator, *, with_fiber: bool
) -> RenderedGalaxy:
    """Draw galaxy j of pop: components, PSF-convolved bands, artifact, saturation and noise."""
    components = build_components(
        int(pop.base[j]),
        float(pop.r50[j]),
        pop.coeff_old[j],
        pop.coeff_young[j],
        pop.template_nmgy[j, 2],
        float(pop.line_nmgy[j, 2]),
        rng,
    )
    fluxes = component_fluxes(components, pop.template_nmgy[j], pop.line_nmgy[j])
    psfs = band_psfs(pop.fwhm[j])
    offset = rng.uniform(-0.5, 0.5, size=2)
    center = stamp_center(offset)
    fiber = None
    if with_fiber:
        parts = np.stack(
            [draw([c], f[None, :], psfs, offset) for c, f in zip(components, fluxes, strict=True)]
        )
        model = parts.sum(axis=0)
        in_fiber = (parts * aperture_weights(FIBER_RADIUS / PIXEL_SCALE, center)).sum(axis=(2, 3))
        fiber = in_fiber / fluxes
    else:
        model = draw(components, fluxes, psfs, offset)
    artifact, extra = (None, np.zeros_like(model))
    if pop.morph[j] == ARTIFACT:
        artifact, extra = draw_artifact(pop.fwhm[j], rng)
    observed, masked = saturate(model + extra)
    pixels, ivar = add_noise(observed, rng)
    ivar[masked] = 0.0
    weights = aperture_weights(aperture_radius_px(float(pop.r50[j]), float(pop.fwhm[j, 2])), center)
    variance = (pixel_variance(observed) * weights**2).sum(axis=(1, 2))
    contamination = (extra * weights).sum(axis=(1, 2))
    flux = pop.flux_nmgy[j] + contamination + np.sqrt(variance) * rng.standard_normal(variance.size)
    return RenderedGalaxy(
        pixels=pixels.astype(np.float32),
        ivar=ivar.astype(np.float32),
        model=model,
        flux=flux,
        flux_ivar=1.0 / variance,
        components=components,
        component_flux=fluxes,
        fiber=fiber,
        artifact=artifact,
    )
