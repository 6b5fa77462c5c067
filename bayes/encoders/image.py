"""A small CNN over N-band cutouts of any size."""

from __future__ import annotations

import torch
from torch import nn


class ImageEncoder(nn.Module):
    """Conv blocks (3x3 conv, GELU, 2x2 max-pool) then global average pooling and a projection.

    No batch statistics (no BatchNorm), so a galaxy's latent never depends on its batch-mates.
    ``extra_dim`` > 0 lets a vector per galaxy enter the first layer (early fusion): it adds a
    linear map of the vector to every pixel of the first conv's output, which is what stacking the
    vector as constant image channels computes (up to zero padding at the border), at the cost of
    one matrix product instead of one extra input channel per element.
    """

    def __init__(
        self,
        n_bands: int,
        out_dim: int,
        *,
        channels: tuple[int, ...] = (16, 32, 64),
        dropout: float = 0.0,
        channels_last: bool = True,
        extra_dim: int = 0,
    ) -> None:
        super().__init__()
        self.stem = nn.Conv2d(n_bands, channels[0], 3, padding=1)
        self.extra = nn.Linear(extra_dim, channels[0], bias=False) if extra_dim else None
        layers: list[nn.Module] = [nn.GELU(), nn.MaxPool2d(2, ceil_mode=True)]
        c_in = channels[0]
        for c in channels[1:]:
            if dropout:
                layers.append(nn.Dropout(dropout))
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.GELU(), nn.MaxPool2d(2, ceil_mode=True)]
            c_in = c
        if dropout:
            layers.append(nn.Dropout(dropout))
        self.features = nn.Sequential(*layers)
        self.project = nn.Linear(c_in, out_dim)
        self.channels_last = channels_last

    def forward(self, image: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """(n, B, H, W) asinh-stretched cutouts [+ (n, extra_dim) vectors] -> (n, out_dim)."""
        if self.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        x = self.stem(image)
        if self.extra is not None:
            x = x + self.extra(extra)[:, :, None, None]
        return self.project(self.features(x).mean(dim=(2, 3)))
