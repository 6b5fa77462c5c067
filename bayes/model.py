"""GalaxyModel: a deterministic trunk with Bayesian heads, fitted by SVI (scikit-learn contract)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from bayes import targets as tg
from bayes.config import ModelConfig
from bayes.data import GalaxyArrays, ModelInputs, as_tensors
from bayes.device import resolve_device
from bayes.inference import svi_train, validation_loss
from bayes.latents import FrozenTrunk, Latents, encode
from bayes.layers.fusion import Trunk
from bayes.layers.heads import HeadParams
from bayes.predict import Posterior, check_fitted, predict

Update = Literal["warm", "prior", "heads", "probe"]
UPDATES = ("warm", "prior", "heads", "probe")


def build(
    config: ModelConfig, *, n_bands: int, n_phot: int, generator: torch.Generator | None = None
) -> tuple[Trunk, HeadParams, HeadParams]:
    """Fresh (trunk, prior, posterior) for the given input widths B and P."""
    trunk = Trunk(config, n_bands=n_bands, n_phot=n_phot)
    kw = {"n_experts": trunk.n_experts, "latent_dim": config.latent_dim}
    prior = HeadParams(config.tasks, scale=config.prior_scale, learn=False, **kw)
    posterior = HeadParams(
        config.tasks, scale=config.init_scale, learn=True, generator=generator, **kw
    )
    return trunk, prior, posterior


def input_widths(arrays: GalaxyArrays, config: ModelConfig) -> tuple[int, int]:
    """(B, P) from the arrays; ValueError if a configured modality has no data at all."""
    present = arrays.present()
    for col, name in enumerate(("image", "spectrum", "photometry")):
        if name in config.modalities and not present[:, col].any():
            raise ValueError(f"modality {name!r} is configured but no galaxy has it")
    n_bands = arrays.images.shape[1] if "image" in config.modalities else 0
    n_phot = arrays.phot_flux.shape[1] if "photometry" in config.modalities else 0
    return n_bands, n_phot


class GalaxyModel:
    """Trunk (encoders + fusion, point estimate) and mean-field Bayesian heads.

    Fitted state: ``trunk_``, ``prior_``, ``posterior_`` (modules), ``n_bands_``, ``n_phot_``,
    ``target_stats_`` (regression mean/std in transformed units), ``loss_history_``,
    ``best_epoch_`` (the validation-selected epoch, None without validation) and
    ``validation_history_`` ([(epoch, validation loss)]).
    """

    def __init__(self, config: ModelConfig) -> None:
        self.config = config

    def fit(
        self,
        arrays: GalaxyArrays,
        targets: Mapping[str, np.ndarray],
        *,
        init_from: GalaxyModel | None = None,
        update: Update = "warm",
        on_epoch: Callable[[int, float], None] | None = None,
        validation: tuple[GalaxyArrays, Mapping[str, np.ndarray]] | None = None,
        device: str | torch.device | None = None,
        encoder: Trunk | None = None,
        weights: np.ndarray | None = None,
    ) -> GalaxyModel:
        """Fit by SVI on labelled galaxies; targets per task as in :mod:`bayes.targets`.

        init_from: a fitted model with the same architecture. update="warm" starts trunk and
        posterior from it under the usual N(0, prior_scale) prior (pass all labels);
        update="prior" also makes its posterior the new prior and anchors the trunk at its
        weights (pass only the new labels: the old ones are in the prior). update="heads"
        keeps its trunk as it is and refits the heads alone, on the trunk's latents (pass all
        labels): the pool's latents stay valid (:func:`bayes.latents.trunk_digest`).
        on_epoch(epoch, loss): called after every epoch, e.g. to advance a progress bar.
        validation: held-out (arrays, targets); the weights of the epoch with the lowest
        validation loss are kept (:func:`bayes.inference.svi_train`), ``best_epoch_`` says which.
        device: where to train (:func:`bayes.device.resolve_device`; default the CPU). The
        fitted trunk stays there (:meth:`to` moves it); the heads come back to the CPU.
        encoder: a pretrained trunk of this architecture (:func:`bayes.pretrain.pretrain`) to
        start from instead of fresh weights, with its input standardisation as it is;
        update="heads" fits the heads on its latents and leaves it frozen, "warm" fine-tunes
        it, "prior" fine-tunes it under a Gaussian prior centred on its weights (std
        ``anchor_scale``, so few labels move it little and many move it more), "probe" fits
        the heads on the frozen encoder first and then fine-tunes all from there (LP-FT,
        Kumar et al. 2022: fresh heads' large gradients do not distort the pretrained
        features). Not with init_from. weights: (N,) importance weights of the galaxies'
        likelihoods (:func:`bayes.acquisition.lure_weights`); None weighs each alike.
        """
        cfg = self.config
        if update not in UPDATES:
            raise ValueError(f"update must be one of {UPDATES}, got {update!r}")
        if encoder is not None and init_from is not None:
            raise ValueError("encoder starts a new model: not with init_from")
        if update == "heads" and init_from is None and encoder is None:
            raise ValueError("update='heads' needs init_from or encoder, the trunk it keeps")
        if update == "probe":
            if encoder is None:
                raise ValueError("update='probe' needs an encoder, the trunk it probes")
            kw = {"validation": validation, "device": device, "weights": weights}
            probe = GalaxyModel(cfg).fit(arrays, targets, encoder=encoder, update="heads", **kw)
            return self.fit(arrays, targets, init_from=probe, on_epoch=on_epoch, **kw)
        n = len(arrays)
        dev = resolve_device(device)
        if weights is not None:
            weights = np.asarray(weights, np.float64)
            if weights.shape != (n,) or not (np.isfinite(weights).all() and (weights >= 0).all()):
                raise ValueError(f"weights must be {n} finite values >= 0, one per galaxy")
        with torch.random.fork_rng(devices=_rng_devices(dev)):
            torch.manual_seed(cfg.seed)  # Pyro samples from the global RNG; keep it local
            generator = torch.Generator().manual_seed(cfg.seed)
            rng = np.random.default_rng(cfg.seed)
            if init_from is None:
                # an encoder may read modalities these galaxies lack (an image-only fit on an
                # encoder pretrained with spectra): its widths, not the arrays', decide
                widths = encoder.widths if encoder is not None else input_widths(arrays, cfg)
                self.n_bands_, self.n_phot_ = widths
                trunk, prior, posterior = build(
                    cfg, n_bands=self.n_bands_, n_phot=self.n_phot_, generator=generator
                )
                stats = tg.fit_stats(cfg.tasks, targets)
                anchor, anchor_scale = None, cfg.trunk_prior_scale
                if encoder is not None:
                    _load_encoder(trunk, encoder)
                    if update == "prior":  # the pretrained weights are the trunk's prior mean
                        anchor = [p.detach().clone() for p in trunk.parameters()]
                        anchor_scale = cfg.anchor_scale
            else:
                _check_compatible(init_from, cfg)
                self.n_bands_, self.n_phot_ = init_from.n_bands_, init_from.n_phot_
                trunk = copy.deepcopy(init_from.trunk_)
                posterior = copy.deepcopy(init_from.posterior_)
                stats = dict(init_from.target_stats_)
                if update == "prior":
                    prior = init_from.posterior_.as_prior()
                    anchor = [p.detach().clone() for p in init_from.trunk_.parameters()]
                    anchor_scale = cfg.anchor_scale
                else:
                    prior = HeadParams(
                        cfg.tasks,
                        n_experts=trunk.n_experts,
                        latent_dim=cfg.latent_dim,
                        scale=cfg.prior_scale,
                        learn=False,
                    )
                    anchor, anchor_scale = None, cfg.trunk_prior_scale
            inputs = self._inputs(arrays, trunk, update)
            if init_from is None and encoder is None:
                trunk.fit_scaling(inputs)
            trunk, prior, posterior = trunk.to(dev), prior.to(dev), posterior.to(dev)
            if anchor is not None:
                anchor = [a.to(dev) for a in anchor]
            fitted = FrozenTrunk(trunk).to(dev) if update == "heads" else trunk
            inputs = inputs.to(dev)
            encoded = _on(tg.encode(cfg.tasks, targets, n, stats), dev)
            validate = None
            if validation is not None and len(validation[0]):
                val_inputs = self._inputs(validation[0], trunk, update).to(dev)
                val_targets = tg.encode(cfg.tasks, validation[1], len(validation[0]), stats)
                val_targets = _on(val_targets, dev)

                def validate() -> float:
                    return validation_loss(fitted, posterior, val_inputs, val_targets, config=cfg)

            log = svi_train(
                fitted,
                prior,
                posterior,
                inputs,
                encoded,
                config=cfg,
                anchor=anchor,
                anchor_scale=anchor_scale,
                rng=rng,
                generator=generator,
                on_epoch=on_epoch,
                validate=validate,
                weights=None if weights is None else torch.from_numpy(weights).float().to(dev),
            )
        self.trunk_, self.prior_, self.posterior_ = trunk.eval(), prior.cpu(), posterior.cpu()
        self.target_stats_, self.loss_history_ = stats, log.loss
        self.best_epoch_ = log.best_epoch
        self.validation_history_ = list(zip(log.checked, log.validation, strict=True))
        return self

    def _inputs(self, arrays: GalaxyArrays, trunk: Trunk, update: Update) -> ModelInputs | Latents:
        """What the fit feeds its trunk: the arrays as tensors, or for a heads-only update the
        kept trunk's latents of them."""
        if update == "heads":
            return encode(trunk.eval(), arrays, n_bands=self.n_bands_, n_phot=self.n_phot_)
        return as_tensors(arrays, n_bands=self.n_bands_, n_phot=self.n_phot_)

    def to(self, device: str | torch.device | None) -> GalaxyModel:
        """Run the trunk on ``device`` from now on (predictions, latents); the heads stay on
        the CPU. Returns self."""
        check_fitted(self)
        self.trunk_ = self.trunk_.to(resolve_device(device))
        return self

    def predict(
        self,
        arrays: GalaxyArrays | Iterable[GalaxyArrays],
        *,
        samples: int = 32,
        batch_size: int = 1024,
        seed: int = 0,
    ) -> Posterior:
        """Posterior predictive samples; see :func:`bayes.predict.predict`."""
        return predict(self, arrays, samples=samples, batch_size=batch_size, seed=seed)

    def save(self, path: str | Path, *, metadata: Mapping[str, Any] | None = None) -> Path:
        """Write the fitted model to directory ``path``; see :mod:`bayes.checkpoint`."""
        from bayes import checkpoint  # checkpoint rebuilds GalaxyModels: imported when used

        return checkpoint.save(self, path, metadata=dict(metadata or {}))

    @classmethod
    def load(cls, path: str | Path) -> GalaxyModel:
        """The model :meth:`save` wrote to ``path``."""
        from bayes import checkpoint

        return checkpoint.load(path)


def _rng_devices(device: torch.device) -> list[int]:
    """The CUDA devices whose RNG a fit on ``device`` seeds, so fork_rng restores them."""
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


def _on(targets: dict, device: torch.device) -> dict:
    """Encoded targets {task: (values, known)} on ``device``."""
    return {k: (y.to(device), ok.to(device)) for k, (y, ok) in targets.items()}


def _load_encoder(trunk: Trunk, encoder: Trunk) -> None:
    """Copy a pretrained trunk's weights into ``trunk``; ValueError if the shapes differ."""
    try:
        trunk.load_state_dict(encoder.state_dict(), strict=True)
    except RuntimeError as e:
        raise ValueError(f"the encoder does not fit this model's architecture: {e}") from None


def _check_compatible(previous: GalaxyModel, config: ModelConfig) -> None:
    if not hasattr(previous, "posterior_"):
        raise ValueError("init_from must be a fitted GalaxyModel")
    if previous.config.architecture() != config.architecture():
        raise ValueError("init_from has a different architecture (tasks, fusion or sizes)")
