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


def _train_watching_batches(cfg, data):
    """Train as a run would, recording the train rows of every optimizer step (in training mode)."""
    from tfbench.losses import make_objective
    from tfbench.runner import build_for, train_settings
    from tfbench.train import fit, resolve_device, seed_everything

    seed_everything(cfg.seed)
    model = build_for(cfg, data)
    steps = []
    model.register_forward_pre_hook(lambda m, args: steps.append(args[0].clone()) if m.training else None)
    result = fit(model, data, make_objective(cfg.resolved_loss), train_settings(cfg), resolve_device("cpu"))
    return result, steps


def test_eval_steps_rounds_span_passes_and_default_is_one_pass(tiny_synthetic):
    import torch

    n = len(tiny_synthetic.train)
    per_pass = -(-n // 1000)                                   # batches of one pass (last one short)
    base = RunConfig.from_dict({**SMALL, "model": "dnn", "mlp_c": [16], "epochs": 3, "patience": 9})
    default, steps0 = _train_watching_batches(base, tiny_synthetic)
    explicit, _ = _train_watching_batches(base.replace(eval_steps=per_pass), tiny_synthetic)
    # a round of exactly one pass is the default: the same training, bit for bit
    assert [(r.train_loss, r.monitor) for r in explicit.history] == [(r.train_loss, r.monitor) for r in default.history]
    assert len(steps0) == 3 * per_pass

    rounds, steps = _train_watching_batches(base.replace(eval_steps=5), tiny_synthetic)
    assert len(rounds.history) == 3 and len(steps) == 15         # 3 rounds of 5 steps each
    sizes = [len(s) for s in steps]
    # the stream runs through whole passes: a short last batch ends each pass, then a new permutation
    assert sizes[:per_pass] == [1000] * (per_pass - 1) + [n - 1000 * (per_pass - 1)]
    first_pass = torch.cat(steps[:per_pass])                      # every train row once: a permutation
    rows, counts = torch.unique(first_pass, dim=0, return_counts=True)
    all_rows, all_counts = torch.unique(torch.as_tensor(tiny_synthetic.train.x_cat), dim=0, return_counts=True)
    assert torch.equal(rows, all_rows) and torch.equal(counts, all_counts)
    assert torch.equal(torch.cat(steps[:per_pass]), torch.cat(steps0[:per_pass]))   # same first pass
    assert RunConfig(eval_steps=5).effective_dict()["eval_steps"] == 5
    assert "eval_steps" not in RunConfig().effective_dict()       # the default keeps earlier keys
