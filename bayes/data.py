"""The model's input: arrays of N galaxies with any modality missing, and their normalisation.

Arrays here are physical (nanomaggies, Angstrom, the survey's flux unit); the normalisation
functions below are pure and are applied by :func:`as_tensors` on every batch, so training and
streaming prediction see the same transform.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

MODALITIES = ("image", "spectrum", "photometry")
# each modality's column in a presence mask
IMAGE, SPECTRUM, PHOTOMETRY = (MODALITIES.index(m) for m in ("image", "spectrum", "photometry"))
POGSON = 2.5 / np.log(10.0)  # mag per e-fold of flux
ZERO_POINT = 22.5  # AB magnitude of 1 nanomaggy
MAG_UNIT = 2.5  # network magnitudes are (mag - ZERO_POINT) / MAG_UNIT
# Galaxies stretched at a time: the temporaries of a whole training set's images (several
# copies of N x B x H x W) had made training peak at 9 GB on 13 851 galaxies.
STRETCH_CHUNK = 512


@dataclass(frozen=True)
class GalaxyArrays:
    """Inputs for N galaxies; a modality's arrays may be None when no galaxy has it.

    images: (N, B, H, W) float32 cutouts; has_image: (N,) bool.
    wavelength, flux, ivar: (N, L) padded spectrum tokens, each row on its own grid (Angstrom,
    any flux unit, inverse variance; ivar=0 marks padding and bad pixels); has_spectrum: (N,) bool.
    phot_flux, phot_ivar: (N, P) nanomaggies and nanomaggies^-2; has_photometry: (N,) bool.
    Rows whose ``has_*`` is False may hold anything (NaN included): they are never read.
    images_stretched: ``images`` already hold :func:`asinh_stretch` output (see
    :meth:`stretched`), so :func:`as_tensors` uses them as they are.
    """

    images: np.ndarray | None = None
    has_image: np.ndarray | None = None
    wavelength: np.ndarray | None = None
    flux: np.ndarray | None = None
    ivar: np.ndarray | None = None
    has_spectrum: np.ndarray | None = None
    phot_flux: np.ndarray | None = None
    phot_ivar: np.ndarray | None = None
    has_photometry: np.ndarray | None = None
    images_stretched: bool = False

    def __post_init__(self) -> None:
        n = self.__len__()
        _check_group("images", (self.images,), self.has_image, n, ndim=4)
        _check_group("spectrum", (self.wavelength, self.flux, self.ivar), self.has_spectrum, n, 2)
        _check_group("photometry", (self.phot_flux, self.phot_ivar), self.has_photometry, n, 2)

    def __len__(self) -> int:
        for a in (self.has_image, self.has_spectrum, self.has_photometry):
            if a is not None:
                return len(a)
        raise ValueError("GalaxyArrays needs at least one of has_image/has_spectrum/has_photometry")

    def present(self) -> np.ndarray:
        """(N, 3) bool: which of image, spectrum, photometry each galaxy has."""
        n = len(self)
        cols = [self.has_image, self.has_spectrum, self.has_photometry]
        return np.stack([np.zeros(n, bool) if c is None else c.astype(bool) for c in cols], 1)

    def subset(self, idx: np.ndarray | slice) -> GalaxyArrays:
        """The galaxies at ``idx`` (indices, bool mask or slice)."""
        fields = {
            k: None if v is None else v[idx]
            for k, v in self.__dict__.items()
            if k != "images_stretched"
        }
        return GalaxyArrays(**fields, images_stretched=self.images_stretched)

    def only(self, modalities: tuple[str, ...]) -> GalaxyArrays:
        """The same galaxies with every modality but ``modalities`` taken away (its arrays
        dropped, no galaxy has it): what a model sees when it must do without the others."""
        fields = {"image": ("images",), "spectrum": ("wavelength", "flux", "ivar"),
                  "photometry": ("phot_flux", "phot_ivar")}  # fmt: skip
        unknown = set(modalities) - set(fields)
        if unknown:
            raise ValueError(f"unknown modalities {sorted(unknown)}; choose from {tuple(fields)}")
        drop: dict[str, Any] = {}
        for name, arrays in fields.items():
            if name not in modalities:
                drop |= dict.fromkeys(arrays) | {f"has_{name}": np.zeros(len(self), bool)}
        return replace(self, **drop)

    def stretched(self) -> GalaxyArrays:
        """The same galaxies with their images stretched once, for arrays that many fits and
        predictions reuse (the stretch was a third of the time of predicting a pool)."""
        if self.images is None or self.images_stretched:
            return self
        return replace(self, images=_stretch_rows(self.images, self.present()[:, 0]),
                       images_stretched=True)  # fmt: skip

    def batches(self, size: int) -> Iterator[GalaxyArrays]:
        """Consecutive subsets of at most ``size`` galaxies, in order."""
        if size < 1:
            raise ValueError(f"batch size must be >= 1, got {size}")
        for start in range(0, len(self), size):
            yield self.subset(slice(start, start + size))


def _check_group(
    name: str, arrays: tuple[np.ndarray | None, ...], has: np.ndarray | None, n: int, ndim: int
) -> None:
    """Raise ValueError unless a modality's arrays agree in shape with each other and with N."""
    if all(a is None for a in arrays):
        if has is not None and np.any(has):
            raise ValueError(f"{name}: has_* marks galaxies but the arrays are None")
        return
    if any(a is None for a in arrays) or has is None:
        raise ValueError(f"{name}: give all of its arrays and its has_* mask, or none")
    if has.shape != (n,):
        raise ValueError(f"{name}: has_* shape {has.shape} != ({n},)")
    for a in arrays:
        if a.ndim != ndim or a.shape[0] != n or a.shape != arrays[0].shape:
            raise ValueError(f"{name}: array shape {a.shape} does not match {arrays[0].shape}")


def asinh_stretch(images: np.ndarray, *, softening: float = 3.0) -> np.ndarray:
    """asinh(x / (softening * sigma)) per galaxy and band; sigma = 1.4826 MAD of the band.

    images: (N, B, H, W) -> (N, B, H, W) float32; linear near the noise, logarithmic in cores.
    Computed in float32 with partition medians and a vectorised asinh, 2.7x faster than
    float64 ``np.median`` and ``np.arcsinh``, which had dominated scoring a pool; the result
    differs from float64 by < 1e-5 (float32 rounding of x - median, then of the log).
    """
    n, b, h, w = images.shape
    x = images.reshape(n * b, h * w).astype(np.float32)  # a copy: the arrays stay untouched
    med = _row_median(x)
    x -= med
    sigma = np.float32(1.4826) * _row_median(np.abs(x))
    sigma[sigma <= 0] = 1.0  # a flat band: leave the scale alone
    x /= np.float32(softening) * sigma
    return _asinh32(x).reshape(n, b, h, w)


def sky_sigmas(stretched: np.ndarray, *, softening: float = 3.0) -> np.ndarray:
    """Invert :func:`asinh_stretch` to each pixel's distance from its band's median in sky
    sigmas (1.4826 MAD), the units artifact screens measure in: softening * sinh(stretched)."""
    return np.float32(softening) * np.sinh(stretched, dtype=np.float32)


def _asinh32(y: np.ndarray) -> np.ndarray:
    """asinh of a float32 array in place, as sign(y) log(|y| + sqrt(y^2 + 1)).

    numpy's float32 ``arcsinh`` is scalar code; log and sqrt are vectorised (2.8x faster).
    The absolute error is < 3e-7; |y| is capped at 1e18 (asinh 42.1) so y^2 cannot overflow.
    """
    a = np.minimum(np.abs(y), np.float32(1e18))
    s = a * a
    s += 1
    np.sqrt(s, out=s)
    s += a
    np.log(s, out=s)
    return np.copysign(s, y, out=y)


def _row_median(x: np.ndarray) -> np.ndarray:
    """Median of each row of a 2-D float array -> (rows, 1), by one partition per row."""
    m = x.shape[1]
    part = np.partition(x, m // 2, axis=1)
    upper = part[:, m // 2 : m // 2 + 1]
    if m % 2:
        return upper
    return (part[:, : m // 2].max(axis=1, keepdims=True) + upper) / 2


def normalise_spectra(
    flux: np.ndarray, ivar: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Divide each spectrum by the median |flux| of its valid pixels (ivar scaled to match).

    flux, ivar, valid: (N, L) -> flux, ivar (N, L) float32, zero where not valid.
    """
    ordered = np.sort(np.where(valid, np.abs(flux), np.inf), axis=1)  # invalid pixels sort last
    count = valid.sum(1, keepdims=True)
    lo = np.take_along_axis(ordered, np.maximum(count - 1, 0) // 2, 1) if flux.shape[1] else count
    hi = np.take_along_axis(ordered, count // 2, 1) if flux.shape[1] else count
    with np.errstate(invalid="ignore"):
        scale = np.where(count > 0, (lo + np.where(count % 2, lo, hi)) / 2, 1.0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    f = np.where(valid, flux / scale, 0.0)
    iv = np.where(valid, ivar * scale**2, 0.0)
    return f.astype(np.float32), iv.astype(np.float32)


def asinh_magnitudes(
    flux: np.ndarray, ivar: np.ndarray, *, softening: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Lupton asinh magnitudes and their errors from nanomaggies.

    flux, ivar: (N, P) nanomaggies, nanomaggies^-2; softening b in nanomaggies.
    Returns mag (N, P) AB and mag_err (N, P); inf error where ivar=0. Defined for f <= 0 too.
    """
    b = softening
    mag = ZERO_POINT - POGSON * (np.arcsinh(flux / (2 * b)) + np.log(b))
    with np.errstate(divide="ignore"):
        sigma_f = np.where(ivar > 0, 1.0 / np.sqrt(np.where(ivar > 0, ivar, 1.0)), np.inf)
    return mag, POGSON * sigma_f / np.sqrt(flux**2 + 4 * b**2)


@dataclass(frozen=True)
class ModelInputs:
    """Normalised tensors for a batch; absent modalities and bad pixels are zero.

    present: (N, 3) bool (image, spectrum, photometry); image: (N, B, H, W);
    log_wave, flux, weight: (N, L) log10 Angstrom, normalised flux, sqrt(normalised ivar);
    pixel_valid: (N, L) bool; phot: (N, P, 3) = (mag - 22.5) / 2.5, log10 mag error, valid.
    """

    present: torch.Tensor
    image: torch.Tensor
    log_wave: torch.Tensor
    flux: torch.Tensor
    weight: torch.Tensor
    pixel_valid: torch.Tensor
    phot: torch.Tensor

    def __len__(self) -> int:
        return self.present.shape[0]

    def index(self, idx: torch.Tensor) -> ModelInputs:
        """Rows ``idx`` of every tensor."""
        return ModelInputs(*(t[idx] for t in self.__dict__.values()))

    def to(self, device: torch.device) -> ModelInputs:
        """Every tensor on ``device`` (a tensor already there is not copied)."""
        return ModelInputs(*(t.to(device) for t in self.__dict__.values()))


def as_tensors(arrays: GalaxyArrays, *, n_bands: int, n_phot: int) -> ModelInputs:
    """Normalise and convert a batch; modalities the arrays lack become zero-size or zero tensors.

    n_bands, n_phot: the widths the model was built for (B and P).
    """
    n = len(arrays)
    present = arrays.present()
    if arrays.images is not None and n_bands:
        if arrays.images_stretched:
            image = arrays.images.astype(np.float32, copy=False)
            if not present[:, 0].all():  # zero the absent rows (a copy only then)
                image = np.where(present[:, 0, None, None, None], image, np.float32(0))
        else:
            image = _stretch_rows(arrays.images, present[:, 0])
        _check_width("images", image.shape[1], n_bands)
    else:
        image = np.zeros((n, n_bands, 1, 1), np.float32)
        present[:, 0] = False
    if arrays.flux is not None:
        log_wave, flux_n, ivar_n, valid = _spectrum_inputs(arrays, present[:, 1])
        present[:, 1] &= valid.any(axis=1)  # a spectrum with no good pixel is no spectrum
    else:
        valid = np.zeros((n, 0), bool)
        log_wave = flux_n = ivar_n = np.zeros((n, 0), np.float32)
        present[:, 1] = False
    if arrays.phot_flux is not None and n_phot:
        _check_width("photometry", arrays.phot_flux.shape[1], n_phot)
        f, iv = arrays.phot_flux, arrays.phot_ivar
        ok = present[:, 2:3] & np.isfinite(f) & np.isfinite(iv) & (iv > 0)
        mag, err = asinh_magnitudes(np.where(ok, f, 0.0), np.where(ok, iv, 0.0))
        phot = np.stack(
            [
                np.where(ok, (mag - ZERO_POINT) / MAG_UNIT, 0.0),
                np.where(ok, np.log10(np.where(ok, err, 1.0)), 0.0),
                ok.astype(np.float64),
            ],
            axis=-1,
        ).astype(np.float32)
        present[:, 2] &= ok.any(axis=1)
    else:
        phot = np.zeros((n, n_phot, 3), np.float32)
        present[:, 2] = False
    return ModelInputs(
        present=torch.from_numpy(present),
        image=torch.from_numpy(image),
        log_wave=torch.from_numpy(log_wave),
        flux=torch.from_numpy(flux_n),
        weight=torch.from_numpy(np.sqrt(ivar_n)),
        pixel_valid=torch.from_numpy(valid),
        phot=torch.from_numpy(phot),
    )


def _spectrum_inputs(
    arrays: GalaxyArrays, has: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """log10 wavelength, normalised flux and ivar (N, L) float32 and valid pixels (N, L) bool,
    zero (False) on galaxies without a spectrum. Only the rows that have one are computed: in a
    survey where one galaxy in ten has a spectrum, the rest are padding."""
    shape = arrays.flux.shape
    log_wave, flux_n, ivar_n = (np.zeros(shape, np.float32) for _ in range(3))
    valid = np.zeros(shape, bool)
    rows = np.flatnonzero(has)
    if len(rows) == 0:
        return log_wave, flux_n, ivar_n, valid
    wave, flux, ivar = arrays.wavelength[rows], arrays.flux[rows], arrays.ivar[rows]
    with np.errstate(invalid="ignore"):
        ok = (ivar > 0) & np.isfinite(flux) & np.isfinite(ivar) & np.isfinite(wave) & (wave > 0)
    flux_n[rows], ivar_n[rows] = normalise_spectra(flux, ivar, ok)
    log_wave[rows] = np.where(ok, np.log10(np.where(ok, wave, 1.0)), 0.0)
    valid[rows] = ok
    return log_wave, flux_n, ivar_n, valid


def _stretch_rows(images: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """asinh_stretch of the rows ``ok`` marks, STRETCH_CHUNK at a time; zeros elsewhere."""
    image = np.zeros(images.shape, np.float32)
    rows = np.flatnonzero(ok)
    for start in range(0, len(rows), STRETCH_CHUNK):
        chunk = rows[start : start + STRETCH_CHUNK]
        image[chunk] = asinh_stretch(images[chunk])
    return image


def _check_width(name: str, got: int, want: int) -> None:
    if got != want:
        raise ValueError(f"{name}: the model was built for {want} bands, the arrays have {got}")
