"""Expert combination (decision-level fusion) against hand formulas."""

import pytest
import torch

from bayes.config import TaskConfig
from bayes.layers.heads import MIN_SCALE, combine

CAT = TaskConfig("m", "categorical", classes=("a", "b", "c"))
GAUSS = TaskConfig("z", "gaussian")


def test_categorical_product_of_experts_and_missing_expert():
    out = torch.log(torch.tensor([[[[0.5, 0.25, 0.25], [0.2, 0.6, 0.2]]]]))  # (N=1, T=1, E=2, C)
    both = combine(CAT, out, torch.tensor([[True, True]])).exp()
    expected = torch.tensor([0.1, 0.15, 0.05]) / 0.3  # elementwise product, renormalised
    torch.testing.assert_close(both[0, 0], expected)
    first = combine(CAT, out, torch.tensor([[True, False]])).exp()
    torch.testing.assert_close(first[0, 0], torch.tensor([0.5, 0.25, 0.25]))


def test_gaussian_product_of_experts_by_hand():
    def raw(scale):  # inverse of softplus(x) + MIN_SCALE
        return torch.log(torch.expm1(torch.tensor(scale - MIN_SCALE)))

    out = torch.stack(
        [torch.stack([torch.tensor(1.0), raw(1.0)]), torch.stack([torch.tensor(3.0), raw(2.0)])]
    )[None, None]
    loc, scale = combine(GAUSS, out, torch.tensor([[True, True]]))[0, 0]
    # precisions 1 and 1/4: loc = (1*1 + 3/4) / 1.25 = 1.4, scale = 1.25^-0.5
    assert loc.item() == pytest.approx(1.4, abs=1e-5)
    assert scale.item() == pytest.approx(1.25**-0.5, abs=1e-5)
    loc, scale = combine(GAUSS, out, torch.tensor([[False, True]]))[0, 0]
    assert (loc.item(), scale.item()) == pytest.approx((3.0, 2.0), abs=1e-5)


def test_dirichlet_experts_add_pseudo_counts():
    task = TaskConfig("v", "dirichlet_multinomial", classes=("a", "b"))
    out = torch.log(torch.expm1(torch.tensor([[[[2.0, 1.0], [3.0, 0.5]]]])))  # softplus^-1
    alpha = combine(task, out, torch.tensor([[True, True]]))[0, 0]
    torch.testing.assert_close(alpha, torch.tensor([6.0, 2.5]))  # 1 + (2 + 3), 1 + (1 + 0.5)
