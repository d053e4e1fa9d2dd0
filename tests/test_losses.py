"""The Twin Focus loss against a float64 NumPy evaluation of Eq. 7 (both classes through p_t)."""

import numpy as np
import pytest
import torch

from tfbench.errors import ConfigError
from tfbench.losses import LOSSES, FocalLoss, LogLoss, ReweightedCE, TwinFocusLoss, make_objective, twin_focus_terms
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


def test_twin_focus_at_extreme_logits_matches_the_log_space_formula():
    z = torch.tensor([-200.0, 200.0, -200.0, 200.0, 0.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    loss = TwinFocusLoss(alpha=0.25, c=0.7, gamma=2)(ModelOutput(z, z, z), y)
    loss.backward()
    assert torch.isfinite(z.grad).all()
    # log p_t = −log(1 + e^{−s z}) evaluated without overflow; p_t underflows to 0 for the two
    # misclassified samples, so their terms are exactly 200 · factor
    zn, yn = z.detach().numpy(), y.numpy()
    log_pt = -np.logaddexp(0.0, -(2 * yn - 1) * zn)
    pt = np.exp(log_pt)
    bce = -np.mean(log_pt)
    simple = -np.mean((0.7 + pt) ** 2 * log_pt)
    complex_ = -np.mean((1.3 - pt) ** 2 * log_pt)
    assert loss.item() == pytest.approx(bce + 0.25 * simple + 0.75 * complex_, rel=1e-12)
    # by hand: the two misclassified samples 200 each (factors 0.7² and 1.3²), z = 0 gives log 2
    # (factors 1.2² and 0.8²), the two confident correct ones 0
    by_hand = (400 * (1 + 0.25 * 0.49 + 0.75 * 1.69) + np.log(2) * (1 + 0.25 * 1.44 + 0.75 * 0.64)) / 5
    assert loss.item() == pytest.approx(by_hand, rel=1e-12)


def test_simple_and_complex_heads_weight_hard_samples_oppositely():
    # A hard positive (p small) gets a smaller factor on the simple head (c + p)^γ than on the
    # complex one (2 − c − p)^γ.
    z = torch.tensor([-3.0], dtype=torch.float64)
    y = torch.tensor([1.0], dtype=torch.float64)
    s, c_ = twin_focus_terms(z, z, y, c=0.7, gamma=2)
    p = 1 / (1 + np.exp(3.0))
    assert s.item() == pytest.approx(-((0.7 + p) ** 2) * np.log(p), rel=1e-12)
    assert c_.item() == pytest.approx(-((1.3 - p) ** 2) * np.log(p), rel=1e-12)
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


# ---------------------------------------------------------------- values against float64 formulas
def rng_batch(n=400, seed=3, scale=3.0):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=scale, size=n), rng.integers(0, 2, n).astype(np.float64)


def t64(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def np_sigmoid(z):
    return 1 / (1 + np.exp(-z))


def np_log_pt(z, y):
    p = np_sigmoid(z)
    return np.log(np.where(y == 1, p, 1 - p))


@pytest.mark.parametrize("gamma,alpha", [(2.0, None), (0.5, 0.25), (3.0, 0.9), (0.0, None), (1.0, 0.0), (1.5, 1.0)])
def test_focal_loss_matches_float64_formula(gamma, alpha):
    z, y = rng_batch()
    pt = np.exp(np_log_pt(z, y))
    alpha_t = 1.0 if alpha is None else np.where(y == 1, alpha, 1 - alpha)
    expected = -np.mean(alpha_t * (1 - pt) ** gamma * np.log(pt))
    got = FocalLoss(gamma=gamma, alpha=alpha)(ModelOutput(t64(z)), t64(y)).item()
    assert got == pytest.approx(expected, rel=1e-12)


def test_focal_loss_gradient_flows_through_the_modulating_factor():
    z, y = rng_batch(n=50, scale=1.0)
    zt = t64(z, grad=True)
    FocalLoss(gamma=2.0)(ModelOutput(zt), t64(y)).backward()
    # d/dz of −(1−p_t)^γ log p_t with p_t = σ(s z), s = ±1, averaged over n
    s = 2 * y - 1
    pt = np_sigmoid(s * z)
    dpt = s * pt * (1 - pt)
    expected = -(-2.0 * (1 - pt) * dpt * np.log(pt) + (1 - pt) ** 2 * dpt / pt) / len(z)
    np.testing.assert_allclose(zt.grad.numpy(), expected, rtol=1e-10, atol=1e-15)


def test_focal_stays_finite_and_uses_only_the_final_logit():
    z = t64([40.0, -40.0, 40.0, -40.0])
    y = t64([1.0, 0.0, 0.0, 1.0])
    loss = FocalLoss(gamma=2.0)(ModelOutput(z, simple=t64([1e9] * 4), complex=None), y)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(2 * 40.0 / 4, rel=1e-9)  # two confident mistakes, (1−p_t)≈1


@pytest.mark.parametrize("beta,positives_only", [(0.25, False), (1.0, False), (0.0, False), (0.5, True)])
def test_rce_matches_float64_formula_with_a_detached_weight(beta, positives_only):
    z, y = rng_batch(n=300)
    log_pt = np_log_pt(z, y)
    w = np.exp(beta * log_pt)
    if positives_only:
        w = np.where(y == 1, w, 1.0)
    zt = t64(z, grad=True)
    loss = ReweightedCE(beta=beta, positives_only=positives_only)(ModelOutput(zt), t64(y))
    assert loss.item() == pytest.approx(-np.mean(w * log_pt), rel=1e-12)
    loss.backward()
    # w is a constant of the step: the gradient is −w · d log p_t/dz / n = −w · s · (1 − p_t) / n
    s = 2 * y - 1
    expected = -w * s * (1 - np.exp(log_pt)) / len(z)
    np.testing.assert_allclose(zt.grad.numpy(), expected, rtol=1e-10, atol=1e-15)


def test_twin_focus_gradient_is_not_detached():
    z_s, y = rng_batch(n=40, seed=5, scale=1.0)
    z_c, _ = rng_batch(n=40, seed=6, scale=1.0)
    c, gamma = 0.7, 2.0
    zs, zc = t64(z_s, grad=True), t64(z_c, grad=True)
    simple, complex_ = twin_focus_terms(zs, zc, t64(y), c, gamma)
    (simple + complex_).backward()
    s = 2 * y - 1

    def grad(z, m, sign):  # d/dz of −(m + sign·p_t)^γ log p_t, over n
        pt = np_sigmoid(s * z)
        dpt = s * pt * (1 - pt)
        f = m + sign * pt
        return -(gamma * f ** (gamma - 1) * sign * dpt * np.log(pt) + f**gamma * dpt / pt) / len(z)

    np.testing.assert_allclose(zs.grad.numpy(), grad(z_s, c, +1), rtol=1e-10)
    np.testing.assert_allclose(zc.grad.numpy(), grad(z_c, 2 - c, -1), rtol=1e-10)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_objective_adds_the_models_auxiliary_loss(name):
    z, y = rng_batch(n=20)
    out = ModelOutput(t64(z), t64(z / 2), t64(-z))
    objective = make_objective(name)
    base = objective(out, t64(y)).item()
    with_aux = objective(out._replace(aux=torch.tensor(1.25, dtype=torch.float64)), t64(y)).item()
    assert with_aux == pytest.approx(base + 1.25, rel=1e-12)


def test_make_objective_defaults_and_parameters():
    assert make_objective("tf") == TwinFocusLoss(alpha=0.25, c=0.8, gamma=1.0)
    assert make_objective("tf", alpha=0.4, c=0.3, gamma=2.0, focal_gamma=9) == TwinFocusLoss(alpha=0.4, c=0.3, gamma=2.0)
    assert make_objective("focal") == FocalLoss(gamma=2.0, alpha=None)
    assert make_objective("focal", focal_gamma=1.5, focal_alpha=-1) == FocalLoss(gamma=1.5, alpha=None)
    assert make_objective("focal", focal_alpha=None) == FocalLoss(gamma=2.0, alpha=None)
    assert make_objective("focal", focal_alpha=0.3) == FocalLoss(gamma=2.0, alpha=0.3)
    assert make_objective("rce") == ReweightedCE(beta=0.25, positives_only=False)
    assert make_objective("rce", rce_beta=0.7) == ReweightedCE(beta=0.7)
    assert make_objective("logloss", alpha=0.9) == LogLoss()
    assert [make_objective(n).name for n in ("logloss", "tf", "focal", "rce")] == ["logloss", "tf", "focal", "rce"]
    # the dataclass defaults agree with the factory's
    assert (TwinFocusLoss().alpha, TwinFocusLoss().c, TwinFocusLoss().gamma) == (0.25, 0.8, 1.0)
    assert (FocalLoss().gamma, FocalLoss().alpha, ReweightedCE().beta) == (2.0, None, 0.25)
    with pytest.raises(ConfigError, match=r"^unknown loss 'hinge': known losses are focal, logloss, rce, tf$"):
        make_objective("hinge")


@pytest.mark.parametrize("kw", [dict(alpha=0.0), dict(alpha=1.0), dict(c=0.0), dict(c=1.0), dict(gamma=0.0)])
def test_twin_focus_range_boundaries_are_accepted(kw):
    TwinFocusLoss(**kw)


@pytest.mark.parametrize("kw,message", [
    (dict(c=1.5), "--c must be in [0, 1], got 1.5"), (dict(c=-0.01), "--c must be in [0, 1], got -0.01"),
    (dict(alpha=1.01), "--alpha must be in [0, 1], got 1.01"), (dict(alpha=-0.1), "--alpha must be in [0, 1], got -0.1"),
    (dict(gamma=-1), "--gamma must be >= 0, got -1"), (dict(gamma=float("nan")), "--gamma must be >= 0, got nan"),
])
def test_twin_focus_range_messages(kw, message):
    with pytest.raises(ConfigError) as e:
        TwinFocusLoss(**kw)
    assert str(e.value) == message


def test_focal_and_rce_ranges():
    FocalLoss(gamma=0.0, alpha=0.0), FocalLoss(alpha=1.0), ReweightedCE(beta=0.0)
    for make, message in [
        (lambda: FocalLoss(gamma=-0.5), "--focal-gamma must be >= 0, got -0.5"),
        (lambda: FocalLoss(gamma=float("nan")), "--focal-gamma must be >= 0, got nan"),
        (lambda: FocalLoss(alpha=1.5), "--focal-alpha must be in [0, 1] (or -1 for none), got 1.5"),
        (lambda: FocalLoss(alpha=-0.5), "--focal-alpha must be in [0, 1] (or -1 for none), got -0.5"),
        (lambda: ReweightedCE(beta=-0.1), "--rce-beta must be >= 0, got -0.1"),
        (lambda: ReweightedCE(beta=float("nan")), "--rce-beta must be >= 0, got nan"),
    ]:
        with pytest.raises(ConfigError) as e:
            make()
        assert str(e.value) == message


def test_twin_focus_needs_both_heads():
    z = torch.zeros(2)
    for out in (ModelOutput(z, z, None), ModelOutput(z, None, z)):
        with pytest.raises(ConfigError, match="^loss 'tf' needs a model with a simple and a complex encoder$"):
            TwinFocusLoss()(out, z)


def test_add_aux_accepts_outputs_without_an_aux_field():
    from types import SimpleNamespace

    from tfbench.losses import add_aux

    loss = torch.tensor(0.5)
    assert add_aux(loss, SimpleNamespace(logit=torch.zeros(2))) is loss
    assert add_aux(loss, ModelOutput(torch.zeros(2))) is loss
    assert add_aux(loss, ModelOutput(torch.zeros(2), aux=torch.tensor(0.25))).item() == 0.75
