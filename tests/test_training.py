"""The training core on the embedded synthetic data: every SSEM × DFM learns, seeds reproduce."""

import itertools

import pytest

from tfbench.config import RunConfig
from tfbench.models import DFM_CHOICES, SSEM_CHOICES

from conftest import train_once

# Small but real: 20k synthetic rows, narrow encoders, a few epochs.
SMALL = dict(
    synthetic_rows=20_000, embedding_dim=8, mlp_s=[64], mlp_c=[64, 64, 64], batch_size=1000,
    epochs=4, dropout=0.0, embedding_regularizer=0.0, learning_rate=3e-3,
)


@pytest.mark.parametrize("ssem,dfm", list(itertools.product(SSEM_CHOICES, DFM_CHOICES)))
def test_every_ssem_dfm_combination_learns_synthetic(ssem, dfm, tiny_synthetic):
    cfg = RunConfig.from_dict({**SMALL, "ssem": ssem, "dfm": dfm})
    result = train_once(cfg, tiny_synthetic)
    # Chance is 0.5; logistic regression on this data reaches about 0.74.
    assert result.test["AUC"] > 0.68, result.test
    assert result.test["gAUC"] > 0.6
    assert 1 <= result.best_epoch <= len(result.history)


def test_dualmlp_learns_synthetic(tiny_synthetic):
    cfg = RunConfig.from_dict({**SMALL, "model": "dualmlp"})
    assert cfg.resolved_loss == "logloss"
    assert train_once(cfg, tiny_synthetic).test["AUC"] > 0.68


def test_same_seed_same_metrics_on_cpu(tiny_synthetic):
    cfg = RunConfig.from_dict({**SMALL, "epochs": 2, "dfm": "VF", "dropout": 0.1})  # VF and dropout draw noise
    a, b = train_once(cfg, tiny_synthetic), train_once(cfg, tiny_synthetic)
    assert a.test == b.test
    assert [r.train_loss for r in a.history] == [r.train_loss for r in b.history]
    c = train_once(cfg.replace(seed=7), tiny_synthetic)
    assert c.test != a.test


def test_early_stopping_decays_lr_and_restores_best_epoch(tiny_synthetic):
    # A large learning rate overfits quickly, so the monitor stops improving within a few epochs.
    cfg = RunConfig.from_dict({**SMALL, "epochs": 30, "learning_rate": 0.02, "patience": 2, "lr_decay": 0.5})
    result = train_once(cfg, tiny_synthetic)
    assert result.stopped_early
    hist = result.history
    # the run ends with exactly `patience` non-improving epochs
    assert [r.improved for r in hist[-2:]] == [False, False]
    # every non-improving epoch halves the learning rate for the next one
    for prev, cur in zip(hist, hist[1:]):
        expected = prev.learning_rate * (0.5 if not prev.improved else 1.0)
        assert cur.learning_rate == pytest.approx(max(expected, 1e-6))
    best = max(hist, key=lambda r: r.monitor)
    assert result.best_epoch == best.epoch
    assert result.valid == best.valid
