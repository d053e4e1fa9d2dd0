"""The Twin Focus loss against a float64 NumPy evaluation of Eq. 7 (both classes through p_t)."""

import numpy as np
import pytest
import torch

from tfbench.errors import ConfigError
from tfbench.losses import LogLoss, TwinFocusLoss, make_objective, twin_focus_terms
from tfbench.models import ModelOutput


def reference_tf(z_s, z_c, y, alpha, c, gamma):
    """Eq. 7 with p_t = ŷ for positives and 1 − ŷ for negatives, in float64."""
    p_s = 1 / (1 + np.exp(-z_s))
    p_c = 1 / (1 + np.exp(-z_c))
    pt_s = np.where(y == 1, p_s, 1 - p_s)
    pt_c = np.where(y == 1, p_c, 1 - p_c)
    simple = -np.mean((c + pt_s) ** gamma * np.log(pt_s))
    complex_ = -np.mean(((2 - c) - pt_c) ** gamma * np.log(pt_c))
    return simple, complex_, alpha * simple + (1 - alpha) * complex_


@pytest.mark.parametrize("alpha,c,gamma", [(0.25, 0.7, 1.0), (0.5, 0.0, 2.0), (0.15, 1.0, 3.0), (1.0, 0.3, 0.0), (0.0, 0.8, 5.0)])
def test_twin_focus_matches_float64_formula(alpha, c, gamma):
    rng = np.random.default_rng(7)
    n = 500
    z_s, z_c = rng.normal(scale=3, size=n), rng.normal(scale=3, size=n)
    y = rng.integers(0, 2, n).astype(np.float64)
    ref_s, ref_c, ref_tf = reference_tf(z_s, z_c, y, alpha, c, gamma)
    t = lambda a: torch.tensor(a, dtype=torch.float64)
    got_s, got_c = twin_focus_terms(t(z_s), t(z_c), t(y), c, gamma)
    assert got_s.item() == pytest.approx(ref_s, rel=1e-12)
    assert got_c.item() == pytest.approx(ref_c, rel=1e-12)

    z = rng.normal(size=n)
    loss = TwinFocusLoss(alpha=alpha, c=c, gamma=gamma)
    total = loss(ModelOutput(t(z), t(z_s), t(z_c)), t(y)).item()
    p = 1 / (1 + np.exp(-z))
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert total == pytest.approx(bce + ref_tf, rel=1e-12)


def test_twin_focus_is_finite_with_finite_gradients_at_extreme_logits():
    z = torch.tensor([-200.0, 200.0, -200.0, 200.0, 0.0], requires_grad=True)
    y = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0])
    loss = TwinFocusLoss(alpha=0.25, c=0.7, gamma=2)(ModelOutput(z, z, z), y)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(z.grad).all()
    # badly misclassified samples dominate: the loss is about 200 per such sample
    assert loss.item() > 100


def test_simple_and_complex_heads_weight_hard_samples_oppositely():
    # A hard positive (p small) gets a smaller factor on the simple head than on the complex one.
    z = torch.tensor([-3.0])
    y = torch.tensor([1.0])
    s, c_ = twin_focus_terms(z, z, y, c=0.7, gamma=2)
    assert s.item() < c_.item()


def test_logloss_objective_is_bce():
    z = torch.tensor([0.3, -2.0])
    y = torch.tensor([1.0, 0.0])
    expected = -(np.log(1 / (1 + np.exp(-0.3))) + np.log(1 - 1 / (1 + np.exp(2.0)))) / 2
    assert LogLoss()(ModelOutput(z), y).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("kw,needle", [({"c": 1.5}, "--c"), ({"alpha": -0.1}, "--alpha"), ({"gamma": -1}, "--gamma")])
def test_out_of_range_hyperparameters_are_rejected(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        TwinFocusLoss(**kw)


def test_unknown_loss_and_missing_heads():
    with pytest.raises(ConfigError, match="unknown loss 'hinge'"):
        make_objective("hinge")
    with pytest.raises(ConfigError, match="simple and a complex"):
        TwinFocusLoss()(ModelOutput(torch.zeros(2)), torch.zeros(2))
