"""The layers defined in the model files, against float64 NumPy hand computations: EulerNet's
complex embedding and Euler interaction step (polar form), CL4CTR's contrastive, alignment and
uniformity terms, DLF's token blocks and fusion. (interactions.py's layers: test_interactions_values.py;
whole-model logits against the authors' code: the test_parity_*.py files.)"""

import itertools

import numpy as np
import pytest
import torch

from tfbench.models import build_model
from tfbench.models import cl4ctr as cl4ctr_module
from tfbench.models.cl4ctr import FieldEncoder, contrastive_distance, feature_alignment, field_uniformity
from tfbench.models.dlf import DLFLayer, LowRankInteraction, TokenProjection
from tfbench.models.eulernet import EulerInteractionLayer, polar

from conftest import field_batch, np_, t64

VOCAB = [7, 5, 3, 9]


def batch(n=6, seed=0):
    return field_batch(VOCAB, n, seed)


def np_layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * weight + bias


# ---------------------------------------------------------------- EulerNet
def test_embeddings_become_complex_numbers_with_fieldwise_moduli():
    torch.manual_seed(0)
    m = build_model("eulernet", VOCAB, 0, dropout=0.0, batch_norm=False, embedding_dim=3, euler_orders=[2]).double()
    with torch.no_grad():
        m.mu.copy_(t64([[0.5], [2.0], [1.0], [-1.5]]))
    emb = np.random.default_rng(0).normal(size=(2, 4, 3))
    r, p = m.to_complex(t64(emb))
    z = m.mu.detach().numpy() * np.exp(1j * emb)  # μ_f · e^{i e}
    np.testing.assert_allclose(np_(r), z.real, rtol=1e-14)
    np.testing.assert_allclose(np_(p), z.imag, rtol=1e-14)
    # the polar transform recovers log|z| and the (principal) phase, in every quadrant
    lam, theta = polar(r, p, eps=0.0)
    np.testing.assert_allclose(np_(lam), np.log(np.abs(z)), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np_(theta), np.angle(z), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("layer_norm", [False, True])
def test_one_euler_interaction_step_matches_numpy(layer_norm):
    torch.manual_seed(1)
    F_in, F_out, D, B = 3, 2, 4, 5
    layer = EulerInteractionLayer(F_in, F_out, D, layer_norm=layer_norm).double().eval()
    rng = np.random.default_rng(1)
    alpha = rng.normal(size=(F_in, F_out))  # any real exponents, not just the near one-hot init
    with torch.no_grad():
        layer.orders.copy_(t64(alpha))
        if layer_norm:
            for norm in (layer.norm_r, layer.norm_p):
                norm.weight.copy_(t64(rng.normal(size=D)))
                norm.bias.copy_(t64(rng.normal(size=D)))
    r, p = rng.normal(size=(B, F_in, D)), rng.normal(size=(B, F_in, D))
    z = r + 1j * p
    b_lam, b_theta = np_(layer.bias_lam), np_(layer.bias_theta)  # [D, F_out]

    # explicit: λ' = Σ_i α_ik log|z_i| + b^λ, θ' = Σ_i α_ik arg z_i + b^θ, ẑ = e^{λ'} e^{iθ'}
    lam = 0.5 * np.log(np.abs(z) ** 2 + 1e-8)
    theta = np.angle(z)
    lam_o = np.einsum("bid,ik->bkd", lam, alpha) + b_lam.T
    theta_o = np.einsum("bid,ik->bkd", theta, alpha) + b_theta.T
    ex = np.exp(lam_o) * np.exp(1j * theta_o)
    # ... which is e^{b^λ + i b^θ} Π_i z_i^{α_ik} with the principal power (exact but for the 1e-8)
    powers = np.exp(b_lam.T + 1j * b_theta.T) * np.prod(
        np.stack([z[:, i, None, :] ** alpha[i][None, :, None] for i in range(F_in)]), axis=0)
    np.testing.assert_allclose(ex, powers, rtol=1e-6)
    # implicit: ReLU(W x + c) on the flattened real and imaginary parts, one shared W
    W, c = np_(layer.implicit.weight), np_(layer.implicit.bias)
    im_r = np.maximum(r.reshape(B, -1) @ W.T + c, 0).reshape(B, F_out, D)
    im_p = np.maximum(p.reshape(B, -1) @ W.T + c, 0).reshape(B, F_out, D)
    out_r, out_p = im_r + ex.real, im_p + ex.imag
    if layer_norm:
        out_r = np_layer_norm(out_r, np_(layer.norm_r.weight), np_(layer.norm_r.bias))
        out_p = np_layer_norm(out_p, np_(layer.norm_p.weight), np_(layer.norm_p.bias))

    got_ex = layer.explicit(t64(r), t64(p))
    np.testing.assert_allclose(np_(got_ex[0]), ex.real, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np_(got_ex[1]), ex.imag, rtol=1e-10, atol=1e-12)
    got_r, got_p = layer(t64(r), t64(p))
    assert got_r.shape == got_p.shape == (B, F_out, D)
    np.testing.assert_allclose(np_(got_r), out_r, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np_(got_p), out_p, rtol=1e-10, atol=1e-12)


def test_euler_orders_start_as_the_identity_or_a_near_one_hot_softmax():
    # (how EulerNet composes its layers and head: tests/test_parity_cross.py, eulernet fixtures)
    torch.manual_seed(2)
    assert torch.equal(EulerInteractionLayer(4, 4, 2).orders.detach(), torch.eye(4))
    a = EulerInteractionLayer(4, 6, 2).orders.detach()
    torch.testing.assert_close(a.sum(0), torch.ones(6))  # softmax over the inputs: each output picks ~one input
    assert (a.max(0).values > 0.99).all()


# ---------------------------------------------------------------- CL4CTR
def np_alignment(rows, sizes):
    starts = np.cumsum([0, *sizes])
    total = sum(
        np.sum((rows[i] - rows[j]) ** 2)
        for f in range(len(sizes)) for i in range(starts[f], starts[f + 1]) for j in range(starts[f], starts[f + 1])
    )
    return total / sum(n * n for n in sizes)


def np_uniformity(rows, sizes):
    field = np.repeat(np.arange(len(sizes)), sizes)
    total, pairs = 0.0, 0
    for i, j in itertools.product(range(len(rows)), repeat=2):
        if field[i] != field[j]:
            total += rows[i] @ rows[j] / (np.linalg.norm(rows[i]) * np.linalg.norm(rows[j]))
            pairs += 1
    assert pairs == sum(n * (len(rows) - n) for n in sizes)
    return total / pairs


def test_alignment_and_uniformity_match_pairwise_numpy():
    sizes = [3, 1, 4, 2]
    rows = np.random.default_rng(3).normal(size=(sum(sizes), 5))
    rows[4] *= 1e3  # scale does not enter the cosine
    assert feature_alignment(t64(rows), sizes).item() == pytest.approx(np_alignment(rows, sizes), rel=1e-12)
    assert field_uniformity(t64(rows), sizes).item() == pytest.approx(np_uniformity(rows, sizes), rel=1e-10)
    # identical features within each field: no misalignment; one direction everywhere: uniformity 1
    same = np.repeat(np.random.default_rng(4).normal(size=(4, 5)), sizes, axis=0)
    assert feature_alignment(t64(same), sizes).item() == pytest.approx(0.0, abs=1e-12)
    one_way = np.outer(np.arange(1.0, 11.0), np.ones(5))
    assert field_uniformity(t64(one_way), sizes).item() == pytest.approx(1.0, rel=1e-12)


def test_contrastive_term_is_the_mean_squared_distance_of_two_masked_views():
    rng = np.random.default_rng(5)
    h1, h2 = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    assert contrastive_distance(t64(h1), t64(h2)).item() == pytest.approx(
        np.mean([np.sum((h1[b] - h2[b]) ** 2) for b in range(6)]), rel=1e-12)

    torch.manual_seed(5)
    m = build_model("cl4ctr", VOCAB, 0, dropout=0.0, batch_norm=False, embedding_dim=4, mlp_c=[8]).double().eval()  # eval: the encoder's own dropout off
    emb = m.embedding(batch())
    torch.manual_seed(7)
    loss = m.contrastive_loss(emb)
    torch.manual_seed(7)
    v1, v2 = m.mask(emb), m.mask(emb)
    e, a, b = np_(emb), np_(v1), np_(v2)
    for v in (a, b):  # each entry dropped (0) or kept and scaled by 1/(1 - 0.5)
        assert np.all(np.isclose(v, 0.0) | np.isclose(v, 2.0 * e))
        assert 0.2 < np.mean(np.isclose(v, 0.0)) < 0.8
    assert not np.array_equal(a, b)  # independent masks
    W1, c1 = np_(m.projector1.weight), np_(m.projector1.bias)
    W2, c2 = np_(m.projector2.weight), np_(m.projector2.bias)
    # rows cut as the authors' .view(-1, F·D) of the field-major [F, B, D] encoder output
    h1 = np_(m.encoder(v1)).transpose(1, 0, 2).reshape(6, -1) @ W1.T + c1
    h2 = np_(m.encoder(v2)).transpose(1, 0, 2).reshape(6, -1) @ W2.T + c2
    assert loss.item() == pytest.approx(np.mean(np.sum((h1 - h2) ** 2, axis=1)), rel=1e-10)
    # the FI encoder attends over each sample's F field tokens, not across the batch
    enc = m.encoder(emb)
    torch.testing.assert_close(enc[:1], m.encoder(emb[:1]))
    assert enc.shape == (6, len(VOCAB), 4)


def random_field_encoder(dropout, num_layers=2, dim=4, feedforward=5, seed=8):
    torch.manual_seed(seed)
    enc = FieldEncoder(dim, 1, feedforward, dropout, num_layers).double()
    with torch.no_grad():
        for p in enc.parameters():   # layer norms and biases away from their 1 / 0 start
            p.copy_(torch.randn_like(p))
    return enc


@pytest.mark.parametrize("mode,dropout", [("eval", 0.2), ("train", 0.0)])
def test_field_encoder_is_pytorchs_transformer_encoder_without_dropout(mode, dropout):
    enc = random_field_encoder(dropout).train(mode == "train")
    x = torch.randn(6, len(VOCAB), 4, dtype=torch.float64)
    # PyTorch's own forward on the same modules: the reference
    torch.testing.assert_close(enc(x), torch.nn.TransformerEncoder.forward(enc, x), rtol=1e-12, atol=1e-12)
    assert set(enc.state_dict()) == set(torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(4, 1, 5, batch_first=True), 2, enable_nested_tensor=False).state_dict())


def test_field_encoder_drops_where_pytorchs_layer_does_in_training(monkeypatch):
    """Dropout p on the attention weights, on the attention branch, after the feed-forward's ReLU
    and on the feed-forward branch of every layer (nn.TransformerEncoderLayer's four sites), each an
    inverted-dropout mask; checked against a NumPy post-norm layer with the masks recorded."""
    p = 0.3
    enc = random_field_encoder(p).train()
    x = torch.randn(6, len(VOCAB), 4, dtype=torch.float64)
    masks = []

    def recording(v, rate):
        out = original(v, rate)
        masks.append((np_(out) != 0, rate))  # a zero input (after the ReLU) reads as dropped: the same product
        return out

    original = cl4ctr_module.inverted_dropout
    monkeypatch.setattr(cl4ctr_module, "inverted_dropout", recording)
    got = np_(enc(x))
    assert [r for _, r in masks] == [p] * 8 and all(0 < k.mean() < 1 for k, _ in masks)
    drop = iter(k / (1 - p) for k, _ in masks)
    h = np_(x)
    for layer in enc.layers:
        w, b = np_(layer.self_attn.in_proj_weight), np_(layer.self_attn.in_proj_bias)
        q, k, v = np.split(h @ w.T + b, 3, axis=-1)
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(4)
        a = np.exp(scores - scores.max(-1, keepdims=True))
        a = a / a.sum(-1, keepdims=True) * next(drop)
        attn = (a @ v) @ np_(layer.self_attn.out_proj.weight).T + np_(layer.self_attn.out_proj.bias)
        h = np_layer_norm(h + attn * next(drop), np_(layer.norm1.weight), np_(layer.norm1.bias))
        hidden = np.maximum(h @ np_(layer.linear1.weight).T + np_(layer.linear1.bias), 0) * next(drop)
        ff = hidden @ np_(layer.linear2.weight).T + np_(layer.linear2.bias)
        h = np_layer_norm(h + ff * next(drop), np_(layer.norm2.weight), np_(layer.norm2.bias))
    np.testing.assert_allclose(got, h, rtol=1e-10, atol=1e-10)


def test_cl4ctr_aux_is_the_weighted_sum_in_training_and_none_in_eval():
    torch.manual_seed(6)
    m = build_model("cl4ctr", VOCAB, 2, dropout=0.0, batch_norm=False, embedding_dim=4, mlp_c=[8], cl_weight=0.7, alignment_weight=0.3,
               uniformity_weight=0.2)
    x, xn = batch(), torch.rand(6, 2)
    m.eval()
    out = m(x, xn)
    assert out.aux is None and out.simple is None and out.complex is None and out.logit.shape == (6,)
    m.train()
    torch.manual_seed(8)
    out = m(x, xn)
    # the same terms by hand: by default L_ali and L_uni of the batch's embedding (the authors'
    # compute_cl_loss), numeric fields included as fields
    torch.manual_seed(8)
    emb = m.embedding(x, xn)
    m.dnn(emb.flatten(1))  # (no random draws: dropout 0)
    e = np_(emb)
    pairs = [(i, j) for i in range(6) for j in range(i + 1, 6)]
    ali = np.mean([np.sum((e[i] - e[j]) ** 2, axis=1) for i, j in pairs])
    nrm = np.linalg.norm(e, axis=2)
    uni = np.mean(np.einsum("bfd,bgd->bfg", e, e) / (nrm[:, :, None] * nrm[:, None, :] + 1e-4))
    assert m.alignment_loss(emb).item() == pytest.approx(ali, rel=1e-5)  # (float32 model)
    assert m.uniformity_loss(emb).item() == pytest.approx(uni, rel=1e-5)
    torch.testing.assert_close(out.aux, 0.7 * m.contrastive_loss(emb) + 0.3 * ali + 0.2 * uni)
    # cl4ctr_full_table: over the whole table, numeric fields as one-feature fields
    torch.manual_seed(6)
    full = build_model("cl4ctr", VOCAB, 2, dropout=0.0, batch_norm=False, embedding_dim=4, mlp_c=[8], cl_weight=0.7, alignment_weight=0.3,
                  uniformity_weight=0.2, cl4ctr_full_table=True).train()
    rows = torch.cat([full.embedding.table.weight, full.embedding.numeric])
    sizes = VOCAB + [1, 1]
    assert rows.shape[0] == sum(sizes) and full.field_sizes == sizes
    torch.manual_seed(8)
    out = full(x, xn)
    torch.manual_seed(8)
    emb = full.embedding(x, xn)
    expected = (0.7 * full.contrastive_loss(emb) + 0.3 * feature_alignment(rows, sizes)
                + 0.2 * field_uniformity(rows, sizes))
    torch.testing.assert_close(out.aux, expected)
    out.aux.backward()
    assert full.embedding.table.weight.grad.abs().sum() > 0 and full.projector1.weight.grad is not None
    # weights of zero leave their terms out entirely
    off = build_model("cl4ctr", VOCAB, 0, dropout=0.0, batch_norm=False, embedding_dim=4, mlp_c=[8], cl_weight=0.0, alignment_weight=0.0, uniformity_weight=0.0)
    assert off.train()(x, None).aux.item() == 0.0


# ---------------------------------------------------------------- DLF
def test_token_projection_and_low_rank_products_match_numpy():
    torch.manual_seed(10)
    rng = np.random.default_rng(10)
    x, left = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3))
    proj = TokenProjection(4, 5).double()
    W = np_(proj.weight)
    ref = np.array([[sum(W[i, j] * x[b, i] for i in range(4)) for j in range(5)] for b in range(2)])
    np.testing.assert_allclose(np_(proj(t64(x))), ref, rtol=1e-12)
    block = LowRankInteraction(4, 2, 3, rank=2, hidden=5).double()
    Wr = np_(block.weight)
    # P[b, i, q] = Σ_j <left_i, x_j> W[j, q]: inner products compressed to rank r
    P = np.array([[[sum((left[b, i] @ x[b, j]) * Wr[j, q] for j in range(4)) for q in range(2)]
                   for i in range(4)] for b in range(2)])
    np.testing.assert_allclose(np_(block.products(t64(x), t64(left))), P, rtol=1e-12)


def np_block(block, x, left):
    """LayerNorm(flatten P) → Linear → ReLU → Linear (eval, no batch norm), as [B, k, D]."""
    P = np.einsum("bid,bjd,jq->biq", left, x, np_(block.weight)).reshape(x.shape[0], -1)
    h = np_layer_norm(P, np_(block.norm.weight), np_(block.norm.bias))
    lin1, lin2 = [l for l in block.mlp if isinstance(l, torch.nn.Linear)]
    h = np.maximum(h @ np_(lin1.weight).T + np_(lin1.bias), 0)
    return (h @ np_(lin2.weight).T + np_(lin2.bias)).reshape(x.shape[0], block.num_out, -1)


@pytest.mark.parametrize("num_in", [3, 5, 6])
def test_dlf_layer_fuses_lcb_fm_and_first_order_aware_blocks(num_in):
    torch.manual_seed(11)
    F_, D, k, B = 3, 4, 2, 5
    layer = DLFLayer(F_, num_in, D, num_lcb=k, num_fmb=k, rank=2, hidden=6, batch_norm=False).double().eval()
    rng = np.random.default_rng(11)
    with torch.no_grad():
        for norm in (layer.norm, layer.fmb.norm, layer.fmb_x0.norm):
            norm.weight.copy_(t64(rng.normal(size=norm.weight.shape)))
            norm.bias.copy_(t64(rng.normal(size=norm.bias.shape)))
    x, x0 = rng.normal(size=(B, num_in, D)), rng.normal(size=(B, F_, D))
    # layers after the first see E^(1) mapped to their token count; the residual is mapped when counts differ
    assert (layer.x0_projection is None) == (num_in == F_)
    assert (layer.residual is None) == (num_in == 3 * k) and layer.num_out == 3 * k
    x0n = x0 if layer.x0_projection is None else np.einsum("bid,ij->bjd", x0, np_(layer.x0_projection.weight))
    tokens = np.concatenate([
        np_block(layer.fmb, x, x),                                # FM block: <e_i, e_j> of this layer
        np_block(layer.fmb_x0, x, x0n),                           # with the first-order embedding E^(1)
        np.einsum("bid,ij->bjd", x, np_(layer.lcb.weight)),       # linear compression
    ], axis=1)
    residual = x if layer.residual is None else np.einsum("bid,ij->bjd", x, np_(layer.residual.weight))
    ref = np_layer_norm(tokens + residual, np_(layer.norm.weight), np_(layer.norm.bias))
    got = layer(t64(x), t64(x0))
    assert got.shape == (B, 3 * k, D)
    np.testing.assert_allclose(np_(got), ref, rtol=1e-10, atol=1e-12)
