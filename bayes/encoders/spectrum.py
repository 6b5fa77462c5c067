"""A spectrum encoder that reads each spectrum on its own wavelength grid (seed paper 001).

Pixels are grouped in patches of ``patch`` consecutive pixels; each patch becomes a token from its
(flux, S/N weight) values plus a sinusoidal embedding of its mean log-wavelength and its
log-wavelength span (resolution). Tokens without a good pixel (padding, ivar=0) are masked out of
attention and pooling, so spectra of any length, range and resolution need no resampling. The
embedding is of observed log-wavelength: a redshift is a shift in log-wavelength, which the
sinusoids turn into a phase the network can read, so nothing assumes a rest frame.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (the torch convention)


def wavelength_embedding(
    log_wave: torch.Tensor, dim: int, *, min_period: float = 1e-3, max_period: float = 2.0
) -> torch.Tensor:
    """Sinusoids of log10(wavelength / Angstrom) with periods geometric in [min, max] dex.

    log_wave: (...) -> (..., dim); dim must be even.
    """
    if dim % 2:
        raise ValueError(f"dim must be even, got {dim}")
    periods = torch.logspace(
        math.log10(min_period), math.log10(max_period), dim // 2, device=log_wave.device
    )
    phase = 2 * math.pi * log_wave[..., None] / periods
    return torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1)


class _Block(nn.Module):
    """Pre-norm transformer block whose attention ignores masked keys."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """x: (n, S, dim); keep: (n, S) bool, at least one True per row -> (n, S, dim)."""
        n, s, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(n, s, 3, self.heads, d // self.heads).unbind(2)
        att = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=keep[:, None, None]
        )
        x = x + self.drop(self.out(att.transpose(1, 2).reshape(n, s, d)))
        return x + self.drop(self.mlp(self.norm2(x)))


class SpectrumEncoder(nn.Module):
    """Patch tokens with wavelength embeddings -> masked transformer -> attention pooling."""

    def __init__(
        self,
        out_dim: int,
        *,
        patch: int = 8,
        dim: int = 32,
        layers: int = 1,
        heads: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"token dim {dim} is not divisible by heads {heads}")
        self.patch, self.dim = patch, dim
        self.embed = nn.Linear(2 * patch + 1, dim)
        self.blocks = nn.ModuleList(_Block(dim, heads, dropout) for _ in range(layers))
        self.query = nn.Parameter(torch.zeros(dim))
        self.pool_key = nn.Linear(dim, dim)
        self.project = nn.Linear(dim, out_dim)

    def tokens(
        self, log_wave: torch.Tensor, flux: torch.Tensor, weight: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, L) pixels -> tokens (n, S, dim) and token mask (n, S), S = ceil(L / patch)."""
        pad = -flux.shape[1] % self.patch
        log_wave, flux, weight = (F.pad(t, (0, pad)) for t in (log_wave, flux, weight))
        valid = F.pad(valid, (0, pad))
        n, s = flux.shape[0], flux.shape[1] // self.patch
        log_wave, flux, weight, valid = (
            t.view(n, s, self.patch) for t in (log_wave, flux, weight, valid)
        )
        w = torch.where(valid, weight / (1 + weight), 0.0)  # S/N in [0, 1): bounded input
        count = valid.sum(-1)
        keep = count > 0
        centre = torch.where(valid, log_wave, 0.0).sum(-1) / count.clamp(min=1)
        hi = torch.where(valid, log_wave, -torch.inf).amax(-1)
        lo = torch.where(valid, log_wave, torch.inf).amin(-1)
        span = torch.where(keep, (hi - lo) * 1e3, 0.0)  # milli-dex: ~1 for SDSS-like patches
        feats = torch.cat([torch.where(valid, flux, 0.0), w, span[..., None]], dim=-1)
        return self.embed(feats) + wavelength_embedding(centre, self.dim), keep

    def forward(
        self, log_wave: torch.Tensor, flux: torch.Tensor, weight: torch.Tensor, valid: torch.Tensor
    ) -> torch.Tensor:
        """(n, L) log10 Angstrom, normalised flux, sqrt(ivar), valid -> (n, out_dim).

        Every row needs at least one valid pixel; columns no row uses are trimmed first.
        """
        used = valid.any(0).nonzero()
        stop = int(used.max()) + 1 if len(used) else 0
        x, keep = self.tokens(log_wave[:, :stop], flux[:, :stop], weight[:, :stop], valid[:, :stop])
        for block in self.blocks:
            x = block(x, keep)
        score = (self.pool_key(x) @ self.query) / math.sqrt(self.dim)  # (n, S)
        alpha = torch.softmax(score.masked_fill(~keep, -torch.inf), dim=-1)
        return self.project((alpha[..., None] * x).sum(1))
