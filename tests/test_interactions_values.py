"""tfbench/models/interactions.py against float64 NumPy loops written from the papers' formulas.

(The layers defined in the model files, EulerNet's, CL4CTR's and DLF's, are in test_layer_maths.py.)"""

import itertools

import numpy as np
import pytest
import torch

from tfbench.models.interactions import (
    BridgeModule, CompressedInteractionNetwork, CrossLayer, CrossLayerV2, CrossNetwork, FirstOrder,
    InteractingLayer, LogarithmicTransform, RegulationModule, fm_second_order,
)

B, F, D = 5, 4, 3


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def t(a):
    return torch.tensor(a, dtype=torch.float64)


def n(p):
    return p.detach().numpy()


def randomise(module, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def test_first_order_is_bias_plus_the_weights_of_the_present_values():
    vocab = [3, 5, 2]
    m = randomise(FirstOrder(vocab, num_numeric=2).double())
    x = torch.tensor([[0, 4, 1], [2, 0, 0]])
    x_num = t([[0.5, -2.0], [1.0, 0.0]])
    w = n(m.weights.table.weight)[:, 0]
    wn = n(m.weights.numeric)[:, 0]
    offsets = np.cumsum([0, *vocab[:-1]])
    expected = [n(m.bias)[0] + sum(w[offsets[f] + x[i, f]] for f in range(3)) + x_num[i].numpy() @ wn for i in range(2)]
    np.testing.assert_allclose(n(m(x, x_num)), expected, rtol=1e-12)
    no_bias = FirstOrder(vocab, bias=False)
    assert no_bias.bias is None
    torch.testing.assert_close(no_bias(x), no_bias.weights(x).sum(dim=(1, 2)))


def test_first_order_term_sums_one_weight_per_field_value_plus_bias():
    vocab = [7, 5, 3, 9]
    layer = FirstOrder(vocab, num_numeric=2).double()
    with torch.no_grad():
        layer.weights.table.weight.copy_(torch.arange(sum(vocab), dtype=torch.float64).unsqueeze(1) / 10)
        layer.weights.numeric.copy_(t([[2.0], [-1.0]]))
        layer.bias.fill_(0.5)
    x = torch.tensor([[0, 0, 0, 0], [6, 4, 2, 8]])
    x_num = t([[1.0, 3.0], [0.5, 0.0]])
    # offsets 0, 7, 12, 15: row 0 takes weights 0, .7, 1.2, 1.5; row 1 takes .6, 1.1, 1.4, 2.3
    expected = t([0.5 + 0.0 + 0.7 + 1.2 + 1.5 + 2 * 1 - 1 * 3, 0.5 + 0.6 + 1.1 + 1.4 + 2.3 + 2 * 0.5])
    torch.testing.assert_close(layer(x, x_num), expected)
    assert sum(p.numel() for p in layer.parameters()) == sum(vocab) + 2 + 1


def test_fm_second_order_is_the_sum_over_field_pairs():
    e = rand(B, F, D)
    expected = [sum(e[b, i] @ e[b, j] for i, j in itertools.combinations(range(F), 2)) for b in range(B)]
    np.testing.assert_allclose(n(fm_second_order(t(e))), expected, rtol=1e-12)
    # two fields, dimension 1: the product of the two values
    assert fm_second_order(t([[[2.0], [-3.0]]])).item() == pytest.approx(-6.0)


@pytest.mark.parametrize("residual", [True, False])
def test_cross_layer(residual):
    d = 6
    m = randomise(CrossLayer(d, residual=residual).double())
    x0, xl = rand(B, d, seed=2), rand(B, d, seed=3)
    w, b = n(m.weight.weight)[0], n(m.bias)
    expected = x0 * (xl @ w)[:, None] + b + (xl if residual else 0)
    np.testing.assert_allclose(n(m(t(x0), t(xl))), expected, rtol=1e-12)
    assert sum(p.numel() for p in m.parameters()) == 2 * d  # w and b


def test_cross_layer_v2_and_network():
    d = 6
    m = randomise(CrossLayerV2(d).double())
    x0, xl = rand(B, d, seed=2), rand(B, d, seed=3)
    W, b = n(m.linear.weight), n(m.linear.bias)
    np.testing.assert_allclose(n(m(t(x0), t(xl))), x0 * (xl @ W.T + b) + xl, rtol=1e-12)
    assert sum(p.numel() for p in m.parameters()) == d * d + d  # W and b
    for version in (1, 2):
        net = randomise(CrossNetwork(d, 3, version=version).double())
        x = x0
        for layer in net.layers:
            if version == 1:
                x = x0 * (x @ n(layer.weight.weight)[0])[:, None] + n(layer.bias) + x
            else:
                x = x0 * (x @ n(layer.linear.weight).T + n(layer.linear.bias)) + x
        np.testing.assert_allclose(n(net(t(x0))), x, rtol=1e-10)
        assert net.output_dim == d and len(net.layers) == 3
    with pytest.raises(ValueError, match="at least one layer, got 0"):
        CrossNetwork(d, 0)


def test_cin_is_the_papers_eq_6_sum_pooled():
    sizes = [3, 2]
    m = randomise(CompressedInteractionNetwork(F, sizes).double())
    x0 = rand(B, F, D, seed=4)
    pooled, xk = [], x0
    for k, layer in enumerate(m.layers):
        W = n(layer.weight).reshape(sizes[k], xk.shape[1], F)  # W^{k,h}_{i,j}
        bias = n(layer.bias)
        nxt = np.zeros((B, sizes[k], D))
        for b_, h, d in itertools.product(range(B), range(sizes[k]), range(D)):
            nxt[b_, h, d] = sum(W[h, i, j] * xk[b_, i, d] * x0[b_, j, d]
                                for i in range(xk.shape[1]) for j in range(F)) + bias[h]
        xk = nxt
        pooled.append(xk.sum(-1))
    np.testing.assert_allclose(n(m(t(x0))), np.concatenate(pooled, 1), rtol=1e-10)
    assert m.output_dim == 5
    # W^k has H_k · H_{k-1} · m weights and H_k biases
    assert sum(p.numel() for p in m.parameters()) == (3 * F * F + 3) + (2 * 3 * F + 2)
    for bad in ([], [2, 0]):
        with pytest.raises(ValueError, match="positive size"):
            CompressedInteractionNetwork(F, bad)


def softmax(a):
    a = a - a.max(-1, keepdims=True)
    return np.exp(a) / np.exp(a).sum(-1, keepdims=True)


@pytest.mark.parametrize("input_dim,scale,layer_norm", [(4, False, False), (6, True, False), (6, False, True)])
def test_interacting_layer(input_dim, scale, layer_norm):
    A, H = 6, 2
    m = randomise(InteractingLayer(input_dim, A, H, scale=scale, layer_norm=layer_norm).double()).eval()
    x = rand(B, F, input_dim, seed=5)
    Wq, Wk, Wv = n(m.query.weight), n(m.key.weight), n(m.value.weight)
    res = x @ n(m.residual.weight).T if m.residual is not None else x
    assert (m.residual is None) == (input_dim == A)
    heads = []
    for h in range(H):
        sl = slice(h * A // H, (h + 1) * A // H)
        q, k, v = x @ Wq[sl].T, x @ Wk[sl].T, x @ Wv[sl].T
        scores = q @ k.transpose(0, 2, 1) / (np.sqrt(A / H) if scale else 1.0)
        a = softmax(scores)
        np.testing.assert_allclose(n(m.attention(t(x)))[:, h], a, rtol=1e-10)
        heads.append(a @ v)
    out = np.concatenate(heads, -1) + res
    if layer_norm:
        g, b = n(m.layer_norm.weight), n(m.layer_norm.bias)
        out = (out - out.mean(-1, keepdims=True)) / np.sqrt(out.var(-1, keepdims=True) + 1e-5) * g + b
    np.testing.assert_allclose(n(m(t(x))), np.maximum(out, 0), rtol=1e-10, atol=1e-12)
    assert m.output_dim == A
    # W_Q, W_K, W_V (no bias), W_res where the widths differ, the LayerNorm's scale and shift
    residual = 0 if input_dim == A else input_dim * A
    assert sum(p.numel() for p in m.parameters()) == 3 * input_dim * A + residual + (2 * A if layer_norm else 0)
    with pytest.raises(ValueError, match="attention_dim=6 is not divisible by num_heads=4"):
        InteractingLayer(4, 6, 4)
    with pytest.raises(ValueError, match="not divisible"):
        InteractingLayer(4, 6, 0)


@pytest.mark.parametrize("input_dim,scale,layer_norm", [(4, True, True), (6, False, False)])
def test_interacting_layer_drops_attention_weights_in_training(input_dim, scale, layer_norm):
    """Train mode with dropout: the explicit path (the fused kernel serves only without dropout).
    Each attention weight is kept with probability 1 − p and scaled by 1/(1 − p), by the harness's
    sampler (uniform noise ≥ p, one draw of the weights' shape), re-drawn here from the same seed."""
    A, H, p = 6, 2, 0.3
    m = randomise(InteractingLayer(input_dim, A, H, dropout=p, scale=scale, layer_norm=layer_norm).double()).train()
    x = rand(B, F, input_dim, seed=6)
    torch.manual_seed(11)
    got = n(m(t(x)))
    torch.manual_seed(11)
    keep = n(torch.rand(B, H, F, F, dtype=torch.float64) >= p)
    assert 0 < keep.mean() < 1
    Wq, Wk, Wv = n(m.query.weight), n(m.key.weight), n(m.value.weight)
    res = x @ n(m.residual.weight).T if m.residual is not None else x
    heads = []
    for h in range(H):
        sl = slice(h * A // H, (h + 1) * A // H)
        q, k, v = x @ Wq[sl].T, x @ Wk[sl].T, x @ Wv[sl].T
        a = softmax(q @ k.transpose(0, 2, 1) / (np.sqrt(A / H) if scale else 1.0))
        heads.append((a * keep[:, h] / (1 - p)) @ v)
    out = np.concatenate(heads, -1) + res
    if layer_norm:
        g, b = n(m.layer_norm.weight), n(m.layer_norm.bias)
        out = (out - out.mean(-1, keepdims=True)) / np.sqrt(out.var(-1, keepdims=True) + 1e-5) * g + b
    np.testing.assert_allclose(got, np.maximum(out, 0), rtol=1e-10, atol=1e-12)
    # eval mode: no dropout (the fused kernel), the same function as the explicit path without masks
    m.eval()
    heads = [softmax(x @ Wq[sl].T @ (x @ Wk[sl].T).transpose(0, 2, 1) / (np.sqrt(A / H) if scale else 1.0)) @ (x @ Wv[sl].T)
             for sl in (slice(h * A // H, (h + 1) * A // H) for h in range(H))]
    out = np.concatenate(heads, -1) + res
    if layer_norm:
        out = (out - out.mean(-1, keepdims=True)) / np.sqrt(out.var(-1, keepdims=True) + 1e-5) * g + b
    np.testing.assert_allclose(n(m(t(x))), np.maximum(out, 0), rtol=1e-10, atol=1e-12)


def test_logarithmic_transform_without_and_with_batch_norm():
    L = 3
    e = rand(B, F, D, seed=6)
    e[0, 0, 0] = 1e-9  # clamped to min_abs
    e[1, 2, 1] = 0.0
    m = randomise(LogarithmicTransform(F, L, batch_norm=False).double())
    W = n(m.weight.weight)
    log_e = np.log(np.maximum(np.abs(e), 1e-5))
    y = np.exp(np.einsum("lf,bfd->bld", W, log_e))  # Π_f |e_fd|^{w_lf}
    np.testing.assert_allclose(n(m(t(e))), y.reshape(B, L * D), rtol=1e-10)
    assert m.num_neurons == L
    assert sum(p.numel() for p in m.parameters()) == L * F  # W only
    bn = LogarithmicTransform(F, L).double().train()  # batch statistics, unit gamma, zero beta
    with torch.no_grad():
        bn.weight.weight.copy_(t(W))
    mu, var = log_e.mean((0, 2), keepdims=True), log_e.var((0, 2), keepdims=True)
    z = np.exp(np.einsum("lf,bfd->bld", W, (log_e - mu) / np.sqrt(var + 1e-5)))
    z = (z - z.mean((0, 2), keepdims=True)) / np.sqrt(z.var((0, 2), keepdims=True) + 1e-5)
    np.testing.assert_allclose(n(bn(t(e))), z.reshape(B, L * D), rtol=1e-8, atol=1e-10)


def test_logarithmic_layer_normalises_logs_and_neurons_with_batch_norm():
    torch.manual_seed(5)
    F_, L, D = 2, 3, 2
    layer = LogarithmicTransform(F_, L).double().eval()
    mu_f, var_f, mu_l, var_l = t([-1.0, 0.5]), t([4.0, 0.25]), t([1.0, 2.0, 0.0]), t([9.0, 1.0, 4.0])
    with torch.no_grad():
        layer.log_bn.running_mean.copy_(mu_f)
        layer.log_bn.running_var.copy_(var_f)
        layer.exp_bn.running_mean.copy_(mu_l)
        layer.exp_bn.running_var.copy_(var_l)
    emb = np.random.default_rng(5).normal(size=(3, F_, D))
    eps = layer.log_bn.eps
    logs = (np.log(np.abs(emb)) - n(mu_f)[:, None]) / np.sqrt(n(var_f)[:, None] + eps)
    y = np.exp(np.einsum("lf,bfd->bld", n(layer.weight.weight), logs))
    ref = (y - n(mu_l)[:, None]) / np.sqrt(n(var_l)[:, None] + eps)
    np.testing.assert_allclose(n(layer(t(emb))), ref.reshape(3, -1), rtol=1e-10)


def test_logarithmic_layer_batch_statistics_per_neuron_over_batch_and_dims_in_training():
    torch.manual_seed(7)
    F_, L, D, B_ = 3, 4, 5, 6
    layer = LogarithmicTransform(F_, L).double().train()
    emb = np.random.default_rng(7).normal(size=(B_, F_, D))
    logs = np.log(np.abs(emb))
    logs = (logs - logs.mean(axis=(0, 2), keepdims=True)) / np.sqrt(logs.var(axis=(0, 2), keepdims=True) + 1e-5)
    y = np.exp(np.einsum("lf,bfd->bld", n(layer.weight.weight), logs))           # [B, L, D]
    mean, var = y.mean(axis=(0, 2)), y.var(axis=(0, 2))                           # per neuron l
    ref = (y - mean[:, None]) / np.sqrt(var[:, None] + 1e-5)
    np.testing.assert_allclose(n(layer(t(emb))), ref.reshape(B_, -1), rtol=1e-9, atol=1e-12)
    # running statistics: momentum 0.1 toward the batch mean and the unbiased variance (n = B·D)
    np.testing.assert_allclose(n(layer.exp_bn.running_mean), 0.1 * mean, rtol=1e-10)
    np.testing.assert_allclose(n(layer.exp_bn.running_var), 0.9 + 0.1 * var * (B_ * D) / (B_ * D - 1), rtol=1e-10)


@pytest.mark.parametrize("kind", ["hadamard_product", "pointwise_addition", "concatenation", "attention_pooling"])
def test_bridge_module(kind):
    d = 5
    m = randomise(BridgeModule(d, kind).double())
    x, h = rand(B, d, seed=7), rand(B, d, seed=8)
    if kind == "hadamard_product":
        expected = x * h
    elif kind == "pointwise_addition":
        expected = x + h
    elif kind == "concatenation":
        lin = m.concat[0]
        expected = np.maximum(np.concatenate([x, h], -1) @ n(lin.weight).T + n(lin.bias), 0)
    else:
        def attn(seq, v):
            hid = np.maximum(v @ n(seq[0].weight).T + n(seq[0].bias), 0)
            return softmax(hid @ n(seq[2].weight).T)
        expected = attn(m.attn_cross, x) * x + attn(m.attn_deep, h) * h
    np.testing.assert_allclose(n(m(t(x), t(h))), expected, rtol=1e-10)
    assert m.extra_repr() == kind
    if kind in ("hadamard_product", "pointwise_addition"):
        assert sum(p.numel() for p in m.parameters()) == 0
    with pytest.raises(ValueError, match="unknown bridge 'sum': one of hadamard_product, pointwise_addition"):
        BridgeModule(d, "sum")


@pytest.mark.parametrize("tau,batch_norm", [(1.0, False), (0.5, False), (2.0, True)])
def test_regulation_module(tau, batch_norm):
    m = RegulationModule(F, D, tau=tau, batch_norm=batch_norm).double().train()
    g0 = [n(g) for g in m.gates()]
    np.testing.assert_allclose(g0, np.full((2, F), 1 / F), rtol=1e-12)  # uniform at the start
    with torch.no_grad():
        m.cross_logits.copy_(t([0.5, -1.0, 2.0, 0.0]))
        m.deep_logits.copy_(t([1.0, 1.5, -0.5, 0.3]))
    gc, gd = softmax(np.array([0.5, -1.0, 2.0, 0.0]) / tau), softmax(np.array([1.0, 1.5, -0.5, 0.3]) / tau)
    x = rand(B, F * D, seed=9)
    oc, od = x * np.repeat(gc, D), x * np.repeat(gd, D)
    if batch_norm:
        oc = (oc - oc.mean(0)) / np.sqrt(oc.var(0) + 1e-5)
        od = (od - od.mean(0)) / np.sqrt(od.var(0) + 1e-5)
    got_c, got_d = m(t(x))
    np.testing.assert_allclose(n(got_c), oc, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(n(got_d), od, rtol=1e-8, atol=1e-10)
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match=f"the regulation temperature must be > 0, got {bad}"):
            RegulationModule(F, D, tau=bad)


def test_constructor_defaults_and_smallest_valid_sizes():
    vocab = [3, 5]
    m = FirstOrder(vocab)
    assert m.weights.numeric is None and sum(p.numel() for p in m.parameters()) == sum(vocab) + 1
    assert all(isinstance(layer, CrossLayer) for layer in CrossNetwork(4, 2).layers)  # version 1 by default
    assert all(isinstance(layer, CrossLayerV2) for layer in CrossNetwork(4, 2, version=2).layers)
    assert len(CrossNetwork(4, 1).layers) == 1
    cin = CompressedInteractionNetwork(F, [1])
    assert cin.output_dim == 1 and cin.num_fields == F
    x = t(rand(B, F, 6, seed=10))
    attn = InteractingLayer(6, 6, 2).double().train()  # no attention dropout by default
    torch.testing.assert_close(attn(x), attn.eval()(x))
    reg = RegulationModule(F, D)
    with torch.no_grad():
        reg.cross_logits.copy_(torch.tensor([0.5, -1.0, 2.0, 0.0]))
    np.testing.assert_allclose(n(reg.gates()[0]), softmax(np.array([0.5, -1.0, 2.0, 0.0])), rtol=1e-6)  # τ = 1
