"""What every model in the registry (tfbench.models.MODELS) must do, checked on values.

Each test is parametrised over every registered name, built from a RunConfig as a run builds it,
in float64 with N(0, 1) embedding tables (the 1e-4 default would make every row's logit nearly
the same, so row mix-ups would hide below any tolerance):

  * a ModelOutput with one logit per row, varying with the input; the models with two streams
    sum them (logit = z_s + z_c; TF4CTR here with its Sum DFM), the single-stream ones have none;
  * evaluation is deterministic and row-wise: a row's logit does not depend on the other rows;
  * numeric fields reach the logit;
  * one training step's gradient reaches every parameter and every embedding table;
  * the Twin Focus loss takes exactly the two-stream models.

Per-model wiring is checked logit for logit against the reference implementations in the
test_parity_*.py files; per-model parameter counts in test_model_structure.py.
"""

import pytest
import torch

from tfbench.config import RunConfig
from tfbench.errors import ConfigError
from tfbench.losses import make_objective
from tfbench.models import MODELS, ModelOutput, build_model, embedding_modules

from conftest import field_batch

VOCAB = [7, 5, 3, 9]
NAMES = sorted(MODELS)
SINGLE_STREAM = {"dnn", "eulernet", "cl4ctr", "dlf"}
SMALL = dict(
    embedding_dim=4, mlp_s=[3], mlp_c=[8, 8], dropout=0.1, batch_norm=True, ssem="GM", dfm="Sum",
    num_cross_layers=2, cin_layers=[5, 3], attention_layers=2, num_heads=2, attention_dim=6,
    afn_log_neurons=7, afn_hidden_units=[8], edcn_bridge="hadamard_product", edcn_tau=1.0, euler_orders=[5, 3],
    cl_weight=1.0, alignment_weight=0.01, uniformity_weight=0.01, dlf_layers=2, dlf_tokens=3, dlf_rank=2,
    dlf_hidden=6,
)
B = 8
TIGHT = dict(rtol=1e-10, atol=1e-12)


def model(name, num_numeric, **overrides):
    torch.manual_seed(0)
    hp = RunConfig.from_dict({**SMALL, **overrides, "model": name}).model_hyperparameters()
    m = build_model(name, VOCAB, num_numeric, **hp).double()
    with torch.no_grad():
        for table in embedding_modules(m):
            table.table.weight.normal_()
            if table.numeric is not None:
                table.numeric.normal_()
    return m


def inputs(num_numeric, n=B, seed=0):
    g = torch.Generator().manual_seed(seed + 1)
    return field_batch(VOCAB, n, seed), torch.rand(n, num_numeric, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("num_numeric", [0, 2])
@pytest.mark.parametrize("name", NAMES)
def test_one_logit_per_row_and_the_two_streams_sum(name, num_numeric):
    m = model(name, num_numeric).eval()
    x, x_num = inputs(num_numeric)
    out = m(x, x_num)
    assert isinstance(out, ModelOutput)
    assert out.logit.shape == (B,) and out.logit.dtype == torch.float64
    assert out.logit.std() > 1e-6  # the logit depends on the row's features
    assert out.aux is None  # auxiliary losses exist only in training
    if name in SINGLE_STREAM:
        assert out.simple is None and out.complex is None
    else:
        torch.testing.assert_close(out.logit, out.simple + out.complex, **TIGHT)
        assert out.simple.std() > 1e-6 and out.complex.std() > 1e-6


@pytest.mark.parametrize("num_numeric", [0, 2])
@pytest.mark.parametrize("name", NAMES)
def test_evaluation_is_deterministic_and_row_wise(name, num_numeric):
    m = model(name, num_numeric).eval()
    x, x_num = inputs(num_numeric)
    with torch.no_grad():
        logit = m(x, x_num).logit
        assert torch.equal(m(x, x_num).logit, logit)  # dropout is off in evaluation
        # each row alone, and the batch reversed, give the same logits: no statistic of the batch enters
        alone = torch.cat([m(x[i : i + 1], x_num[i : i + 1]).logit for i in range(B)])
        reversed_ = m(x.flip(0), x_num.flip(0)).logit.flip(0)
    torch.testing.assert_close(alone, logit, **TIGHT)
    torch.testing.assert_close(reversed_, logit, **TIGHT)


@pytest.mark.parametrize("name", NAMES)
def test_numeric_fields_reach_the_logit(name):
    m = model(name, 2).eval()
    x, x_num = inputs(2)
    with torch.no_grad():
        before = m(x, x_num).logit
        shifted = x_num.clone()
        shifted[:, 1] += 1.0
        after = m(x, shifted).logit
    assert (after - before).abs().min() > 1e-9, (before, after)


@pytest.mark.parametrize("num_numeric", [0, 2])
@pytest.mark.parametrize("name", NAMES)
def test_one_training_step_reaches_every_parameter_and_table(name, num_numeric):
    # no BatchNorm here (it cancels the gradient of the bias before it) and no dropout (a dropped
    # unit's weights would get no gradient by chance)
    m = model(name, num_numeric, batch_norm=False, dropout=0.0).train()
    x, x_num = inputs(num_numeric)
    out = m(x, x_num)
    assert (out.aux is not None) == (name == "cl4ctr")  # CL4CTR's contrastive/alignment/uniformity terms
    make_objective("logloss")(out, torch.tensor([1.0, 0, 1, 0, 0, 1, 1, 0], dtype=torch.float64)).backward()
    silent = [k for k, p in m.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert not silent, f"no gradient reaches {silent}"
    # the embedding regulariser's tables (embedding_modules) are the model's own list of tables
    tables = embedding_modules(m)
    assert tables and {id(e) for e in m.embedding_tables()} == {id(e) for e in tables}


@pytest.mark.parametrize("name", NAMES)
def test_twin_focus_loss_takes_exactly_the_two_stream_models(name):
    m = model(name, 0).train()
    x, _ = inputs(0)
    out = m(x, None)
    y = torch.tensor([1.0, 0, 1, 0, 0, 1, 1, 0], dtype=torch.float64)
    if name in SINGLE_STREAM:
        with pytest.raises(ConfigError, match="simple and a complex"):
            make_objective("tf")(out, y)
        return
    make_objective("tf")(out, y).backward()
    assert all(e.table.weight.grad is not None and e.table.weight.grad.abs().sum() > 0 for e in embedding_modules(m))
