"""A CLIP-style term that pairs a galaxy's image with its spectrum (AstroCLIP's idea).

Masked reconstruction asks the latent of an image to redraw a hidden spectrum pixel by pixel;
this asks only that the image-only latent of a galaxy and its spectrum-only latent pick each
other out of a batch (symmetric InfoNCE, Oord et al. 2018; CLIP, Radford et al. 2021; AstroCLIP,
Parker et al. 2024), so what they share — redshift first — is what the latent keeps.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F  # noqa: N812 (the torch convention)

from bayes.data import IMAGE, SPECTRUM, ModelInputs
from bayes.layers.fusion import Trunk, embedding

# Temperature of the contrastive term's softmax over cosine similarities (CLIP's learnt value
# settles near 0.01; AstroCLIP's fixed one is in this range). Fixed: the term is a means, and a
# learnt temperature is one more thing that can run away on a few thousand pairs.
TEMPERATURE = 0.1


def contrastive_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE of (n, D) latents of n galaxies seen two ways (row i of ``a`` and
    of ``b`` are one galaxy): each must find its partner among the n by cosine similarity.
    log(n) for latents that say nothing about which galaxy is which; 0 when every pair is
    told apart with certainty. Each side is centred on its batch mean first: an untrained
    trunk's latents share a large common part (cosine similarities of 0.36-0.58 between any
    two galaxies in development) that would hide how they differ."""
    a, b = a - a.mean(0), b - b.mean(0)
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / TEMPERATURE
    target = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def _only(present: torch.Tensor, column: int) -> torch.Tensor:
    """(n, 3) modality mask with every modality but ``column`` switched off."""
    keep = torch.zeros_like(present)
    keep[:, column] = present[:, column]
    return keep


def image_spectrum(trunk: Trunk, inputs: ModelInputs) -> torch.Tensor | None:
    """The contrastive term between the image-only and the spectrum-only latents of the
    galaxies of ``inputs`` that have both (whole, nothing masked); None for fewer than two."""
    present = trunk.usable(inputs.present)
    both = present[:, IMAGE] & present[:, SPECTRUM]
    if int(both.sum()) < 2:
        return None
    z_image = embedding(*trunk(inputs, _only(present, IMAGE)))
    z_spectrum = embedding(*trunk(inputs, _only(present, SPECTRUM)))
    return contrastive_loss(z_image[both], z_spectrum[both])
