"""Masked multimodal pretraining of a trunk on every galaxy, labelled or not (seed paper 002).

Most of each present modality is hidden — image patches, spectrum tokens (the tokenizer's own
patches, on each spectrum's native grid), photometric bands — and, for a galaxy with several
modalities, sometimes a whole modality; the trunk encodes what is left into its one latent and
small decoders reconstruct what was hidden from that latent alone. A latent that can redraw a
galaxy's spectrum from its image has learnt what the spectrum would say, so heads fitted on it
need fewer labels. The decoders are thrown away; the trunk is kept (:class:`bayes.layers.fusion.
Trunk`, so a model's heads can sit on it: ``GalaxyModel.fit(encoder=...)``).

Every epoch draws its masks and order from (seed, epoch) alone, so a run stopped after any
epoch and resumed from :class:`PretrainState` gives the same weights as one that never stopped.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (the torch convention)

from bayes.contrastive import image_spectrum
from bayes.data import (
    IMAGE,
    PHOTOMETRY,
    SPECTRUM,
    GalaxyArrays,
    ModelInputs,
    as_tensors,
)
from bayes.encoders.spectrum import wavelength_embedding
from bayes.invariance import second_view, vicreg
from bayes.layers.fusion import Trunk, embedding, modality_dropout


@dataclass(frozen=True)
class PretrainConfig:
    """How to pretrain. mask_ratio: share of image patches and spectrum tokens hidden;
    band_ratio: share of photometric bands hidden — lower, as a catalogue has a handful (75%
    of ugriz leaves one band and no colour at all); at least one unit is always kept.
    drop_modality: chance each modality of a galaxy with more than one is hidden whole (one is
    always kept), which is what teaches one modality to stand for another; image_patch: side
    of the square image patches, pixels. invariance: weight of the VICReg term that asks the
    masked view of a galaxy and a whole one, its cutout turned or mirrored, for the same latent
    (:mod:`bayes.invariance`); 0, the default, pretrains by reconstruction alone.
    contrastive: weight of a CLIP-style term (:mod:`bayes.contrastive`) asking a galaxy's
    image-only latent and its spectrum-only latent to pick each other out of a batch of
    ``batch_size`` galaxies that have both (AstroCLIP); 0, the default, leaves it out."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    mask_ratio: float = 0.75
    band_ratio: float = 0.4
    drop_modality: float = 0.25
    image_patch: int = 8
    invariance: float = 0.0
    contrastive: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("mask_ratio", "band_ratio"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        for name in ("invariance", "contrastive"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.drop_modality < 1:
            raise ValueError(f"drop_modality must be in [0, 1), got {self.drop_modality}")
        for name in ("epochs", "batch_size", "image_patch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass
class Masked:
    """One batch as the trunk sees it during pretraining, and what was hidden from it.

    inputs: the batch with hidden patches zeroed, hidden tokens' pixels invalid and hidden
    bands unmeasured; present: (n, 3) the modalities the trunk may read; hidden_patches:
    (n, gh, gw) bool; hidden_pixels: (n, L) bool, valid spectrum pixels hidden; hidden_bands:
    (n, P) bool, measured bands hidden.
    """

    inputs: ModelInputs
    present: torch.Tensor
    hidden_patches: torch.Tensor
    hidden_pixels: torch.Tensor
    hidden_bands: torch.Tensor


def _hide(units: torch.Tensor, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """(n, K) bool of usable units -> (n, K) bool, round(ratio * usable) of them hidden per
    row at random, never all of a row's usable units."""
    noise = torch.rand(units.shape, generator=generator)
    noise = torch.where(units, noise, 2.0)  # unusable units sort last, never hidden
    count = units.sum(1, keepdim=True)
    k = torch.minimum((ratio * count).round(), (count - 1).clamp(min=0))
    rank = noise.argsort(1).argsort(1)
    return rank < k


def mask_batch(
    inputs: ModelInputs, config: PretrainConfig, spectrum_patch: int, generator: torch.Generator
) -> Masked:
    """Hide most of each modality of ``inputs`` (:class:`PretrainConfig`)."""
    n = len(inputs)
    present = modality_dropout(inputs.present, config.drop_modality, generator)
    dropped = inputs.present & ~present  # modalities hidden whole: reconstruct all of them
    image = inputs.image
    p = config.image_patch
    if image.numel():
        gh, gw = math.ceil(image.shape[2] / p), math.ceil(image.shape[3] / p)
        patches = _hide(torch.ones(n, gh * gw, dtype=torch.bool), config.mask_ratio, generator)
        patches = patches.view(n, gh, gw) | dropped[:, IMAGE, None, None]
        pixels = patches.repeat_interleave(p, 1).repeat_interleave(p, 2)
        pixels = pixels[:, : image.shape[2], : image.shape[3]]
        image = torch.where(pixels[:, None], 0.0, image)
    else:
        patches = torch.zeros(n, 0, 0, dtype=torch.bool)
    valid = inputs.pixel_valid
    if valid.numel():
        pad = -valid.shape[1] % spectrum_patch
        tokens = F.pad(valid, (0, pad)).view(n, -1, spectrum_patch).any(-1)
        hidden_tokens = _hide(tokens, config.mask_ratio, generator) | dropped[:, SPECTRUM, None]
        spread = hidden_tokens.repeat_interleave(spectrum_patch, 1)[:, : valid.shape[1]]
        hidden_pixels = valid & spread
        valid = valid & ~hidden_pixels
    else:
        hidden_pixels = valid.clone()
    measured = inputs.phot[..., 2] > 0
    hidden_bands = _hide(measured, config.band_ratio, generator)
    bands = (hidden_bands | dropped[:, PHOTOMETRY, None]) & measured
    phot = torch.where(bands[..., None], 0.0, inputs.phot)
    masked = ModelInputs(
        present=inputs.present,
        image=image,
        log_wave=inputs.log_wave,
        flux=torch.where(valid, inputs.flux, 0.0),
        weight=torch.where(valid, inputs.weight, 0.0),
        pixel_valid=valid,
        phot=phot,
    )
    return Masked(
        masked, present, patches & inputs.present[:, IMAGE, None, None], hidden_pixels, bands
    )


class Decoders(nn.Module):
    """Reconstruct hidden parts of a galaxy from its latent (n, D): image patches from the
    latent plus a learnt patch position, spectrum tokens from the latent plus the sinusoidal
    embedding of the token's log-wavelength, magnitudes from the latent."""

    def __init__(
        self,
        latent_dim: int,
        *,
        image_shape: tuple[int, int, int] | None,
        image_patch: int,
        spectrum_patch: int | None,
        n_phot: int,
    ) -> None:
        super().__init__()
        d, hidden = latent_dim, 4 * latent_dim
        self.image_shape, self.image_patch, self.spectrum_patch = (
            image_shape,
            image_patch,
            spectrum_patch,
        )
        if image_shape is not None:
            bands, h, w = image_shape
            grid = math.ceil(h / image_patch) * math.ceil(w / image_patch)
            self.position = nn.Parameter(0.02 * torch.randn(grid, d))
            self.image = _mlp(d, hidden, bands * image_patch**2)
        if spectrum_patch is not None:
            self.spectrum = _mlp(2 * d, hidden, spectrum_patch)
        if n_phot:
            self.photometry = _mlp(d, hidden, n_phot)

    def loss(
        self, z: torch.Tensor, original: ModelInputs, masked: Masked
    ) -> dict[str, torch.Tensor]:
        """Mean squared reconstruction error of each modality's hidden parts (only modalities
        with something hidden in the batch appear)."""
        out: dict[str, torch.Tensor] = {}
        if self.image_shape is not None and masked.hidden_patches.any():
            out["image"] = self._image_loss(z, original.image, masked.hidden_patches)
        if self.spectrum_patch is not None and masked.hidden_pixels.any():
            out["spectrum"] = self._spectrum_loss(z, original, masked.hidden_pixels)
        if hasattr(self, "photometry") and masked.hidden_bands.any():
            predicted = self.photometry(z)
            err = (predicted - original.phot[..., 0]) ** 2
            out["photometry"] = err[masked.hidden_bands].mean()
        return out

    def _image_loss(
        self, z: torch.Tensor, image: torch.Tensor, hidden: torch.Tensor
    ) -> torch.Tensor:
        bands, h, w = self.image_shape  # type: ignore[misc]
        p = self.image_patch
        gh, gw = hidden.shape[1:]
        rows, cells = hidden.flatten(1).nonzero(as_tuple=True)
        predicted = self.image(z[rows] + self.position[cells]).view(-1, bands, p, p)
        padded = F.pad(image, (0, gw * p - w, 0, gh * p - h))
        tiles = padded.unfold(2, p, p).unfold(3, p, p)  # (n, B, gh, gw, p, p)
        target = tiles.permute(0, 2, 3, 1, 4, 5).reshape(len(z), gh * gw, bands, p, p)
        inside = torch.ones(1, 1, h, w).to(image)
        inside = F.pad(inside, (0, gw * p - w, 0, gh * p - h)).unfold(2, p, p).unfold(3, p, p)
        inside = inside.permute(0, 2, 3, 1, 4, 5).reshape(gh * gw, 1, p, p)[cells]
        err = (predicted - target[rows, cells]) ** 2 * inside
        return err.sum() / (inside.sum() * bands).clamp(min=1)

    def _spectrum_loss(
        self, z: torch.Tensor, original: ModelInputs, hidden: torch.Tensor
    ) -> torch.Tensor:
        s = self.spectrum_patch
        n = len(z)
        pad = -hidden.shape[1] % s  # type: ignore[operator]
        hid = F.pad(hidden, (0, pad)).view(n, -1, s)
        flux = F.pad(original.flux, (0, pad)).view(n, -1, s)
        wave = F.pad(original.log_wave, (0, pad)).view(n, -1, s)
        rows, tokens = hid.any(-1).nonzero(as_tuple=True)
        hid, flux, wave = hid[rows, tokens], flux[rows, tokens], wave[rows, tokens]
        centre = torch.where(hid, wave, 0.0).sum(-1) / hid.sum(-1)
        query = torch.cat([z[rows], wavelength_embedding(centre, z.shape[1])], 1)
        err = (self.spectrum(query) - flux) ** 2
        return err[hid].mean()


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Linear(hidden, d_out))


def decoders_for(trunk: Trunk, arrays: GalaxyArrays, config: PretrainConfig) -> Decoders:
    """Decoders for the modalities ``trunk`` reads, sized from ``arrays``."""
    image_shape = None
    if trunk.uses["image"] and arrays.images is not None:
        image_shape = tuple(int(s) for s in arrays.images.shape[1:])
    spectrum_patch = None  # early fusion bins spectra: its trunk has no token encoder
    if trunk.fusion != "early" and trunk.uses["spectrum"]:
        spectrum_patch = trunk.encoders["spectrum"].patch
    n_phot = (
        arrays.phot_flux.shape[1]
        if trunk.uses["photometry"] and arrays.phot_flux is not None
        else 0
    )
    return Decoders(
        trunk.dim,
        image_shape=image_shape,  # type: ignore[arg-type]
        image_patch=config.image_patch,
        spectrum_patch=spectrum_patch,
        n_phot=n_phot,
    )


def _invariance(
    trunk: Trunk, z: torch.Tensor, inputs: ModelInputs, generator: torch.Generator
) -> torch.Tensor:
    """VICReg between latents z of the masked view and those of a second view of the same
    galaxies with nothing hidden, each cutout turned or mirrored and given more noise at
    random: the masked view must say what the whole galaxy would, in any orientation."""
    if inputs.image.numel():
        inputs = dataclasses.replace(inputs, image=second_view(inputs.image, generator))
    return vicreg(z, embedding(*trunk(inputs, inputs.present)))


@dataclass
class PretrainState:
    """Where a pretraining run stands after ``epoch`` finished epochs: everything a resumed
    run needs (tensors only, so it saves as safetensors) and the loss history."""

    epoch: int
    trunk: dict[str, torch.Tensor]
    decoders: dict[str, torch.Tensor]
    optimizer: dict[str, torch.Tensor]
    losses: list[dict[str, float]] = field(default_factory=list)


def _optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """AdamW's per-parameter state as flat named tensors."""
    flat: dict[str, torch.Tensor] = {}
    for i, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            flat[f"{i}.{key}"] = torch.as_tensor(value).clone()
    return flat


def _load_optimizer(opt: torch.optim.Optimizer, flat: dict[str, torch.Tensor]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in flat.items():
        i, key = name.split(".", 1)
        state.setdefault(int(i), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})


def pretrain(
    trunk: Trunk,
    arrays: GalaxyArrays,
    config: PretrainConfig,
    *,
    n_bands: int,
    n_phot: int,
    resume: PretrainState | None = None,
    on_epoch: Callable[[PretrainState], None] | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> PretrainState:
    """Pretrain ``trunk`` in place on ``arrays`` (every galaxy, no targets); returns the
    final state. resume: a state :func:`pretrain` reported, to go on from its epoch.
    on_epoch(state) after every epoch (save it to resume after a crash); on_step(done, total)
    after every optimiser step, for a progress bar."""
    if not len(arrays):
        raise ValueError("pretraining needs at least one galaxy")
    decoders = decoders_for(trunk, arrays, config)
    if resume is not None:
        trunk.load_state_dict(resume.trunk)
        decoders.load_state_dict(resume.decoders)
    elif arrays.phot_flux is not None:  # photometry alone: no image tensors
        phot = GalaxyArrays(
            phot_flux=arrays.phot_flux,
            phot_ivar=arrays.phot_ivar,
            has_photometry=arrays.has_photometry,
        )
        trunk.fit_scaling(as_tensors(phot, n_bands=0, n_phot=n_phot))
    params = [*trunk.parameters(), *decoders.parameters()]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    if resume is not None:
        _load_optimizer(opt, resume.optimizer)
    spectrum_patch = decoders.spectrum_patch or 1
    pairs = np.flatnonzero(arrays.present()[:, [IMAGE, SPECTRUM]].all(1))
    contrast = config.contrastive > 0
    if contrast and not (trunk.uses["image"] and trunk.uses["spectrum"]):
        raise ValueError("the contrastive term pairs images with spectra: the trunk reads "
                         f"{[m for m, used in trunk.uses.items() if used]}")  # fmt: skip
    if contrast and len(pairs) < 2:
        raise ValueError(
            f"the contrastive term needs galaxies with both an image and a spectrum; "
            f"{len(pairs)} of {len(arrays)} have both"
        )
    losses = list(resume.losses) if resume else []
    start = resume.epoch if resume else 0
    per_epoch = math.ceil(len(arrays) / config.batch_size)
    total = per_epoch * config.epochs
    state = resume
    trunk.train()
    for epoch in range(start, config.epochs):
        rng = np.random.default_rng([config.seed, epoch])
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        order = rng.permutation(len(arrays))
        sums: dict[str, float] = {}
        for step in range(per_epoch):
            batch = arrays.subset(
                np.sort(order[step * config.batch_size : (step + 1) * config.batch_size])
            )
            inputs = as_tensors(batch, n_bands=n_bands, n_phot=n_phot)
            inputs = dataclasses.replace(inputs, present=trunk.usable(inputs.present))
            masked = mask_batch(inputs, config, spectrum_patch, generator)
            z = embedding(*trunk(masked.inputs, masked.present))
            parts = decoders.loss(z, inputs, masked)
            if config.invariance and len(inputs) > 1:
                parts["invariance"] = config.invariance * _invariance(trunk, z, inputs, generator)
            if contrast:
                drawn = rng.choice(pairs, min(config.batch_size, len(pairs)), replace=False)
                both = as_tensors(arrays.subset(np.sort(drawn)), n_bands=n_bands, n_phot=n_phot)
                term = image_spectrum(trunk, both)
                if term is not None:
                    parts["contrastive"] = config.contrastive * term
            if not parts:
                continue
            loss = sum(parts.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[union-attr]
            opt.step()
            for name, value in parts.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach()) / per_epoch
            if on_step is not None:
                on_step(epoch * per_epoch + step + 1, total)
        losses.append(sums)
        state = PretrainState(
            epoch + 1,
            {k: v.detach().clone() for k, v in trunk.state_dict().items()},
            {k: v.detach().clone() for k, v in decoders.state_dict().items()},
            _optimizer_tensors(opt),
            list(losses),
        )
        if on_epoch is not None:
            on_epoch(state)
    trunk.eval()
    assert state is not None
    return state
