"""Baseline zoo, part 2: xDeepFM, AutoInt+, AFN+ and EDCN. Their defining computations (a CIN
layer, one attention head, AFN's logarithmic neurons, EDCN's bridge and regulation gate) are
checked against float64 NumPy hand computations; each model is checked for its streams, its
hyperparameters and its parameter count, and learns the synthetic data."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tfbench.cli.main import app
from tfbench.config import RunConfig, run_key
from tfbench.errors import ConfigError
from tfbench.losses import make_objective
from tfbench.models import (
    AFNPlus, AutoIntPlus, EDCN, MODELS, XDeepFM, build_model, count_parameters, embedding_modules,
)
from tfbench.models.interactions import (
    BridgeModule, CompressedInteractionNetwork, CrossLayer, InteractingLayer, LogarithmicTransform,
    RegulationModule,
)

from conftest import LEARNS_AUC, field_batch, np_, t64, train_once

VOCAB = [7, 5, 3, 9]
NEW_MODELS = ["xdeepfm", "autoint+", "afn+", "edcn"]
SMALL = dict(
    embedding_dim=4, mlp_s=[3], mlp_c=[8, 8], dropout=0.1, batch_norm=True, num_cross_layers=2,
    cin_layers=[5, 3], attention_layers=2, num_heads=2, attention_dim=6, afn_log_neurons=7,
    afn_hidden_units=[8], edcn_bridge="hadamard_product", edcn_tau=1.0,
)


def batch(n=6, seed=0):
    return field_batch(VOCAB, n, seed)




def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------- CIN
def np_cin_layer(xk, x0, W, b):
    """X^{k}_{h,d} = Σ_i Σ_j W[h, i, j] · xk[i, d] · x0[j, d] + b[h], by explicit loops."""
    B, Hp, D = xk.shape
    m = x0.shape[1]
    out = np.zeros((B, W.shape[0], D))
    for n in range(B):
        for h in range(W.shape[0]):
            for d in range(D):
                out[n, h, d] = b[h] + sum(
                    W[h, i, j] * xk[n, i, d] * x0[n, j, d] for i in range(Hp) for j in range(m)
                )
    return out


def test_one_cin_layer_is_the_compressed_outer_product():
    torch.manual_seed(0)
    m, D, H1 = 3, 4, 2
    cin = CompressedInteractionNetwork(m, [H1]).double()
    with torch.no_grad():
        cin.layers[0].bias.copy_(t64([0.3, -0.2]))
    x0 = np.random.default_rng(0).normal(size=(5, m, D))
    W = np_(cin.layers[0].weight).reshape(H1, m, m)  # (i, j) flattened as i·m + j
    x1 = np_cin_layer(x0, x0, W, np_(cin.layers[0].bias))
    got = np_(cin(t64(x0)))
    assert got.shape == (5, H1)
    np.testing.assert_allclose(got, x1.sum(axis=-1), rtol=1e-12, atol=1e-12)  # sum-pooled over d


def test_cin_feeds_each_layer_the_previous_maps_and_concatenates_the_pools():
    torch.manual_seed(1)
    m, D, sizes = 3, 2, [4, 2]
    cin = CompressedInteractionNetwork(m, sizes).double()
    x0 = np.random.default_rng(1).normal(size=(3, m, D))
    W1 = np_(cin.layers[0].weight).reshape(4, m, m)
    W2 = np_(cin.layers[1].weight).reshape(2, 4, m)
    x1 = np_cin_layer(x0, x0, W1, np_(cin.layers[0].bias))
    x2 = np_cin_layer(x1, x0, W2, np_(cin.layers[1].bias))
    ref = np.concatenate([x1.sum(-1), x2.sum(-1)], axis=1)
    np.testing.assert_allclose(np_(cin(t64(x0))), ref, rtol=1e-12, atol=1e-12)
    assert cin.output_dim == 6
    # W^k has H_k · H_{k-1} · m weights and H_k biases
    assert sum(p.numel() for p in cin.parameters()) == (4 * 3 * 3 + 4) + (2 * 4 * 3 + 2)
    with pytest.raises(ValueError):
        CompressedInteractionNetwork(3, [])


# ---------------------------------------------------------------- AutoInt
@pytest.mark.parametrize("scale", [False, True])
def test_interacting_layer_head_scores_and_output_match_numpy(scale):
    torch.manual_seed(2)
    F_, d_in, A, H = 4, 3, 6, 2
    layer = InteractingLayer(d_in, A, H, scale=scale).double().eval()
    x = np.random.default_rng(2).normal(size=(2, F_, d_in))
    Wq, Wk, Wv, Wr = (np_(l.weight) for l in (layer.query, layer.key, layer.value, layer.residual))
    Q, K, V = x @ Wq.T, x @ Wk.T, x @ Wv.T  # [B, F, A]
    dh = A // H
    heads, weights = [], []
    for h in range(H):
        cols = slice(h * dh, (h + 1) * dh)
        scores = Q[:, :, cols] @ K[:, :, cols].transpose(0, 2, 1)  # <q_m, k_k>
        if scale:
            scores = scores / np.sqrt(dh)
        a = softmax(scores)
        weights.append(a)
        heads.append(a @ V[:, :, cols])
    ref = np.maximum(np.concatenate(heads, axis=-1) + x @ Wr.T, 0.0)
    got_a = np_(layer.attention(t64(x)))
    assert got_a.shape == (2, H, F_, F_)
    np.testing.assert_allclose(got_a[:, 0], weights[0], rtol=1e-12)
    np.testing.assert_allclose(got_a.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np_(layer(t64(x))), ref, rtol=1e-12, atol=1e-12)


def test_interacting_layer_residual_is_the_identity_when_widths_match():
    torch.manual_seed(3)
    layer = InteractingLayer(4, 4, 1).double().eval()
    assert layer.residual is None
    x = np.random.default_rng(3).normal(size=(3, 5, 4))
    Q, K, V = (x @ np_(l.weight).T for l in (layer.query, layer.key, layer.value))
    ref = np.maximum(softmax(Q @ K.transpose(0, 2, 1)) @ V + x, 0.0)
    np.testing.assert_allclose(np_(layer(t64(x))), ref, rtol=1e-12, atol=1e-12)
    assert sum(p.numel() for p in layer.parameters()) == 3 * 16
    with pytest.raises(ValueError):
        InteractingLayer(4, 5, 2)


def test_interacting_layer_norm_comes_between_residual_sum_and_relu():
    torch.manual_seed(6)
    layer = InteractingLayer(3, 4, 2, layer_norm=True).double().eval()
    with torch.no_grad():   # a non-trivial affine part, so a wrong order or axis shows
        layer.layer_norm.weight.copy_(torch.tensor([0.5, 2.0, -1.0, 1.5], dtype=torch.float64))
        layer.layer_norm.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0], dtype=torch.float64))
    x = np.random.default_rng(6).normal(size=(2, 5, 3))
    Q, K, V, R = (x @ np_(l.weight).T for l in (layer.query, layer.key, layer.value, layer.residual))
    heads = [softmax(Q[..., c] @ K[..., c].transpose(0, 2, 1)) @ V[..., c] for c in (slice(0, 2), slice(2, 4))]
    s = np.concatenate(heads, axis=-1) + R
    mu, var = s.mean(-1, keepdims=True), s.var(-1, keepdims=True)            # over the 4 dims of a field
    ref = np.maximum((s - mu) / np.sqrt(var + 1e-5) * [0.5, 2.0, -1.0, 1.5] + [0.1, -0.2, 0.3, 0.0], 0.0)
    np.testing.assert_allclose(np_(layer(t64(x))), ref, rtol=1e-10, atol=1e-12)
    assert InteractingLayer(3, 4, 2).layer_norm is None


def test_afn_dropout_applies_to_the_afn_mlp_only_and_keys_stay_stable():
    from tfbench.models.layers import Dropout

    def rates(module):
        return sorted({m.p for m in module.modules() if isinstance(m, Dropout)})

    cfg = RunConfig(model="afn+", dropout=0.2, afn_dropout=0.4, afn_log_neurons=8, afn_hidden_units=(8,), mlp_c=(8,))
    model = build_model("afn+", [5, 6], 0, **cfg.model_hyperparameters())
    assert rates(model.afn_mlp) == [0.4] and rates(model.dnn) == [0.2]
    same = RunConfig(model="afn+", dropout=0.2, afn_log_neurons=8, afn_hidden_units=(8,), mlp_c=(8,))
    assert rates(build_model("afn+", [5, 6], 0, **same.model_hyperparameters()).afn_mlp) == [0.2]
    # at the default (-1) the setting is not part of the key; set, it is
    assert "afn_dropout" not in same.effective_dict() and cfg.effective_dict()["afn_dropout"] == 0.4
    assert run_key("fp", same) != run_key("fp", cfg)
    with pytest.raises(ConfigError, match="afn-dropout must be in"):
        RunConfig.from_dict({"model": "afn+", "afn_dropout": 1.0})


# ---------------------------------------------------------------- AFN
def test_logarithmic_neurons_are_exp_of_weighted_log_magnitudes():
    torch.manual_seed(4)
    F_, L, D = 3, 5, 2
    layer = LogarithmicTransform(F_, L, batch_norm=False).double()
    emb = np.random.default_rng(4).normal(size=(4, F_, D))
    emb[0, 1, 0] = -3e-7  # below the clamp: |e| → 1e-5
    emb[1, 2, 1] = 0.0
    W = np_(layer.weight.weight)  # [L, F]
    logs = np.log(np.maximum(np.abs(emb), 1e-5))
    ref = np.exp(np.einsum("lf,bfd->bld", W, logs))
    # the same thing as a product of powers: y_{l,d} = Π_f |e_{f,d}|^{w_{l,f}}
    prod = np.prod(np.maximum(np.abs(emb), 1e-5)[:, None, :, :] ** W[None, :, :, None], axis=2)
    np.testing.assert_allclose(ref, prod, rtol=1e-10)
    got = np_(layer(t64(emb)))
    assert got.shape == (4, L * D)
    np.testing.assert_allclose(got, ref.reshape(4, -1), rtol=1e-12)
    assert sum(p.numel() for p in layer.parameters()) == L * F_


def test_logarithmic_layer_normalises_logs_and_neurons_with_batch_norm():
    torch.manual_seed(5)
    F_, L, D = 2, 3, 2
    layer = LogarithmicTransform(F_, L).double().eval()
    mu_f, var_f, mu_l, var_l = t64([-1.0, 0.5]), t64([4.0, 0.25]), t64([1.0, 2.0, 0.0]), t64([9.0, 1.0, 4.0])
    with torch.no_grad():
        layer.log_bn.running_mean.copy_(mu_f)
        layer.log_bn.running_var.copy_(var_f)
        layer.exp_bn.running_mean.copy_(mu_l)
        layer.exp_bn.running_var.copy_(var_l)
    emb = np.random.default_rng(5).normal(size=(3, F_, D))
    eps = layer.log_bn.eps
    logs = (np.log(np.abs(emb)) - np_(mu_f)[:, None]) / np.sqrt(np_(var_f)[:, None] + eps)
    y = np.exp(np.einsum("lf,bfd->bld", np_(layer.weight.weight), logs))
    ref = (y - np_(mu_l)[:, None]) / np.sqrt(np_(var_l)[:, None] + eps)
    np.testing.assert_allclose(np_(layer(t64(emb))), ref.reshape(3, -1), rtol=1e-10)


def test_logarithmic_layer_batch_statistics_per_neuron_over_batch_and_dims_in_training():
    torch.manual_seed(7)
    F_, L, D, B = 3, 4, 5, 6
    layer = LogarithmicTransform(F_, L).double().train()
    emb = np.random.default_rng(7).normal(size=(B, F_, D))
    logs = np.log(np.abs(emb))
    logs = (logs - logs.mean(axis=(0, 2), keepdims=True)) / np.sqrt(logs.var(axis=(0, 2), keepdims=True) + 1e-5)
    y = np.exp(np.einsum("lf,bfd->bld", np_(layer.weight.weight), logs))           # [B, L, D]
    mean, var = y.mean(axis=(0, 2)), y.var(axis=(0, 2))                             # per neuron l
    ref = (y - mean[:, None]) / np.sqrt(var[:, None] + 1e-5)
    np.testing.assert_allclose(np_(layer(t64(emb))), ref.reshape(B, -1), rtol=1e-9, atol=1e-12)
    # running statistics: momentum 0.1 toward the batch mean and the unbiased variance (n = B·D)
    np.testing.assert_allclose(np_(layer.exp_bn.running_mean), 0.1 * mean, rtol=1e-10)
    np.testing.assert_allclose(np_(layer.exp_bn.running_var), 0.9 + 0.1 * var * (B * D) / (B * D - 1), rtol=1e-10)


# ---------------------------------------------------------------- EDCN
def test_edcn_bridges_match_numpy():
    rng = np.random.default_rng(6)
    x, h = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    np.testing.assert_allclose(np_(BridgeModule(4, "hadamard_product")(t64(x), t64(h))), x * h, rtol=1e-15)
    np.testing.assert_allclose(np_(BridgeModule(4, "pointwise_addition")(t64(x), t64(h))), x + h, rtol=1e-15)
    assert sum(p.numel() for p in BridgeModule(4).parameters()) == 0
    torch.manual_seed(6)
    cat = BridgeModule(4, "concatenation").double()
    W, b = np_(cat.concat[0].weight), np_(cat.concat[0].bias)
    np.testing.assert_allclose(np_(cat(t64(x), t64(h))), np.maximum(np.concatenate([x, h], 1) @ W.T + b, 0), rtol=1e-12)
    att = BridgeModule(4, "attention_pooling").double()

    def attn(seq, v):
        return softmax(np.maximum(v @ np_(seq[0].weight).T + np_(seq[0].bias), 0) @ np_(seq[2].weight).T)

    ref = attn(att.attn_cross, x) * x + attn(att.attn_deep, h) * h
    np.testing.assert_allclose(np_(att(t64(x), t64(h))), ref, rtol=1e-12)
    with pytest.raises(ValueError):
        BridgeModule(4, "sum")


@pytest.mark.parametrize("tau", [1.0, 0.5, 3.0])
def test_edcn_regulation_gate_is_a_fieldwise_softmax_with_temperature(tau):
    F_, D = 3, 2
    reg = RegulationModule(F_, D, tau=tau).double()
    w_c, w_d = np.array([0.2, -1.0, 1.5]), np.array([1.0, 0.0, -0.5])
    with torch.no_grad():
        reg.cross_logits.copy_(t64(w_c))
        reg.deep_logits.copy_(t64(w_d))
    g_c = np.exp(w_c / tau) / np.exp(w_c / tau).sum()
    g_d = np.exp(w_d / tau) / np.exp(w_d / tau).sum()
    np.testing.assert_allclose(np_(reg.gates()[0]), g_c, rtol=1e-12)
    x = np.random.default_rng(7).normal(size=(4, F_ * D))
    out_c, out_d = reg(t64(x))
    # field f covers the D consecutive entries f·D … f·D + D − 1 of the flattened embedding
    np.testing.assert_allclose(np_(out_c), x * np.repeat(g_c, D), rtol=1e-12)
    np.testing.assert_allclose(np_(out_d), x * np.repeat(g_d, D), rtol=1e-12)
    # fresh gates are uniform, 1/F per field
    fresh = RegulationModule(F_, D, tau=tau)
    torch.testing.assert_close(fresh.gates()[1], torch.full((F_,), 1 / F_))
    with pytest.raises(ValueError):
        RegulationModule(F_, D, tau=0.0)


def test_edcn_cross_layer_has_no_residual():
    torch.manual_seed(8)
    layer = CrossLayer(3, residual=False).double()
    rng = np.random.default_rng(8)
    x0, xl = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    ref = x0 * (xl @ np_(layer.weight.weight)[0])[:, None] + np_(layer.bias)
    np.testing.assert_allclose(np_(layer(t64(x0), t64(xl))), ref, rtol=1e-12)


# ---------------------------------------------------------------- models
@pytest.mark.parametrize("name", NEW_MODELS)
@pytest.mark.parametrize("num_numeric", [0, 2])
def test_every_model_returns_logits_and_streams_sum(name, num_numeric):
    torch.manual_seed(0)
    m = build_model(name, VOCAB, num_numeric, **SMALL).eval()
    out = m(batch(), torch.rand(6, num_numeric))
    assert out.logit.shape == out.simple.shape == out.complex.shape == (6,)
    torch.testing.assert_close(out.logit, out.simple + out.complex)
    m.train()
    out = m(batch(), torch.rand(6, num_numeric))
    loss = make_objective("tf")(out, torch.tensor([1.0, 0, 1, 0, 0, 1]))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(e.table.weight.grad is not None for e in embedding_modules(m))
    assert {id(e) for e in m.embeddings} == {id(e) for e in embedding_modules(m)}
    assert name in MODELS and MODELS[name][0]


def test_streams_are_the_documented_encoders():
    torch.manual_seed(0)
    x = batch()
    xd = XDeepFM(VOCAB, embedding_dim=4, mlp_c=[8], cin_layers=[3, 2]).eval()
    emb = xd.embedding(x)
    out = xd(x, None)
    assert xd.first_order.bias is None
    torch.testing.assert_close(out.simple, xd.first_order(x, None) + xd.cin_head(xd.cin(emb)).squeeze(-1))
    torch.testing.assert_close(out.complex, xd.dnn(emb.flatten(1)).squeeze(-1))

    ai = AutoIntPlus(VOCAB, embedding_dim=4, mlp_c=[8], attention_layers=3, num_heads=2, attention_dim=6).eval()
    emb = ai.embedding(x)
    h = emb
    for layer in ai.attention:
        h = layer(h)
    out = ai(x, None)
    torch.testing.assert_close(out.simple, ai.attention_head(h.flatten(1)).squeeze(-1))
    torch.testing.assert_close(out.complex, ai.dnn(emb.flatten(1)).squeeze(-1))
    assert [l.residual is not None for l in ai.attention] == [True, False, False]

    af = AFNPlus(VOCAB, embedding_dim=4, mlp_c=[8], afn_log_neurons=5, afn_hidden_units=[6]).eval()
    out = af(x, None)
    assert af.embedding is not af.dnn_embedding  # AFN+'s DNN has its own embedding table
    torch.testing.assert_close(out.simple, af.afn_mlp(af.log_transform(af.embedding(x))).squeeze(-1))
    torch.testing.assert_close(out.complex, af.dnn(af.dnn_embedding(x).flatten(1)).squeeze(-1))

    ed = EDCN(VOCAB, embedding_dim=4, num_cross_layers=3, batch_norm=True).eval()
    c, h = ed.regulations[0](ed.embedding(x).flatten(1))
    c0 = c
    for i in range(3):
        c, h = ed.cross_layers[i](c0, c), ed.deep_layers[i](h)
        f = c * h  # the hadamard bridge, after every layer (FuxiCTR's head reads the last one)
        if i < 2:
            c, h = ed.regulations[i + 1](f)
    out = ed(x, None)
    torch.testing.assert_close(out.simple, ed.cross_head(c).squeeze(-1))
    torch.testing.assert_close(out.complex, (ed.deep_head(h) + ed.bridge_head(f)).squeeze(-1))
    assert len(ed.bridges) == 3 and len(ed.regulations) == 3 and ed.bridge_head.bias is None


def test_build_model_takes_the_config_hyperparameters():
    cfg = RunConfig.from_dict(dict(
        embedding_dim=4, mlp_c=[8], cin_layers="5,4,3", attention_layers=3, num_heads=3, attention_dim=9,
        attention_scale=True, afn_log_neurons=11, afn_hidden_units=[7, 6], num_cross_layers=4,
        edcn_bridge="concatenation", edcn_tau=0.3,
    ))
    built = {}
    for name in NEW_MODELS:
        c = cfg.replace(model=name)
        built[name] = build_model(name, VOCAB, 0, **c.model_hyperparameters())
    assert [l.weight.shape[0] for l in built["xdeepfm"].cin.layers] == [5, 4, 3]
    ai = built["autoint+"].attention
    assert len(ai) == 3 and all(l.num_heads == 3 and l.output_dim == 9 and l.scale for l in ai)
    af = built["afn+"]
    assert af.log_transform.num_neurons == 11 and af.afn_mlp[0].in_features == 11 * 4
    assert [l.out_features for l in af.afn_mlp if isinstance(l, torch.nn.Linear)] == [7, 6, 1]
    ed = built["edcn"]
    assert len(ed.cross_layers) == 4 and all(b.kind == "concatenation" for b in ed.bridges)
    assert all(r.tau == 0.3 for r in ed.regulations)
    # each model receives only its own settings
    assert "cin_layers" in cfg.replace(model="xdeepfm").model_hyperparameters()
    assert "cin_layers" not in cfg.replace(model="edcn").model_hyperparameters()
    assert "afn_log_neurons" not in cfg.replace(model="autoint+").model_hyperparameters()
    assert "num_cross_layers" in cfg.replace(model="edcn").model_hyperparameters()


def test_parameter_counts_by_hand():
    V, F_, D = sum(VOCAB), len(VOCAB), 4
    d = F_ * D  # 16
    kw = dict(embedding_dim=D, mlp_c=[8, 6], mlp_s=[99], dropout=0.0, batch_norm=False)
    mlp = (d * 8 + 8) + (8 * 6 + 6) + (6 + 1)
    # xDeepFM: first-order weights without bias, CIN W^k and b^k, CIN head, DNN
    cin = (5 * F_ * F_ + 5) + (3 * 5 * F_ + 3) + (5 + 3 + 1)
    assert count_parameters(build_model("xdeepfm", VOCAB, 0, **kw, cin_layers=[5, 3])) == V * D + V + cin + mlp
    # AutoInt+: W_Q, W_K, W_V per layer, W_res in the first (4 → 6), the head over F·6
    attn = (3 * D * 6 + D * 6) + 3 * 6 * 6 + (F_ * 6 + 1)
    assert count_parameters(build_model("autoint+", VOCAB, 0, **kw, attention_layers=2, num_heads=2,
                                        attention_dim=6)) == V * D + attn + mlp
    # AFN+: two embeddings, W (L×F), BatchNorms over F and L, the AFN MLP on L·D inputs, the DNN
    L = 7
    afn = L * F_ + 2 * F_ + 2 * L + (L * D * 5 + 5) + (5 + 1)
    assert count_parameters(build_model("afn+", VOCAB, 0, **kw, afn_log_neurons=L, afn_hidden_units=[5])) == 2 * V * D + afn + mlp
    # EDCN: per layer a cross layer (w, b), a d×d deep layer, a regulation module (2F gates); two heads
    # and the bias-free weights on the last bridge's output
    per_layer = 2 * d + (d * d + d) + 2 * F_
    heads = 2 * (d + 1) + d
    assert count_parameters(build_model("edcn", VOCAB, 0, **kw, num_cross_layers=3)) == V * D + 3 * per_layer + heads
    # ... and with batch_norm a BatchNorm (scale, shift) on each regulated output
    assert count_parameters(build_model("edcn", VOCAB, 0, **{**kw, "batch_norm": True}, num_cross_layers=3)) == (
        V * D + 3 * (per_layer + 2 * 2 * d) + heads)
    # ... and with fuxictr_head FuxiCTR's one head over [c_L ‖ h_L ‖ f_L] instead
    assert count_parameters(build_model("edcn", VOCAB, 0, **kw, num_cross_layers=3, fuxictr_head=True)) == (
        V * D + 3 * per_layer + 3 * d + 1)


# ---------------------------------------------------------------- config
@pytest.mark.parametrize("bad", [
    dict(cin_layers=[]), dict(cin_layers=[16, 0]), dict(attention_layers=0), dict(num_heads=0),
    dict(attention_dim=0), dict(attention_dim=41), dict(afn_log_neurons=0), dict(afn_hidden_units=[400, -1]),
    dict(edcn_bridge="sum"), dict(edcn_tau=0.0), dict(edcn_tau=-1.0),
])
def test_new_settings_are_validated(bad):
    name = next(iter(bad))
    with pytest.raises(ConfigError, match="--" + name.replace("_", "-")):
        RunConfig.from_dict(bad)
    with pytest.raises(ConfigError, match=f"'{name}'"):
        RunConfig.from_dict(bad, source="config file x.yaml")


def test_bad_values_of_the_new_settings_are_refused():
    for bad in (dict(cin_layers="16,x"), dict(num_heads=1.5), dict(attention_scale="maybe"), dict(edcn_tau="warm")):
        with pytest.raises(ConfigError, match="invalid value"):
            RunConfig.from_dict(bad)
    cfg = RunConfig.from_dict(dict(cin_layers="[8, 4]", afn_hidden_units="32", attention_scale="yes"))
    assert cfg.cin_layers == (8, 4) and cfg.afn_hidden_units == (32,) and cfg.attention_scale is True
    assert cfg.to_dict()["cin_layers"] == [8, 4]
    assert RunConfig.from_dict(dict(num_heads=3, attention_dim=9)).attention_dim == 9


def test_config_keeps_each_model_setting_only_where_it_matters():
    own = {
        "xdeepfm": {"cin_layers"},
        "autoint+": {"attention_layers", "num_heads", "attention_dim", "attention_scale"},
        "afn+": {"afn_log_neurons", "afn_hidden_units"},
        "edcn": {"num_cross_layers", "edcn_bridge", "edcn_tau"},
    }
    changes = dict(cin_layers=[3], attention_layers=1, num_heads=4, attention_dim=8, attention_scale=True,
                   afn_log_neurons=9, afn_hidden_units=[5], num_cross_layers=1, edcn_bridge="pointwise_addition",
                   edcn_tau=2.0)
    every = set().union(*own.values())
    for model in [*NEW_MODELS, "tf4ctr", "dualmlp", "dcn", "deepfm"]:
        base = RunConfig(model=model)
        eff = base.effective_dict()
        mine = own.get(model, {"num_cross_layers"} if model == "dcn" else set())
        assert every & set(eff) == mine, model
        for k, v in changes.items():
            same = run_key("fp", base) == run_key("fp", base.replace(**{k: v}))
            assert same == (k not in mine), (model, k)
    edcn = RunConfig(model="edcn").effective_dict()
    assert "mlp_c" not in edcn and "mlp_s" not in edcn  # EDCN's deep layers are F·D wide
    for model in ("xdeepfm", "autoint+", "afn+"):
        eff = RunConfig(model=model).effective_dict()
        assert "mlp_c" in eff and "mlp_s" not in eff


# ---------------------------------------------------------------- training
# As in test_baselines.py: tiny models, 20k synthetic rows, 3 epochs at lr 1e-2. EDCN keeps its
# default 3 layers: its d-wide (here 9·4 = 36) streams learn this data more slowly than an MLP, and
# with 2 layers its test AUC after 3 epochs is 0.64-0.67 depending on the seed (0.66-0.70 with 3).
TINY = dict(
    synthetic_rows=20_000, embedding_dim=4, mlp_s=[32], mlp_c=[32, 32], batch_size=1000, epochs=3,
    dropout=0.0, embedding_regularizer=0.0, learning_rate=1e-2, num_cross_layers=3,
    cin_layers=[8, 8], attention_dim=8, num_heads=2, afn_log_neurons=32, afn_hidden_units=[32, 32],
)


@pytest.mark.parametrize("name,loss", [("xdeepfm", ""), ("autoint+", ""), ("afn+", "")])  # EDCN: see conftest.LEARNS_AUC
def test_every_baseline_learns_synthetic(name, loss, tiny_synthetic):
    cfg = RunConfig.from_dict({**TINY, "model": name, "loss": loss})
    result = train_once(cfg, tiny_synthetic)
    assert result.test["AUC"] > LEARNS_AUC[name], result.test


# ---------------------------------------------------------------- CLI
def test_cli_lists_and_trains_with_the_new_options(isolated):
    r = CliRunner().invoke(app, ["models"])
    assert r.exit_code == 0 and all(n in r.output for n in NEW_MODELS)
    args = ["train", "--model", "autoint+", "--attention-layers", "1", "--num-heads", "2", "--attention-dim", "6",
            "--attention-scale", "--synthetic-rows", "2000", "--embedding-dim", "4", "--mlp-c", "8",
            "--batch-size", "500", "--epochs", "1"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    from tfbench.db import ResultStore

    (row,) = ResultStore(isolated).list_runs()
    assert row.model == "autoint+"
    assert (row.config["attention_layers"], row.config["attention_dim"], row.config["attention_scale"]) == (1, 6, True)
    r = CliRunner().invoke(app, ["train", "--model", "edcn", "--edcn-bridge", "product"])
    assert r.exit_code == 2 and "--edcn-bridge" in r.output
    r = CliRunner().invoke(app, ["train", "--model", "xdeepfm", "--cin-layers", "8,0"])
    assert r.exit_code == 2 and "--cin-layers" in r.output
