"""Fixtures that write real files (astropy, h5py, Pillow) for the ingest readers.

Each ``write_*`` fixture returns a function writing one file under ``tmp_path``, with
keyword overrides for building bad inputs; the defaults are valid files whose values the
tests compare exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from PIL import Image

BANDS5 = ("u", "g", "r", "i", "z")
PIXEL_SCALE = 0.262  # arcsec per pixel, Legacy Survey
SPEC_NAME = "spec-0266-51602-0003.fits"


def wcs_header(ra: float, dec: float, shape: tuple[int, int], *, naxis: int = 2) -> fits.Header:
    """A TAN WCS centred on (ra, dec) for an image of ``shape`` (H, W)."""
    h, w = shape
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    header["CRVAL1"], header["CRVAL2"] = ra, dec
    header["CRPIX1"], header["CRPIX2"] = (w + 1) / 2.0, (h + 1) / 2.0
    header["CDELT1"], header["CDELT2"] = -PIXEL_SCALE / 3600.0, PIXEL_SCALE / 3600.0
    header["CUNIT1"], header["CUNIT2"] = "deg", "deg"
    if naxis == 3:
        header["CTYPE3"], header["CRVAL3"], header["CRPIX3"], header["CDELT3"] = "", 1.0, 1.0, 1.0
    return header


def cutout_pixels(seed: int, bands: int, shape: tuple[int, int]) -> np.ndarray:
    """Deterministic float32 pixels (B, H, W)."""
    return np.random.default_rng(seed).normal(size=(bands, *shape)).astype(np.float32)


@pytest.fixture
def write_cutout(tmp_path: Path) -> Callable[..., Path]:
    """Write a per-band FITS cutout: empty primary + one ImageHDU (and IVAR_<b>) per band."""

    def write(
        name: str = "gal1.fits",
        *,
        bands: tuple[str, ...] = ("g", "r", "z"),
        shape: tuple[int, int] = (8, 10),
        seed: int = 0,
        objid: str | None = "J150-2",
        radec: tuple[float, float] | None = None,
        wcs: bool = True,
        ivar: bool = True,
        bunit: str | None = "nanomaggy",
        extra_primary: dict | None = None,
        mutate: Callable[[np.ndarray, np.ndarray], None] | None = None,
        band_shapes: dict[str, tuple[int, int]] | None = None,
        use_extname: bool = True,
    ) -> Path:
        pixels = cutout_pixels(seed, len(bands), shape)
        weights = np.full_like(pixels, 4.0)
        if mutate is not None:
            mutate(pixels, weights)
        primary = fits.PrimaryHDU()
        if objid is not None:
            primary.header["OBJID"] = objid
        if radec is not None:
            primary.header["RA"], primary.header["DEC"] = radec
        for key, value in (extra_primary or {}).items():
            primary.header[key] = value
        hdus = [primary]
        for b, band in enumerate(bands):
            data = pixels[b]
            if band_shapes and band in band_shapes:
                data = np.zeros(band_shapes[band], dtype=np.float32)
            header = wcs_header(150.1, 2.2, data.shape) if wcs else fits.Header()
            if bunit:
                header["BUNIT"] = bunit
            if use_extname:
                hdus.append(fits.ImageHDU(data, header=header, name=band))
            else:
                header["FILTER"] = band
                hdus.append(fits.ImageHDU(data, header=header))
        if ivar:
            hdus += [fits.ImageHDU(weights[b], name=f"IVAR_{band}") for b, band in enumerate(bands)]
        path = tmp_path / name
        fits.HDUList(hdus).writeto(path)
        return path

    return write


@pytest.fixture
def write_cube(tmp_path: Path) -> Callable[..., Path]:
    """Write a cube FITS cutout: primary (B, H, W) with BAND1.. keywords, plus an IVAR cube."""

    def write(
        name: str = "cube1.fits",
        *,
        bands: tuple[str, ...] | None = ("g", "r", "z"),
        depth: int = 3,
        shape: tuple[int, int] = (6, 6),
        seed: int = 1,
        ivar: np.ndarray | None = None,
        wcs: bool = True,
        pixscale: float | None = None,
    ) -> Path:
        pixels = cutout_pixels(seed, depth, shape)
        header = wcs_header(10.0, -5.0, shape, naxis=3) if wcs else fits.Header()
        header["BUNIT"] = "nanomaggy"
        header["OBJID"] = name.removesuffix(".fits")
        if pixscale is not None:
            header["PIXSCALE"] = pixscale
        for i, band in enumerate(bands or ()):
            header[f"BAND{i + 1}"] = band
        weights = np.full_like(pixels, 2.0) if ivar is None else ivar
        hdus = [fits.PrimaryHDU(pixels, header=header), fits.ImageHDU(weights, name="IVAR")]
        path = tmp_path / name
        fits.HDUList(hdus).writeto(path)
        return path

    return write


def spec_arrays(n: int = 200) -> dict[str, np.ndarray]:
    """COADD columns of a plausible SDSS spectrum (float32 as in the DR8+ files)."""
    rng = np.random.default_rng(3)
    loglam = (3.5797 + 1e-4 * np.arange(n)).astype(np.float32)
    return {
        "flux": rng.normal(5.0, 1.0, n).astype(np.float32),
        "loglam": loglam,
        "ivar": rng.uniform(0.5, 2.0, n).astype(np.float32),
        "and_mask": np.zeros(n, dtype=np.int32),
        "or_mask": np.zeros(n, dtype=np.int32),
        "wdisp": np.full(n, 1.1, dtype=np.float32),
        "sky": np.ones(n, dtype=np.float32),
        "model": np.full(n, 5.0, dtype=np.float32),
    }


SPECOBJ_ROW = {
    "PLATE": 266,
    "MJD": 51602,
    "FIBERID": 3,
    "PLUG_RA": 146.71421,
    "PLUG_DEC": -1.0413043,
    "Z": 0.02124,
    "Z_ERR": 1.1e-5,
    "ZWARNING": 0,
    "CLASS": "GALAXY",
    "SPECOBJID": 299489677444933632,
    "RUN2D": "26",
}


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write an SDSS spec-PLATE-MJD-FIBER.fits in the DR8+ layout (COADD, SPECOBJ, SPZLINE)."""

    def write(
        name: str = SPEC_NAME,
        *,
        columns: dict[str, np.ndarray] | None = None,
        drop: tuple[str, ...] = (),
        specobj: dict | None = SPECOBJ_ROW,
        coadd_name: str = "COADD",
        header: dict | None = None,
    ) -> Path:
        cols = spec_arrays() if columns is None else columns
        primary = fits.PrimaryHDU()
        defaults = {
            "TELESCOP": "SDSS 2.5-M",
            "PLATEID": 266,
            "MJD": 51602,
            "FIBERID": 3,
            "PLUG_RA": 146.71421,
            "PLUG_DEC": -1.0413043,
            "RUN2D": "26",
            "RA": 145.89,  # boresight, not the object: the reader must not use it
            "DEC": -0.5,
        }
        for key, value in {**defaults, **(header or {})}.items():
            if value is not None:
                primary.header[key] = value
        coadd = Table({k: v for k, v in cols.items() if k not in drop})
        hdus = [primary, fits.table_to_hdu(coadd)]
        hdus[1].name = coadd_name
        if specobj is not None:
            meta = fits.table_to_hdu(Table({k: [v] for k, v in specobj.items()}))
            meta.name = "SPECOBJ"
            hdus.append(meta)
        zline = fits.table_to_hdu(Table({"LINENAME": ["Ha_6564"], "LINEZ": [0.0212]}))
        zline.name = "SPZLINE"
        hdus.append(zline)
        path = tmp_path / name
        fits.HDUList(hdus).writeto(path)
        return path

    return write


def rgb_pixels(shape: tuple[int, int] = (12, 16), seed: int = 5) -> np.ndarray:
    """Deterministic uint8 RGB pixels (H, W, 3)."""
    return np.random.default_rng(seed).integers(0, 256, size=(*shape, 3), dtype=np.uint8)


@pytest.fixture
def write_rgb(tmp_path: Path) -> Callable[..., Path]:
    """Write an image with Pillow: mode RGB/RGBA/L, format PNG/JPEG."""

    def write(
        name: str = "gal1.png",
        *,
        fmt: str = "PNG",
        mode: str = "RGB",
        shape: tuple[int, int] = (12, 16),
        seed: int = 5,
    ) -> Path:
        pixels = rgb_pixels(shape, seed)
        if mode == "RGBA":
            alpha = np.full((*shape, 1), 255, dtype=np.uint8)
            img = Image.fromarray(np.concatenate([pixels, alpha], axis=2), mode="RGBA")
        elif mode == "L":
            img = Image.fromarray(pixels[..., 0], mode="L")
        else:
            img = Image.fromarray(pixels, mode="RGB")
        path = tmp_path / name
        img.save(path, format=fmt, **({"quality": 100} if fmt == "JPEG" else {}))
        return path

    return write


def mmu_data(n: int = 5, *, bands: int = 3, hw: int = 6, length: int = 40) -> dict[str, np.ndarray]:
    """Datasets of an MMU-layout file with images, spectra and redshifts (row 3 padded)."""
    rng = np.random.default_rng(7)
    lam = np.tile(3600.0 + 2.0 * np.arange(length, dtype=np.float32), (n, 1))
    mask = np.zeros((n, length), dtype=bool)
    lam[3, 30:] = -1.0  # MMU pads a shorter spectrum with lambda -1 and mask True
    mask[3, 30:] = True
    return {
        "object_id": np.array([f"{i + 1000:>20d}".encode() for i in range(n)]),
        "ra": np.linspace(10.0, 11.0, n),
        "dec": np.linspace(-2.0, 2.0, n),
        "image_array": rng.normal(size=(n, bands, hw, hw)).astype(np.float32),
        "image_band": np.array([[b"DES-G", b"DES-R", b"DES-Z"][:bands]] * n),
        "image_ivar": np.full((n, bands, hw, hw), 3.0, dtype=np.float32),
        "image_mask": np.zeros((n, bands, hw, hw), dtype=bool),
        "image_psf_fwhm": np.full((n, bands), 1.2, dtype=np.float32),
        "image_scale": np.full((n, bands), PIXEL_SCALE, dtype=np.float32),
        "spectrum_flux": rng.normal(size=(n, length)).astype(np.float32),
        "spectrum_ivar": np.full((n, length), 1.5, dtype=np.float32),
        "spectrum_lambda": lam,
        "spectrum_mask": mask,
        "Z": np.array([0.1, 0.2, np.nan, 0.4, 0.5][:n], dtype=np.float32),
        "Z_ERR": np.full(n, 1e-4, dtype=np.float32),
        "ZWARNING": np.array([0, 0, 0, 4, 0][:n], dtype=np.int64),
    }


@pytest.fixture
def write_mmu(tmp_path: Path) -> Callable[..., Path]:
    """Write an MMU-layout HDF5 file (top-level datasets, one row per object)."""

    def write(
        name: str = "001-of-001.hdf5",
        *,
        data: dict[str, np.ndarray] | None = None,
        drop: tuple[str, ...] = (),
        attrs: dict | None = None,
    ) -> Path:
        data = mmu_data() if data is None else data
        path = tmp_path / name
        with h5py.File(path, "w") as h5:
            for key, value in data.items():
                if key not in drop:
                    h5.create_dataset(key, data=value)
            if "image_array" in h5:
                h5["image_array"].attrs["unit"] = "nanomaggy"
            for key, value in (attrs or {"survey": "desi"}).items():
                h5.attrs[key] = value
        return path

    return write


def catalog_table(n: int = 12) -> Table:
    """A catalog with a 5-element vector flux, ivar, magnitudes, a redshift and a class."""
    rng = np.random.default_rng(11)
    return Table(
        {
            "objid": np.arange(100, 100 + n, dtype=np.int64),
            "ra": np.linspace(0.5, 359.5, n),
            "dec": np.linspace(-80.0, 80.0, n),
            "flux": rng.uniform(1.0, 50.0, (n, 5)).astype(np.float32),
            "flux_ivar": rng.uniform(0.1, 3.0, (n, 5)).astype(np.float32),
            "mag_r": rng.uniform(15.0, 22.0, n),
            "z": rng.uniform(0.01, 0.5, n),
            "morph": np.array(["spiral", "elliptical", "merger"] * (n // 3)),
        }
    )


def flat_table(table: Table) -> Table:
    """``table`` with vector columns split per band (flux_u, ..., flux_ivar_z) for CSV."""
    out = Table()
    for name in table.colnames:
        if table[name].ndim == 2:
            for b, band in enumerate(BANDS5):
                out[f"{name}_{band}"] = table[name][:, b]
        else:
            out[name] = table[name]
    return out


@pytest.fixture
def write_catalog(tmp_path: Path) -> Callable[..., Path]:
    """Write a catalog Table as fits / csv / parquet / votable (CSV gets per-band columns)."""

    def write(fmt: str = "fits", *, table: Table | None = None, name: str | None = None) -> Path:
        table = catalog_table() if table is None else table
        suffix = {"fits": "fits", "csv": "csv", "parquet": "parquet", "votable": "xml"}[fmt]
        path = tmp_path / (name or f"catalog.{suffix}")
        if fmt == "csv":
            flat_table(table).write(path, format="ascii.csv")
        else:
            table.write(path, format=fmt)
        return path

    return write


@pytest.fixture
def spec_columns() -> Callable[..., dict[str, np.ndarray]]:
    """``spec_arrays``: the default COADD columns, to modify into bad spectra."""
    return spec_arrays


@pytest.fixture
def specobj_row() -> dict:
    """A copy of the default SPECOBJ row."""
    return dict(SPECOBJ_ROW)


@pytest.fixture
def mmu_datasets() -> Callable[..., dict[str, np.ndarray]]:
    """``mmu_data``: the default MMU datasets, to modify into bad files."""
    return mmu_data


@pytest.fixture
def catalog_rows() -> Callable[..., Table]:
    """``catalog_table``: the default catalog, to modify into bad catalogs."""
    return catalog_table


@pytest.fixture
def rgb_values() -> Callable[..., np.ndarray]:
    """``rgb_pixels``: the pixels ``write_rgb`` writes for a shape and seed."""
    return rgb_pixels


@pytest.fixture
def cutout_values() -> Callable[..., np.ndarray]:
    """``cutout_pixels``: the pixels the cutout writers write for a seed."""
    return cutout_pixels
