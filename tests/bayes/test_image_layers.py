"""The image encoder's channels_last GELU and max-pool against PyTorch's own modules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bayes.encoders.image import GELU, ImageEncoder, MaxPool2

CL = torch.channels_last


def _activations(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (3 * torch.randn(shape, generator=g)).contiguous(memory_format=CL)


@pytest.mark.parametrize("size", [(8, 8), (7, 9), (1, 1), (2, 5)])
def test_pool_equals_torch_max_pool_bit_for_bit_and_keeps_the_layout(size):
    x = _activations((3, 6, *size))
    expected = nn.MaxPool2d(2, ceil_mode=True)(x)
    got = MaxPool2()(x)
    assert torch.equal(got, expected)
    assert got.is_contiguous(memory_format=CL)


def test_pool_and_gelu_take_plain_nchw_too():
    x = _activations((2, 4, 5, 6)).contiguous()
    assert torch.equal(MaxPool2()(x), nn.MaxPool2d(2, ceil_mode=True)(x))
    assert torch.equal(GELU()(x), nn.GELU()(x))


def test_gelu_on_channels_last_is_torch_gelu_to_rounding():
    x = _activations((4, 16, 12, 12))
    got = GELU()(x)
    # the NCHW kernel's result, which the flat NHWC view reproduces exactly
    assert torch.equal(got, nn.GELU()(x.contiguous()))
    # and torch's channels_last kernel's to rounding: the two kernels evaluate erf with other
    # instructions (AVX2 or AVX-512, by CPU), so allow 4 float32 ulps of the largest |x|
    # (N(0, 3^2) draws: |x| < 16, ulp 2^-20); 1.2e-6 was seen on an AVX-512 machine
    torch.testing.assert_close(got, nn.GELU()(x), rtol=0, atol=4 * 2.0**-20)
    assert got.is_contiguous(memory_format=CL)


def test_gradients_match_torch_modules():
    x = _activations((2, 3, 6, 7)).requires_grad_()
    y = x.detach().clone().requires_grad_()
    weights = _activations((2, 3, 3, 4), seed=1)
    (MaxPool2()(GELU()(x)) * weights).sum().backward()
    (nn.MaxPool2d(2, ceil_mode=True)(nn.GELU()(y)) * weights).sum().backward()
    torch.testing.assert_close(x.grad, y.grad, rtol=0, atol=1e-6)


def test_encoder_state_dict_keys_are_unchanged():
    """Checkpoints saved before these layers load: the layers hold no parameters and keep
    their positions in ``features``."""
    enc = ImageEncoder(5, 8, channels=(4, 8, 16))
    keys = {"stem.weight", "stem.bias", "project.weight", "project.bias"}
    keys |= {f"features.{i}.{p}" for i in (2, 5) for p in ("weight", "bias")}
    assert set(enc.state_dict()) == keys
