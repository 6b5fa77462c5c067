"""A small CNN over N-band cutouts of any size."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (the torch convention)


def _is_nhwc(x: torch.Tensor) -> bool:
    """Whether 4-D ``x`` lies in memory as (n, H, W, C) (channels_last) and not also as NCHW."""
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


class GELU(nn.GELU):
    """Exact GELU that reads channels_last activations as the flat (n, H, W, C) array they are:
    PyTorch 2.13's CPU kernel takes a slower path for a channels_last tensor (1.6-2x the time
    measured, docs/benchmarks.md) and rounds differently by at most an ulp."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Any shape -> the same; 4-D channels_last in, channels_last out."""
        if x.dim() == 4 and _is_nhwc(x):
            return F.gelu(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return F.gelu(x)


class MaxPool2(nn.MaxPool2d):
    """2x2 max-pool, stride 2, ceil mode: for inference on channels_last activations, two
    element-wise maxima over (n, H, W, C) memory, equal to ``nn.MaxPool2d(2, ceil_mode=True)``
    bit for bit and ~2x faster on the CPU (docs/benchmarks.md); with gradients, PyTorch's own
    kernel, whose backward is the faster one."""

    def __init__(self) -> None:
        super().__init__(2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, C, H, W) -> (n, C, ceil(H / 2), ceil(W / 2))."""
        if not _is_nhwc(x) or (x.requires_grad and torch.is_grad_enabled()):
            return super().forward(x)
        if x.shape[2] % 2 or x.shape[3] % 2:  # ceil mode: a lone edge row/column is its own max
            x = F.pad(x, (0, x.shape[3] % 2, 0, x.shape[2] % 2), value=-torch.inf)
            x = x.contiguous(memory_format=torch.channels_last)
        n, c, h, w = x.shape
        pairs = x.permute(0, 2, 3, 1).reshape(n, h // 2, 2, w // 2, 2 * c)
        rows = torch.maximum(pairs[:, :, 0], pairs[:, :, 1])  # (n, h/2, w/2, 2c): two columns
        return torch.maximum(rows[..., :c], rows[..., c:]).permute(0, 3, 1, 2)


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
        layers: list[nn.Module] = [GELU(), MaxPool2()]
        c_in = channels[0]
        for c in channels[1:]:
            if dropout:
                layers.append(nn.Dropout(dropout))
            layers += [nn.Conv2d(c_in, c, 3, padding=1), GELU(), MaxPool2()]
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
