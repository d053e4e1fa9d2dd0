"""Device metrics against sklearn (AUC, logloss) and a plain per-user loop (gAUC)."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss, roc_auc_score

from tfbench.metrics import auc, evaluate_logits, gauc, logloss


def reference_gauc(y, s, g):
    """FuxiCTR's definition written plainly: per-user AUC weighted by the user's sample count,
    users with a single class left out."""
    total, weight = 0.0, 0
    for user in np.unique(g):
        m = g == user
        if 0 < y[m].sum() < m.sum():
            total += roc_auc_score(y[m], s[m]) * m.sum()
            weight += m.sum()
    return total / weight


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("levels", [3, 50, None])  # few distinct scores = many ties
def test_auc_and_logloss_match_sklearn(seed, levels):
    rng = np.random.default_rng(seed)
    n = 2000
    y = rng.integers(0, 2, n)
    logits = rng.normal(size=n) + 0.8 * y
    if levels is not None:
        logits = np.round(logits * levels / 6) / (levels / 6)
    assert auc(torch.tensor(y), torch.tensor(logits)) == pytest.approx(roc_auc_score(y, logits), abs=1e-12)
    p = 1 / (1 + np.exp(-logits))
    assert logloss(torch.tensor(y), torch.tensor(logits)) == pytest.approx(log_loss(y, p), rel=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_gauc_matches_per_user_loop_with_ties_and_single_class_users(seed):
    rng = np.random.default_rng(seed)
    n = 3000
    g = rng.integers(0, 120, n) * 7 + 3  # sparse, non-contiguous user ids
    y = rng.integers(0, 2, n)
    # users 0..9 (ids 3, 10, ...) get a single class, so they must be left out
    single = g < 10 * 7 + 3
    y[single] = (g[single] // 7) % 2
    s = np.round(rng.normal(size=n) + y, 1)  # rounding creates ties inside users
    got = gauc(torch.tensor(y), torch.tensor(s, dtype=torch.float32), torch.tensor(g))
    assert got == pytest.approx(reference_gauc(y, s.astype(np.float32), g), abs=1e-12)


def test_gauc_weights_users_by_sample_count():
    # user 1: perfect ranking on 4 samples; user 2: inverted ranking on 2 samples -> (1*4 + 0*2)/6
    y = torch.tensor([0, 0, 1, 1, 0, 1])
    s = torch.tensor([0.1, 0.2, 0.8, 0.9, 0.9, 0.1])
    g = torch.tensor([1, 1, 1, 1, 2, 2])
    assert gauc(y, s, g) == pytest.approx(4 / 6)


def test_single_class_cases_are_nan():
    y = torch.ones(10)
    assert math.isnan(auc(y, torch.rand(10)))
    assert math.isnan(gauc(y, torch.rand(10), torch.arange(10)))


def test_evaluate_logits_values_match_sklearn_and_the_loop():
    rng = np.random.default_rng(11)
    n = 600
    y = rng.integers(0, 2, n)
    z = np.round(rng.normal(size=n) + y, 1)
    g = rng.integers(0, 30, n)
    got = evaluate_logits(torch.tensor(y), torch.tensor(z), torch.tensor(g))
    assert set(got) == {"AUC", "logloss", "gAUC"}
    assert got["AUC"] == pytest.approx(roc_auc_score(y, z), abs=1e-12)
    assert got["logloss"] == pytest.approx(log_loss(y, 1 / (1 + np.exp(-z))), rel=1e-9)
    assert got["gAUC"] == pytest.approx(reference_gauc(y, z, g), abs=1e-12)
    assert set(evaluate_logits(torch.tensor(y), torch.tensor(z), None)) == {"AUC", "logloss"}


def test_tie_averaged_ranks_match_scipy():
    from scipy.stats import rankdata

    from tfbench.metrics.ranking import _tie_averaged_ranks

    s = torch.tensor(np.sort(np.random.default_rng(2).integers(0, 12, 200)).astype(np.float64))
    change = torch.ones(200, dtype=torch.bool)
    change[1:] = s[1:] != s[:-1]
    ranks = _tie_averaged_ranks(change, torch.arange(200, dtype=torch.float64))
    np.testing.assert_array_equal(ranks.numpy(), rankdata(s.numpy()))


def test_metrics_accept_column_shaped_and_float32_inputs():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 500)
    z = (rng.normal(size=500) + y).astype(np.float32)
    yt, zt = torch.tensor(y, dtype=torch.float32).reshape(-1, 1), torch.tensor(z).reshape(-1, 1)
    assert auc(yt, zt) == pytest.approx(roc_auc_score(y, z), abs=1e-12)
    # logloss is computed in float64 from float32 logits
    assert logloss(yt, zt) == pytest.approx(log_loss(y, 1 / (1 + np.exp(-z.astype(np.float64)))), rel=1e-12)
    g = torch.tensor(rng.integers(0, 5, 500)).reshape(-1, 1)
    assert gauc(yt, zt, g) == pytest.approx(reference_gauc(y, z, g.numpy().ravel()), abs=1e-12)


def test_auc_edge_values():
    y = torch.tensor([0, 1, 0, 1, 1])
    assert auc(y, torch.zeros(5)) == 0.5  # all tied
    assert auc(y, torch.tensor([0.0, 1, 0, 1, 1])) == 1.0
    assert auc(y, torch.tensor([1.0, 0, 1, 0, 0])) == 0.0
    assert auc(y, torch.tensor([0.1, 0.4, 0.35, 0.8, 0.2])) == pytest.approx(5 / 6)  # 5 of the 6 (pos, neg) pairs ordered
    assert math.isnan(auc(torch.zeros(4), torch.rand(4)))


def test_gauc_single_group_equals_auc_and_no_two_class_group_is_nan():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 300)
    z = np.round(rng.normal(size=300), 1)
    assert gauc(torch.tensor(y), torch.tensor(z), torch.full((300,), 5)) == pytest.approx(roc_auc_score(y, z), abs=1e-12)
    # every group single-class: NaN even though the whole split has both classes
    g = torch.tensor([0, 0, 1, 1, 2])
    assert math.isnan(gauc(torch.tensor([0, 0, 1, 1, 0]), torch.rand(5), g))


def test_evaluate_logits_reports_gauc_only_with_groups():
    y = torch.tensor([0, 1, 0, 1])
    z = torch.tensor([-1.0, 1.0, 0.5, 2.0])
    assert set(evaluate_logits(y, z, None)) == {"AUC", "logloss"}
    assert set(evaluate_logits(y, z, torch.tensor([1, 1, 2, 2]))) == {"AUC", "logloss", "gAUC"}


# --------------------------------------------------------------------------- inputs a metric cannot score (#17)

def _scored_inputs():
    rng = np.random.default_rng(0)
    y = torch.tensor(rng.integers(0, 2, 200))
    s = torch.tensor(rng.normal(size=200))
    return y, s, torch.tensor(rng.integers(0, 10, 200))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_metrics_refuse_non_finite_predictions(bad):
    from tfbench.errors import TfbenchError
    from tfbench.metrics import MetricInputError

    y, s, g = _scored_inputs()
    s[[3, 17]] = bad
    for name, call in (("AUC", lambda: auc(y, s)), ("logloss", lambda: logloss(y, s)),
                       ("gAUC", lambda: gauc(y, s, g)), ("AUC", lambda: evaluate_logits(y, s, g))):
        with pytest.raises(MetricInputError, match=rf"^{name}: 2 of 200 predictions are NaN or infinite") as e:
            call()
        assert isinstance(e.value, TfbenchError) and isinstance(e.value, ValueError) and "\n" not in str(e.value)
    # what main did: all-NaN predictions (a diverged model) scored like a coin flip, not an error
    with pytest.raises(MetricInputError):
        auc(y, torch.full((200,), math.nan))


@pytest.mark.parametrize("label", [2, -1, 0.5, math.nan])
def test_metrics_refuse_labels_outside_0_1(label):
    from tfbench.metrics import MetricInputError

    y, s, g = _scored_inputs()
    y = y.to(torch.float64)
    y[5] = label
    for name, call in (("AUC", lambda: auc(y, s)), ("logloss", lambda: logloss(y, s)), ("gAUC", lambda: gauc(y, s, g))):
        with pytest.raises(MetricInputError, match=rf"^{name}: 1 of 200 labels are not 0 or 1"):
            call()


def test_metrics_refuse_mismatched_lengths_and_still_score_good_inputs():
    from tfbench.metrics import MetricInputError

    y, s, g = _scored_inputs()
    with pytest.raises(MetricInputError, match="AUC: 200 labels and 199 scores"):
        auc(y, s[:-1])
    with pytest.raises(MetricInputError, match="gAUC: 200 labels and 200 scores and 10 groups"):
        gauc(y, s, g[:10])
    assert auc(y, s) == pytest.approx(roc_auc_score(y.numpy(), s.numpy()), abs=1e-12)
    assert math.isnan(gauc(y[:0], s[:0], g[:0]))        # no rows: no group with both classes (main: IndexError)
