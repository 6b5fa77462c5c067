"""The deterministic trunk: encoders plus one of three fusion strategies.

Every trunk returns expert latents (N, E, D) and an expert mask (N, E) for the Bayesian heads:

- early (data-level): the raw normalised photometry and a coarse, fixed log-wavelength binning of
  the spectrum (plus presence flags) enter the *first layer* of one CNN with the image pixels
  (or one MLP when the model has no image). Data-level fusion needs one common input layout,
  so this is the only place a spectrum is rebinned. E = 1.
- feature (intermediate): each modality has its own encoder; latents of absent modalities are
  zeroed and presence flags appended, then an MLP fuses the concatenation. E = 1.
- late (decision-level): each modality's latent is its own expert, plus an always-present
  "population" expert (a learned latent) so a galaxy with no data gets the population prior;
  the heads combine the experts' predictions (:mod:`bayes.layers.heads`). E = 1 + M.
"""

from __future__ import annotations

import torch
from torch import nn

from bayes.config import ModelConfig
from bayes.data import MODALITIES, ModelInputs
from bayes.encoders import ImageEncoder, PhotometryEncoder, SpectrumEncoder
from bayes.encoders.photometry import Standardiser, photometry_width


def modality_dropout(present: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """Hide each present modality with probability p, always keeping one of a galaxy's modalities.

    present: (N, M) bool -> (N, M) bool, never True where ``present`` is False.
    """
    # drawn from the (CPU) generator whatever the device, so a fit's dropout does not depend on it
    keep = present & (torch.rand(present.shape, generator=generator).to(present.device) >= p)
    lost = present.any(1) & ~keep.any(1)
    draws = torch.rand(present.shape, generator=generator).to(present.device)
    score = torch.where(present, draws, -1.0)
    rescue = nn.functional.one_hot(score.argmax(1), present.shape[1]).bool()
    return keep | (lost[:, None] & rescue)


def bin_spectra(
    inputs: ModelInputs, *, bins: int, log_range: tuple[float, float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse-variance-weighted mean flux in fixed log10-wavelength bins, with a bin S/N.

    -> flux (N, bins), snr/(1+snr) (N, bins); pixels outside ``log_range`` are ignored.
    """
    lo, hi = log_range
    pos = ((inputs.log_wave - lo) / (hi - lo) * bins).floor().long()
    ok = inputs.pixel_valid & (pos >= 0) & (pos < bins)
    w2 = torch.where(ok, inputs.weight**2, 0.0)
    idx = torch.where(ok, pos, 0)
    n = len(inputs)
    sum_w = w2.new_zeros(n, bins).scatter_add_(1, idx, w2)
    sum_wf = w2.new_zeros(n, bins).scatter_add_(1, idx, w2 * torch.where(ok, inputs.flux, 0.0))
    snr = sum_w.sqrt()
    return torch.where(sum_w > 0, sum_wf / sum_w.clamp(min=1e-30), 0.0), snr / (1 + snr)


def _encode_rows(encoder: nn.Module, rows: torch.Tensor, dim: int, *xs: torch.Tensor):
    """Run ``encoder`` only on the rows where ``rows`` (N,) is True; zeros elsewhere -> (N, dim)."""
    idx = rows.nonzero().squeeze(1)
    out = torch.zeros(rows.shape[0], dim, device=rows.device)
    if len(idx) == 0:
        return out
    return out.index_put((idx,), encoder(*(x[idx] for x in xs)))


class Trunk(nn.Module):
    """Encoders + fusion: (ModelInputs, modality mask) -> expert latents and expert mask."""

    def __init__(
        self, config: ModelConfig, *, n_bands: int, n_phot: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.fusion, self.dim = config.fusion, config.latent_dim
        self.widths = (n_bands, n_phot)  # the input widths B and P it was built for
        self.columns = [MODALITIES.index(m) for m in config.modalities]
        self.uses = {m: m in config.modalities for m in MODALITIES}
        self.early_bins, self.early_range = config.early_spectrum_bins, config.early_log_wave_range
        d = config.latent_dim
        if config.fusion == "early":
            width = len(MODALITIES)
            width += photometry_width(n_phot) if self.uses["photometry"] else 0
            self.early_phot = Standardiser(photometry_width(n_phot))
            width += 2 * config.early_spectrum_bins if self.uses["spectrum"] else 0
            if self.uses["image"]:
                self.early = ImageEncoder(
                    n_bands,
                    d,
                    channels=config.image_channels,
                    dropout=dropout,
                    channels_last=config.channels_last,
                    extra_dim=width,
                )
            else:
                self.early = nn.Sequential(nn.Linear(width, 64), nn.GELU(), nn.Linear(64, d))
        else:
            enc: dict[str, nn.Module] = {}
            if self.uses["image"]:
                enc["image"] = ImageEncoder(
                    n_bands,
                    d,
                    channels=config.image_channels,
                    dropout=dropout,
                    channels_last=config.channels_last,
                )
            if self.uses["spectrum"]:
                enc["spectrum"] = SpectrumEncoder(
                    d,
                    patch=config.spectrum_patch,
                    dim=config.spectrum_dim,
                    layers=config.spectrum_layers,
                    heads=config.spectrum_heads,
                    dropout=dropout,
                )
            if self.uses["photometry"]:
                enc["photometry"] = PhotometryEncoder(n_phot, d, dropout=dropout)
            self.encoders = nn.ModuleDict(enc)
        m = len(config.modalities)
        if config.fusion == "feature":
            self.fuse = nn.Sequential(nn.Linear(m * d + m, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        if config.fusion == "late":
            self.population = nn.Parameter(torch.zeros(d))
        self.activation = nn.GELU()
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()

    @property
    def n_experts(self) -> int:
        """E: 1 for early and feature fusion, 1 + M for late fusion."""
        return 1 + len(self.columns) if self.fusion == "late" else 1

    @torch.no_grad()
    def fit_scaling(self, inputs: ModelInputs) -> None:
        """Learn the photometry standardisation from the galaxies that have photometry."""
        if not self.uses["photometry"]:
            return
        phot = inputs.phot[inputs.present[:, 2]]
        if self.fusion == "early":
            self.early_phot.fit(phot)
        else:
            self.encoders["photometry"].standardise.fit(phot)

    def usable(self, present: torch.Tensor) -> torch.Tensor:
        """(N, 3) modality mask with the modalities this trunk does not use switched off."""
        used = torch.tensor([self.uses[m] for m in MODALITIES], device=present.device)
        return present & used

    def forward(
        self, inputs: ModelInputs, present: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> latents (N, E, D), expert mask (N, E) bool.

        present: (N, 3) bool modality mask (after modality dropout); default ``inputs.present``.
        """
        present = self.usable(inputs.present if present is None else present & inputs.present)
        if self.fusion == "early":
            z = self._early(inputs, present)[:, None]
            mask = present.new_ones(len(inputs), 1)
        else:
            zs = [
                self._encode(name, inputs, present[:, MODALITIES.index(name)])
                for name in self.encoders
            ]
            used = present[:, self.columns]
            if self.fusion == "feature":
                fused = self.fuse(torch.cat([*zs, used.float()], dim=1))
                z, mask = fused[:, None], present.new_ones(len(inputs), 1)
            else:
                pop = self.population.expand(len(inputs), 1, self.dim)
                z = torch.cat([pop, torch.stack(zs, 1)], 1)
                mask = torch.cat([present.new_ones(len(inputs), 1), used], 1)
        return self.drop(self.activation(z)), mask

    def _encode(self, name: str, inputs: ModelInputs, rows: torch.Tensor) -> torch.Tensor:
        """(N, D) latents of one modality, zero for galaxies without it."""
        if name == "image":
            xs = (inputs.image,)
        elif name == "spectrum":
            xs = (inputs.log_wave, inputs.flux, inputs.weight, inputs.pixel_valid)
        else:
            xs = (inputs.phot,)
        return _encode_rows(self.encoders[name], rows, self.dim, *xs)

    def _early(self, inputs: ModelInputs, present: torch.Tensor) -> torch.Tensor:
        """Data-level fusion: one network over the raw normalised inputs -> (N, D)."""
        parts = [present.float()]
        if self.uses["photometry"]:
            parts.append(torch.where(present[:, 2:3], self.early_phot(inputs.phot), 0.0))
        if self.uses["spectrum"]:
            flux, snr = bin_spectra(inputs, bins=self.early_bins, log_range=self.early_range)
            parts.append(torch.where(present[:, 1:2], torch.cat([flux, snr], 1), 0.0))
        vector = torch.cat(parts, 1)
        if not self.uses["image"]:
            return self.early(vector)
        image = torch.where(present[:, 0, None, None, None], inputs.image, 0.0)
        return self.early(image, vector)


def embedding(latents: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean latent over present experts: (N, E, D), (N, E) -> (N, D), for maps and diversity."""
    w = mask.float()[..., None]
    return (latents * w).sum(1) / w.sum(1).clamp(min=1)
