"""The device path: which devices resolve, that a fit on the CPU named explicitly is today's fit,
and that the trunk keeps every tensor it makes on its inputs' device.

CI has no GPU. The last test runs the trunk on PyTorch's "meta" device, which computes shapes
only and refuses to mix devices, so a tensor made on the CPU inside the trunk's forward pass (the
bug a GPU would hit first) fails here too. A GPU run is bench/gpu_check.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.fx.experimental._config as fx_config

from bayes.data import as_tensors
from bayes.device import module_device, resolve_device
from bayes.encoders.spectrum import wavelength_embedding
from bayes.latents import FrozenTrunk, Latents
from bayes.layers.fusion import modality_dropout
from bayes.model import GalaxyModel, build, input_widths
from tests.bayes.conftest import small_config


def test_cpu_is_the_default_and_auto_falls_back_to_it(monkeypatch):
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


def test_a_missing_or_unknown_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"no CUDA GPU is usable here.*--device cpu"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match="has 1 CUDA device"):
        resolve_device("cuda:1")


def test_a_fit_on_the_named_cpu_is_the_default_fit(data, fitted):
    named = GalaxyModel(small_config()).fit(data[0], data[1], device="cpu")
    a, b = fitted.predict(data[2], seed=1), named.predict(data[2], seed=1)
    assert np.array_equal(a.probs["morphology"], b.probs["morphology"])
    assert np.array_equal(a.draws["redshift"], b.draws["redshift"])
    assert module_device(named.posterior_) == torch.device("cpu")
    assert named.to("cpu") is named


def test_a_heads_only_fit_takes_a_device(data, fitted):
    heads = GalaxyModel(small_config()).fit(
        data[0], data[1], init_from=fitted, update="heads", device="cpu"
    )
    assert heads.predict(data[2]).probs["morphology"].shape[0] == len(data[2])


@pytest.mark.parametrize("fusion", ["early", "feature", "late"])
def test_the_trunk_makes_its_tensors_on_its_inputs_device(data, fusion):
    # spectra are left out: their tokenizer sizes its output from the data (an .item()), which
    # the meta device cannot do; the image and photometry paths and every fusion are covered
    config = small_config(fusion=fusion, modalities=("image", "photometry"))
    n_bands, n_phot = input_widths(data[0], config)
    trunk, _, _ = build(config, n_bands=n_bands, n_phot=n_phot)
    inputs = as_tensors(data[0], n_bands=n_bands, n_phot=n_phot)
    trunk.fit_scaling(inputs)
    meta = torch.device("meta")
    trunk, inputs = trunk.to(meta), inputs.to(meta)
    present = modality_dropout(trunk.usable(inputs.present), 0.25, torch.Generator())
    with fx_config.patch(meta_nonzero_assume_all_nonzero=True):
        latents, mask = trunk(inputs, present)
    assert latents.device == mask.device == meta
    assert latents.shape[:2] == mask.shape == (len(data[0]), 3 if fusion == "late" else 1)
    frozen = FrozenTrunk(trunk).to(meta)
    _, dropped = frozen(Latents(latents, mask), present)
    assert dropped.device == meta


def test_the_spectrum_tokens_wavelength_code_is_made_on_the_wavelengths_device():
    log_wave = torch.zeros(2, 5, device="meta")
    assert wavelength_embedding(log_wave, 8).device == torch.device("meta")
