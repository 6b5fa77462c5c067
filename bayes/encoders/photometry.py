"""An MLP over asinh magnitudes with their errors and a per-band valid flag."""

from __future__ import annotations

import torch
from torch import nn


class PhotometryEncoder(nn.Module):
    """MLP over (mag, log10 error, valid) per band, flattened; bad bands arrive as zeros."""

    def __init__(self, n_phot: int, out_dim: int, *, hidden: int = 64, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(3 * n_phot, hidden),
            nn.GELU(),
            nn.Dropout(dropout) if dropout else nn.Identity(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, out_dim),
        )

    def forward(self, phot: torch.Tensor) -> torch.Tensor:
        """(n, P, 3) from :func:`bayes.data.as_tensors` -> (n, out_dim)."""
        return self.net(phot.flatten(1))
