"""Per-galaxy modalities. Rows hold metadata; the arrays sit in the array store.

Each row points at its ingest's store file: ``dataset`` names the HDF5 dataset group and
``row`` (images, photometry) or ``offset``/``length`` (spectra) locate its values, so
reading one galaxy touches only its own chunks.
"""

from __future__ import annotations

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class StoredArrays:
    """Columns every modality row shares: its galaxy, its ingest, and its HDF5 group."""

    galaxy_id: Mapped[int] = mapped_column(ForeignKey("galaxies.id"), index=True)
    ingest_id: Mapped[int] = mapped_column(ForeignKey("ingests.id"), index=True)
    dataset: Mapped[str] = mapped_column(String(128))


class Checksummed:
    """SHA-256 of the arrays as stored (and their bands or instrument): the same cutout or
    spectrum ingested twice is recognised and stored once. None for rows from before it."""

    checksum: Mapped[str | None] = mapped_column(String(64))


class ImageCutout(StoredArrays, Checksummed, Base):
    """A multi-band cutout: bands in pixel order, pixel scale (arcsec) and pixel units.

    orientation: {"north": [dx, dy], "east": [dx, dy]} unit vectors in array coordinates (x the
    column, y the row index) at the cutout's centre, from its WCS; None when unknown."""

    __tablename__ = "images"

    row: Mapped[int] = mapped_column(Integer)
    bands: Mapped[list[str]] = mapped_column(JSON(none_as_null=True))
    height: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    pixel_scale: Mapped[float] = mapped_column(Float)
    units: Mapped[str] = mapped_column(String(64))
    has_ivar: Mapped[bool] = mapped_column(default=False)
    orientation: Mapped[dict[str, list[float]] | None] = mapped_column(JSON(none_as_null=True))


class Spectrum(StoredArrays, Checksummed, Base):
    """A spectrum on its own wavelength grid, with the pipeline's redshift when known."""

    __tablename__ = "spectra"

    offset: Mapped[int] = mapped_column(Integer)
    length: Mapped[int] = mapped_column(Integer)
    wave_min: Mapped[float] = mapped_column(Float)
    wave_max: Mapped[float] = mapped_column(Float)
    instrument: Mapped[str] = mapped_column(String(64))
    flux_unit: Mapped[str] = mapped_column(String(64))
    redshift: Mapped[float | None] = mapped_column(Float)
    redshift_err: Mapped[float | None] = mapped_column(Float)
    spec_class: Mapped[str | None] = mapped_column(String(32))


class Photometry(StoredArrays, Base):
    """Catalog fluxes and their inverse variances in the listed bands."""

    __tablename__ = "photometry"

    row: Mapped[int] = mapped_column(Integer)
    bands: Mapped[list[str]] = mapped_column(JSON(none_as_null=True))
    units: Mapped[str] = mapped_column(String(64))
