"""One galaxy as the label page shows it: who it is, its cutout and its spectrum (plain data)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services.data.arrays import SurveyRefs, load_arrays
from storage.arrays import ArrayStore
from storage.models import Galaxy, ImageCutout, Spectrum


@dataclass(frozen=True)
class GalaxyView:
    """A galaxy's identity and arrays: image (B, H, W) nanomaggies in ``bands`` order, its
    pixel scale (arcsec) and orientation (``ImageCutout.orientation``); wavelength (Å), flux
    and ivar (L,) of its spectrum in ``flux_unit`` and the spectroscopic pipeline's redshift;
    None where absent."""

    galaxy_id: int
    source_id: str
    ra: float
    dec: float
    ref_mag: float | None
    ref_band: str | None
    image: np.ndarray | None
    bands: tuple[str, ...]
    wavelength: np.ndarray | None
    flux: np.ndarray | None
    ivar: np.ndarray | None
    flux_unit: str | None
    pixel_scale: float | None = None
    orientation: dict[str, list[float]] | None = None
    spec_z: float | None = None


def load_galaxy(
    session: Session, store: ArrayStore, refs: SurveyRefs, galaxy_id: int
) -> GalaxyView:
    """The galaxy ``galaxy_id`` of the survey ``refs`` describes; ValueError if not in it.

    The arrays are the galaxy's first image and spectrum, the ones its posterior is
    computed from (``load_arrays``).
    """
    (position,) = refs.index_of(np.array([galaxy_id]))
    if position < 0:
        raise ValueError(f"galaxy {galaxy_id} is not in survey {refs.survey_id}")
    arrays = load_arrays(store, refs, np.array([position]))
    galaxy = session.get_one(Galaxy, galaxy_id)
    cutout = session.execute(
        select(ImageCutout.bands, ImageCutout.pixel_scale, ImageCutout.orientation)
        .where(ImageCutout.galaxy_id == galaxy_id)
        .order_by(ImageCutout.id)
        .limit(1)
    ).first()
    spectrum = session.execute(
        select(Spectrum.flux_unit, Spectrum.redshift)
        .where(Spectrum.galaxy_id == galaxy_id)
        .order_by(Spectrum.id)
        .limit(1)
    ).first()
    bands, pixel_scale, orientation = cutout if cutout is not None else (None, None, None)
    flux_unit, spec_z = spectrum if spectrum is not None else (None, None)
    has_spectrum = bool(arrays.has_spectrum[0])
    length = int(refs.spectrum.length[position])
    return GalaxyView(
        galaxy_id=galaxy_id,
        source_id=galaxy.source_id,
        ra=galaxy.ra,
        dec=galaxy.dec,
        ref_mag=galaxy.ref_mag,
        ref_band=galaxy.ref_band,
        image=arrays.images[0] if arrays.has_image[0] else None,
        bands=tuple(bands or ()),
        wavelength=arrays.wavelength[0, :length] if has_spectrum else None,
        flux=arrays.flux[0, :length] if has_spectrum else None,
        ivar=arrays.ivar[0, :length] if has_spectrum else None,
        flux_unit=flux_unit,
        pixel_scale=pixel_scale,
        orientation=orientation,
        spec_z=spec_z,
    )
