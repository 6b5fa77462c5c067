"""The moving average of the weights that a fit validates and keeps."""

import pytest
import torch
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from bayes.inference import WeightAverage
from bayes.model import GalaxyModel
from tests.bayes.conftest import small_config


def test_the_warm_up_forgets_the_initial_weights():
    p = torch.zeros(3)
    average = WeightAverage([p], decay=0.998)
    p += 1.0  # the weights jump away from where they started and stay there
    for _ in range(20):
        average.update()
    # weight left on the start: prod (1 + t) / (10 + t), t = 1..20, = 2.4e-7; a plain 0.998
    # decay would still hold 0.998**20 = 0.96 of it
    torch.testing.assert_close(average.average[0], torch.ones(3), atol=1e-6, rtol=0)


def test_swap_exchanges_the_live_weights_and_the_average_and_twice_restores_them():
    p = torch.tensor([1.0, 2.0])
    average = WeightAverage([p], decay=0.5)
    p.mul_(3)
    average.update()
    kept = average.average[0].clone()
    average.swap()
    assert torch.equal(p, kept)
    average.swap()
    assert torch.equal(p, torch.tensor([3.0, 6.0]))


def _trajectory(cfg, data) -> tuple[GalaxyModel, list[list[torch.Tensor]]]:
    """A fit, and the weights it optimises: before the first step, then after every step."""
    weights: list[list[torch.Tensor]] = []

    def snapshot(optimiser) -> list[torch.Tensor]:
        return [p.detach().clone() for p in optimiser.param_groups[0]["params"]]

    def before(optimiser, *_):
        if not weights:
            weights.append(snapshot(optimiser))

    def after(optimiser, *_):
        weights.append(snapshot(optimiser))

    hooks = [register_optimizer_step_pre_hook(before), register_optimizer_step_post_hook(after)]
    try:
        model = GalaxyModel(cfg).fit(data[0], data[1])
    finally:
        for h in hooks:
            h.remove()
    return model, weights


@pytest.mark.parametrize("decay", [0.9, 0.998])
def test_a_fit_keeps_the_moving_average_of_its_steps(data, decay):
    last, steps = _trajectory(small_config(epochs=2, average=0.0), data)
    averaged, same = _trajectory(small_config(epochs=2, average=decay), data)
    # averaging does not change the steps, only which weights the fit keeps
    for a, b in zip(steps, same, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    expected = steps[0]
    for t, weights in enumerate(steps[1:], start=1):
        d = min(decay, (1 + t) / (10 + t))
        expected = [d * e + (1 - d) * w for e, w in zip(expected, weights, strict=True)]
    trunk = [p.detach() for p in averaged.trunk_.parameters()]
    for kept, want in zip(trunk, expected, strict=False):  # the trunk's come first
        torch.testing.assert_close(kept, want, atol=1e-6, rtol=1e-5)
    # without averaging the fit keeps its last step's weights
    for kept, want in zip(last.trunk_.parameters(), steps[-1], strict=False):
        assert torch.equal(kept.detach(), want)
