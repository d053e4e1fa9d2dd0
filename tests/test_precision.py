"""`precision: bf16`: autocast forward, fp32 master weights, Adam state, loss and metrics; its run key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tfbench.config import RunConfig, run_key
from tfbench.losses import make_objective
from tfbench.models import embedding_modules
from tfbench.models.layers import Dropout, bit_keep_mask
from tfbench.models.output import ModelOutput
from tfbench.runner import build_for
from tfbench.train import seed_everything
from tfbench.train.settings import TrainSettings
from tfbench.train.step import make_optimizer, train_step

KEYS = json.loads((Path(__file__).parent / "fixtures" / "keys" / "run_keys.json").read_text())
U_BF16 = 2.0 ** -8      # unit roundoff of bf16 (8 significant bits, round to nearest)
CPU = torch.device("cpu")


def test_fp32_keeps_every_stored_key_and_bf16_is_another_run():
    stored = KEYS["defaults|model=tf4ctr,tf4ctr=False,loss="]   # recorded before the setting existed
    base = {"model": "tf4ctr", "tf4ctr": False, "loss": ""}
    key = lambda **kw: run_key("fingerprint-of-synthetic", RunConfig.from_dict({**base, **kw}))  # noqa: E731
    assert key() == stored
    assert key(precision="fp32") == stored
    assert key(precision="bf16") != stored
    assert RunConfig.from_dict({**base, "precision": "bf16"}).to_dict()["precision"] == "bf16"


class TwoLayers(nn.Module):
    """relu(x W1ᵀ + b1) W2ᵀ + b2 on the numeric inputs: small enough for an exact rounding bound."""

    def __init__(self, d: int, h: int):
        super().__init__()
        self.l1, self.l2 = nn.Linear(d, h), nn.Linear(h, 1)

    def forward(self, x_cat, x_num):
        return ModelOutput(self.l2(torch.relu(self.l1(x_num))).squeeze(-1))


def _step_logits(model, precision, x, y):
    settings = TrainSettings(precision=precision, embedding_regularizer=0.0)
    seen = {}
    loss = train_step(model, make_optimizer(model, 1e-3, CPU), make_objective("logloss"), [], settings, CPU,
                      torch.zeros(len(y), 0, dtype=torch.long), x, y, lambda out: seen.update(logit=out.logit))
    return seen["logit"].detach(), loss.detach()


def test_bf16_step_logits_are_within_the_bf16_rounding_bound_and_the_loss_is_fp32():
    d, h, n = 64, 256, 512
    torch.manual_seed(0)
    x, y = torch.randn(n, d), (torch.rand(n) < 0.5).float()
    model = TwoLayers(d, h)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    w1, b1, w2, b2 = (state[k].double() for k in ("l1.weight", "l1.bias", "l2.weight", "l2.bias"))
    x64 = x.double()
    a = x64 @ w1.T + b1                                   # float64 reference
    z = (torch.relu(a) @ w2.T + b2).squeeze(-1)
    # Autocast rounds x, W, b to bf16 (relative error <= u each), accumulates in fp32, rounds the
    # output to bf16 (<= u); ReLU is exact and 1-Lipschitz. First order, per element:
    #   |ã - a| <= e1 = 2u(|W1||x| + |b1|) + u|a|,   |z̃ - z| <= |W2| e1 + 2u(|W2||relu a| + |b2|) + u|z|,
    # with 1 % on top for the second-order terms and fp32 accumulation (n·2⁻²⁴ << u).
    u = U_BF16
    e1 = 2 * u * (x64.abs() @ w1.abs().T + b1.abs()) + u * a.abs()
    bound = (e1 @ w2.abs().T + 2 * u * (torch.relu(a).abs() @ w2.abs().T + b2.abs())).squeeze(-1) + u * z.abs()
    bound = 1.01 * bound

    logit_bf16, loss_bf16 = _step_logits(model, "bf16", x, y)
    model.load_state_dict(state)
    logit_fp32, _ = _step_logits(model, "fp32", x, y)

    assert logit_bf16.dtype == torch.float32 and loss_bf16.dtype == torch.float32
    err_bf16 = (logit_bf16.double() - z).abs()
    err_fp32 = (logit_fp32.double() - z).abs()
    assert bool((err_bf16 <= bound).all()), f"worst excess {(err_bf16 - bound).max():.3g}"
    # and it did round to bf16: its error is far above fp32's (~1e-7), which an inactive autocast would give
    assert err_bf16.max() > 100 * err_fp32.max()
    # the loss is fp32 arithmetic on the fp32-cast logits: equal to a float64 BCE of them within fp32 rounding
    ref = torch.nn.functional.binary_cross_entropy_with_logits(logit_bf16.double(), y.double())
    assert abs(float(loss_bf16) - float(ref)) <= 1e-6 * float(ref)


@pytest.fixture(scope="module")
def tf4ctr_batch(tiny_synthetic):
    cfg = RunConfig.from_dict({"model": "tf4ctr", "mlp_s": [64], "mlp_c": [64, 64], "dropout": 0.2,
                               "batch_norm": True, "embedding_dim": 8})
    tr = tiny_synthetic.train
    idx = np.arange(2000)
    batch = (torch.as_tensor(tr.x_cat[idx]), torch.as_tensor(tr.x_num[idx]), torch.as_tensor(tr.y[idx]))
    return cfg, tiny_synthetic, batch


def _tf4ctr_step(cfg, data, batch, precision):
    seed_everything(1)
    model = build_for(cfg, data).train()
    optimizer = make_optimizer(model, 1e-3, CPU)
    dtypes = []
    first_linear = next(m for m in model.modules() if isinstance(m, nn.Linear))
    first_linear.register_forward_hook(lambda m, inp, out: dtypes.append(out.dtype))
    objective = make_objective(cfg.resolved_loss, **cfg.loss_hyperparameters())
    settings = TrainSettings(precision=precision)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = train_step(model, optimizer, objective, embedding_modules(model), settings, CPU, *batch)
    return model, optimizer, dtypes, loss, before


def test_bf16_autocast_runs_the_matmuls_in_bf16_and_fp32_does_not(tf4ctr_batch):
    _, _, dtypes, _, _ = _tf4ctr_step(*tf4ctr_batch, "bf16")
    assert dtypes == [torch.bfloat16]
    _, _, dtypes, _, _ = _tf4ctr_step(*tf4ctr_batch, "fp32")
    assert dtypes == [torch.float32]


def test_bf16_keeps_fp32_master_weights_gradients_and_adam_state(tf4ctr_batch):
    model, optimizer, _, loss, before = _tf4ctr_step(*tf4ctr_batch, "bf16")
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert {v.dtype for k, v in model.state_dict().items() if v.is_floating_point()} == {torch.float32}
    assert all(p.grad.dtype == torch.float32 for p in model.parameters() if p.grad is not None)
    states = [t for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t) and t.numel() > 1]
    assert states and {t.dtype for t in states} == {torch.float32}
    # the step moved the fp32 weights by amounts bf16 weights could not hold (Adam's first step is ~lr = 1e-3
    # per weight; a bf16 weight near 0.1 moves in steps of 2^-11 ~ 5e-4 or not at all)
    w = next(m for m in model.modules() if isinstance(m, nn.Linear)).weight.detach()
    w0 = before[next(k for k in before if k.endswith("weight") and before[k].shape == w.shape)]
    moved = (w - w0)[w0.abs() > 0.05]
    assert moved.numel() and not bool((moved.bfloat16().float() == moved).all())


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_bit_keep_mask_drops_each_position_with_probability_p(p):
    torch.manual_seed(3)
    shape = (1001, 999)                      # not a multiple of 4: the tail of the last draw is cut off
    keep = bit_keep_mask(torch.Size(shape), p)
    assert keep.shape == shape and keep.dtype == torch.bool
    p_hat = round(p * 32768) / 32768
    flat = (~keep).reshape(-1).double()
    # each of the four int16 of a draw (flat index mod 4) is its own Bernoulli(p̂): 5 σ of a binomial
    for r in range(4):
        part = flat[r::4]
        sigma = (p_hat * (1 - p_hat) / part.numel()) ** 0.5
        assert abs(float(part.mean()) - p_hat) < 5 * sigma, f"position {r}"
    # neighbouring elements are independent: P(both dropped) = p̂²
    both = flat[:-1] * flat[1:]
    sigma = (p_hat ** 2 * (1 - p_hat ** 2) / both.numel()) ** 0.5
    assert abs(float(both.mean()) - p_hat ** 2) < 5 * sigma


def test_bf16_dropout_keeps_the_expectation_and_the_dtype():
    torch.manual_seed(4)
    x = torch.ones(2000, 500, dtype=torch.bfloat16)
    out = Dropout(0.2).train()(x)
    assert out.dtype == torch.bfloat16
    assert set(torch.unique(out.float()).tolist()) == {0.0, 1.25}
    sigma = (0.2 * 0.8 / x.numel()) ** 0.5 * 1.25
    assert abs(float(out.double().mean()) - 1.0) < 5 * sigma
