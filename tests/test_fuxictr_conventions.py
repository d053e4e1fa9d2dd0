"""Conventions of the authors' FuxiCTR runs that change reported numbers: the logloss metric's
clipping and which parameters the network regulariser penalises."""

import numpy as np
import pytest
import torch
from torch import nn

from tfbench.metrics import logloss
from tfbench.models import own_settings, build_model, embedding_modules
from tfbench.train.loop import _net_squared_norm


def clipped_logloss(y, logits, eps=1e-7):
    """sklearn's log_loss(y, p, eps=1e-7) as the authors' FuxiCTR calls it, in float64 numpy."""
    p = np.clip(1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64))), eps, 1 - eps)
    y = np.asarray(y, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_logloss_clips_saturated_predictions_at_1e_7():
    # Confidently wrong predictions: unclipped, the first costs 50 nats; clipped, −log(1e-7) ≈ 16.12.
    y = np.array([0, 1, 1, 0, 1])
    z = np.array([50.0, -40.0, 3.0, -2.0, 0.5])
    got = logloss(torch.tensor(y), torch.tensor(z))
    assert got == pytest.approx(clipped_logloss(y, z), rel=1e-12)
    assert got < 0.8 * float(nn.functional.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(y, dtype=torch.float64)))


def test_logloss_is_plain_cross_entropy_inside_the_clip():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    z = rng.normal(size=500) * 3
    unclipped = float(nn.functional.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(y, dtype=torch.float64)))
    assert logloss(torch.tensor(y), torch.tensor(z)) == pytest.approx(unclipped, rel=1e-12)


@pytest.mark.parametrize("model", ["dcn", "tf4ctr", "xdeepfm"])
def test_net_regulariser_penalises_every_non_embedding_parameter(model):
    """FuxiCTR's regularization_loss: Σ ‖p‖² over every named parameter outside the embedding
    dict, biases and batch-norm scales included (the old code skipped every 1-dim parameter)."""
    torch.manual_seed(0)
    m = build_model(model, [5, 7, 3], 0, **own_settings(model, dict(embedding_dim=4, mlp_s=[6], mlp_c=[6, 5], batch_norm=True)))
    for p in m.parameters():  # batch-norm scales start at 1 and biases at 0: make every part count
        nn.init.normal_(p)
    emb = {id(p) for e in embedding_modules(m) for p in e.parameters()}
    expected = sum(float((p.detach().double() ** 2).sum()) for p in m.parameters() if id(p) not in emb)
    one_dim = sum(float((p.detach().double() ** 2).sum()) for p in m.parameters() if id(p) not in emb and p.dim() == 1)
    assert one_dim > 0.05 * expected  # the 1-dim parameters carry a real part of the sum
    assert float(_net_squared_norm(m).detach()) == pytest.approx(expected, rel=1e-5)
