"""What readers hand to the writer: validated, in-memory records of one survey's data.

Every reader (FITS, PNG/JPEG, SDSS spectra, HDF5, catalogs) and the mock survey produce
these; ``storage.ingest.writer`` alone persists them, in one transaction. Arrays follow
the shapes in each docstring; ``source_ids`` are the survey's own object identifiers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

TaskKind = Literal["classification", "regression"]
TruthKind = Literal["truth", "simulated_expert"]
LabelSource = Literal["expert", "spectroscopy", "oracle"]


@dataclass(frozen=True)
class GalaxyRecords:
    """Positions and reference photometry of N galaxies.

    source_ids: (N,) str; ra, dec: (N,) degrees (ICRS); ref_mag: (N,) AB magnitude in
    ``ref_band`` (NaN when unknown); magnitudes: band -> (N,) AB magnitudes.
    """

    source_ids: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    ref_mag: np.ndarray | None = None
    ref_band: str | None = None
    magnitudes: Mapping[str, np.ndarray] = field(default_factory=dict)
    provenance: str | None = None


@dataclass(frozen=True)
class Orientation:
    """Unit vectors of north and east on a cutout, (dx, dy) in array coordinates."""

    north: tuple[float, float]
    east: tuple[float, float]

    def to_json(self) -> dict[str, list[float]]:
        return {"north": list(self.north), "east": list(self.east)}


# The FITS and GalSim convention for a cutout with no WCS of its own: north up the rows (+y),
# east to lower columns (-x), as on the sky seen from the Earth.
NORTH_UP_EAST_LEFT = Orientation(north=(0.0, 1.0), east=(-1.0, 0.0))


@dataclass(frozen=True)
class ImageRecords:
    """Cutouts of N galaxies sharing one band set and shape.

    pixels: (N, B, H, W) float32 in ``units`` per pixel; ivar: same shape or None;
    bands: B band names in pixel order; pixel_scale: arcsec per pixel; orientation: where north
    and east point, as unit vectors (dx, dy) in array coordinates (x the column, y the row
    index), or None when unknown (:func:`orientation_from_wcs`).
    """

    source_ids: np.ndarray
    pixels: np.ndarray
    bands: tuple[str, ...]
    pixel_scale: float
    units: str
    ivar: np.ndarray | None = None
    orientation: Orientation | None = None


@dataclass(frozen=True)
class SpectrumRecord:
    """One spectrum on its own wavelength grid (no resampling).

    wavelength: (L,) Angstrom, vacuum, strictly increasing; flux: (L,) in ``flux_unit``;
    ivar: (L,) inverse variance of flux, >= 0 (0 marks a bad pixel).
    """

    source_id: str
    wavelength: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    instrument: str
    flux_unit: str = "1e-17 erg / (s cm2 Angstrom)"
    redshift: float | None = None
    redshift_err: float | None = None
    spec_class: str | None = None
    ra: float | None = None
    dec: float | None = None


@dataclass(frozen=True)
class PhotometryRecords:
    """Catalog fluxes of N galaxies.

    flux, ivar: (N, B) in ``units`` (nanomaggies by default); bands: B names.
    """

    source_ids: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    bands: tuple[str, ...]
    units: str = "nanomaggy"


@dataclass(frozen=True)
class TaskSpec:
    """A prediction task: a classification over ``classes`` or a regression of ``target``."""

    name: str
    kind: TaskKind
    classes: tuple[str, ...] = ()
    target: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class ValueRecords:
    """Values of one task for N galaxies, either hidden truth or visible labels.

    values: (N,) float (regression) or class index int (classification);
    stats: optional name -> (N,) summary statistics of a distribution (e.g. the SFR
    statistics AVG, MEDIAN, MODE, P16, P84, P2P5, P97P5, ENTROPY).
    ``truth_kind`` is set for hidden truth; ``label_source`` for visible labels.
    """

    task: TaskSpec
    source_ids: np.ndarray
    values: np.ndarray
    stats: Mapping[str, np.ndarray] = field(default_factory=dict)
    truth_kind: TruthKind | None = None
    label_source: LabelSource | None = None
    labeler: str | None = None


@dataclass
class Bundle:
    """One chunk of what an ingest writes; an ingest's chunks share one transaction.

    ``source`` names the file the chunk came from, so the writer's errors can name it.
    """

    source: str | None = None
    galaxies: GalaxyRecords | None = None
    images: Sequence[ImageRecords] = ()
    spectra: Sequence[SpectrumRecord] = ()
    photometry: Sequence[PhotometryRecords] = ()
    values: Sequence[ValueRecords] = ()
