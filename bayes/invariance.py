"""Two views of a galaxy (turned or mirrored, more noise) and a term that makes its latent the
same in both (VICReg).

A reconstruction objective spends the latent on what it takes to redraw pixels: orientation,
exact position, noise. Morphology, redshift and star formation do not change when a cutout is
rotated by 90 degrees or mirrored, nor with which patches are hidden. Pretraining that asks two
such views of a galaxy for the same latent (the invariance self-supervised encoders of galaxy
images are built on: Hayat et al. 2021, Walmsley et al.'s Zoobot) keeps what the labels need.
VICReg (Bardes, Ponce & LeCun 2022) does it without negatives, so a 64-galaxy batch on a CPU
is enough: invariance (mean squared difference of the two views' latents), variance (each
dimension's spread kept above 1, against collapse) and covariance (dimensions decorrelated).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F  # noqa: N812 (the torch convention)

# VICReg's published weights of its three terms (invariance, variance, covariance)
WEIGHTS = (25.0, 25.0, 1.0)


def dihedral(image: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """(n, B, H, W) cutouts, (n,) codes 0..7 -> each cutout rotated by (k % 4) quarter turns,
    then mirrored left-right if k >= 4: the eight symmetries of a square pixel grid, exact (no
    interpolation). Non-square cutouts get only the four that keep their shape."""
    if image.shape[2] != image.shape[3]:
        k = torch.where(k % 2 == 1, k - 1, k)  # half turns and mirrors keep H x W
    out = image.clone()
    for code in range(8):
        rows = k == code
        if not rows.any() or code == 0:
            continue
        turned = torch.rot90(image[rows], code % 4, dims=(2, 3))
        out[rows] = turned.flip(3) if code >= 4 else turned
    return out


def random_codes(n: int, generator: torch.Generator) -> torch.Tensor:
    """(n,) symmetry codes 0..7, uniform, for :func:`dihedral`."""
    return torch.randint(0, 8, (n,), generator=generator)


# Most added noise, in the network's units (the asinh-stretched cutout, ~1 per sky sigma).
NOISE = 1.0


def second_view(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(n, B, H, W) -> another view of each cutout: one of the eight symmetries, and Gaussian
    noise of a standard deviation drawn from [0, NOISE) per galaxy. Without the noise the two
    views share their sky noise exactly, and the latent learnt to encode the noise instead of
    the galaxy (on the 20k mock's test split, R² 0.86 for the noise level and 0.58 for the
    central flux, against 0.87 and 0.83 for an untrained trunk: docs/pretraining.md)."""
    n = len(image)
    turned = dihedral(image, random_codes(n, generator))
    level = NOISE * torch.rand(n, 1, 1, 1, generator=generator)
    return turned + level * torch.randn(turned.shape, generator=generator)


def _variance(z: torch.Tensor) -> torch.Tensor:
    std = torch.sqrt(z.var(0) + 1e-4)
    return F.relu(1.0 - std).mean()


def _covariance(z: torch.Tensor) -> torch.Tensor:
    z = z - z.mean(0)
    cov = (z.T @ z) / max(len(z) - 1, 1)
    off = cov - torch.diag(torch.diag(cov))
    return off.pow(2).sum() / z.shape[1]


def vicreg(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """VICReg loss of two views' latents (n, D) of the same n galaxies (n >= 2). On the
    latent itself, not on a wider expander's output: with an expander the latent collapsed to
    one direction (an effective rank of 1.5 of 32 on the 20k mock, docs/pretraining.md) while
    the expander met the variance and covariance terms."""
    inv, var, cov = WEIGHTS
    return (
        inv * F.mse_loss(a, b)
        + var * (_variance(a) + _variance(b)) / 2
        + cov * (_covariance(a) + _covariance(b))
    )
