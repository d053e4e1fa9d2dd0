"""Per-model structure: parameter counts worked out by hand from each paper's layers, which tables
the embedding regulariser sees, and how DLF stacks its layers. (What every model must do:
test_model_contract.py; logits against the reference implementations: test_parity_*.py.)"""

import torch

from tfbench.models import own_settings, build_model, count_parameters, embedding_modules

from conftest import field_batch

VOCAB = [7, 5, 3, 9]


def batch(n=6, seed=0):
    return field_batch(VOCAB, n, seed)


# ---------------------------------------------------------------- parameter counts
def test_parameter_counts_by_hand_dnn_widedeep_deepfm_dcn_dcnv2():
    V, F_, D = sum(VOCAB), len(VOCAB), 4
    d = F_ * D  # 16
    mlp = (d * 8 + 8) + (8 * 6 + 6) + (6 + 1)  # [8, 6] and the 1-unit output layer
    first_order = V + 1  # one weight per value + bias
    kw = dict(embedding_dim=D, mlp_c=[8, 6], mlp_s=[99], dropout=0.0, batch_norm=False)
    assert count_parameters(build_model("dnn", VOCAB, 0, **own_settings("dnn", kw))) == V * D + mlp
    # FuxiCTR's (PyTorch) Wide & Deep: the wide term has no bias (the deep output layer has one)
    assert count_parameters(build_model("widedeep", VOCAB, 0, **own_settings("widedeep", kw))) == V * D + V + mlp
    # DeepFM's second-order term has no parameters of its own
    assert count_parameters(build_model("deepfm", VOCAB, 0, **own_settings("deepfm", kw))) == V * D + first_order + mlp
    # one numeric field adds a D-vector to the embedding and one scalar to the first-order term
    assert count_parameters(build_model("deepfm", VOCAB, 1, **own_settings("deepfm", kw))) == (V + 1) * D + first_order + 1 + (d + D) * 8 + 8 + 54 + 7
    # batch norm adds a scale and a shift per hidden unit
    assert count_parameters(build_model("widedeep", VOCAB, 0, **own_settings("widedeep", {**kw, "batch_norm": True}))) == V * D + V + mlp + 2 * (8 + 6)
    cross = 2 * d  # w and b per DCN layer
    assert count_parameters(build_model("dcn", VOCAB, 0, **own_settings("dcn", kw), num_cross_layers=2)) == V * D + 2 * cross + (d + 1) + mlp
    cross2 = d * d + d  # W and b per DCNv2 layer
    assert count_parameters(build_model("dcnv2", VOCAB, 0, **own_settings("dcnv2", kw), num_cross_layers=2)) == V * D + 2 * cross2 + (d + 1) + mlp


def test_parameter_counts_by_hand_xdeepfm_autoint_afn_edcn():
    V, F_, D = sum(VOCAB), len(VOCAB), 4
    d = F_ * D  # 16
    kw = dict(embedding_dim=D, mlp_c=[8, 6], mlp_s=[99], dropout=0.0, batch_norm=False)
    mlp = (d * 8 + 8) + (8 * 6 + 6) + (6 + 1)
    # xDeepFM: first-order weights without bias, CIN W^k and b^k, CIN head, DNN
    cin = (5 * F_ * F_ + 5) + (3 * 5 * F_ + 3) + (5 + 3 + 1)
    assert count_parameters(build_model("xdeepfm", VOCAB, 0, **own_settings("xdeepfm", kw), cin_layers=[5, 3])) == V * D + V + cin + mlp
    # AutoInt+: W_Q, W_K, W_V per layer, W_res in the first (4 → 6), the head over F·6
    attn = (3 * D * 6 + D * 6) + 3 * 6 * 6 + (F_ * 6 + 1)
    assert count_parameters(build_model("autoint+", VOCAB, 0, **own_settings("autoint+", kw), attention_layers=2, num_heads=2,
                                        attention_dim=6)) == V * D + attn + mlp
    # AFN+: two embeddings, W (L×F), BatchNorms over F and L, the AFN MLP on L·D inputs, the DNN
    L = 7
    afn = L * F_ + 2 * F_ + 2 * L + (L * D * 5 + 5) + (5 + 1)
    assert count_parameters(build_model("afn+", VOCAB, 0, **own_settings("afn+", kw), afn_log_neurons=L, afn_hidden_units=[5])) == 2 * V * D + afn + mlp
    # EDCN: per layer a cross layer (w, b), a d×d deep layer, a regulation module (2F gates); two heads
    # and the bias-free weights on the last bridge's output
    per_layer = 2 * d + (d * d + d) + 2 * F_
    heads = 2 * (d + 1) + d
    assert count_parameters(build_model("edcn", VOCAB, 0, **own_settings("edcn", kw), num_cross_layers=3)) == V * D + 3 * per_layer + heads
    # ... and with batch_norm a BatchNorm (scale, shift) on each regulated output
    assert count_parameters(build_model("edcn", VOCAB, 0, **own_settings("edcn", {**kw, "batch_norm": True}), num_cross_layers=3)) == (
        V * D + 3 * (per_layer + 2 * 2 * d) + heads)
    # ... and with fuxictr_head FuxiCTR's one head over [c_L ‖ h_L ‖ f_L] instead
    assert count_parameters(build_model("edcn", VOCAB, 0, **own_settings("edcn", kw), num_cross_layers=3, fuxictr_head=True)) == (
        V * D + 3 * per_layer + 3 * d + 1)


def test_parameter_counts_by_hand_eulernet_cl4ctr_dlf():
    V, F_, D = sum(VOCAB), len(VOCAB), 4
    kw = dict(embedding_dim=D, mlp_c=[8], mlp_s=[99], dropout=0.0, batch_norm=False)
    mlp = lambda d: (d * 8 + 8) + (8 + 1)  # noqa: E731
    # EulerNet: μ, then per layer α (F_in·F_out), W and c, b^λ and b^θ, two LayerNorms; the head
    def euler_layer(a, b):
        return a * b + (a * D * b * D + b * D) + 2 * D * b + 2 * 2 * D
    assert count_parameters(build_model("eulernet", VOCAB, 0, **own_settings("eulernet", kw), euler_orders=[5, 3])) == (
        V * D + F_ + euler_layer(F_, 5) + euler_layer(5, 3) + (3 * D + 1))
    # CL4CTR: the DNN, three encoder layers, two projectors
    enc = 3 * ((3 * D * D + 3 * D) + (D * D + D) + (D * 128 + 128) + (128 * D + D) + 2 * 2 * D)
    assert count_parameters(build_model("cl4ctr", VOCAB, 0, **own_settings("cl4ctr", kw))) == V * D + mlp(F_ * D) + enc + 2 * (F_ * D * D + D)
    # DLF, tokens k, rank r, hidden h: per layer LCB, two FM blocks (W, LayerNorm, MLP with batch norm
    # whatever the run's flag, as the authors' DLF_MLP), maps, LayerNorm
    k, r, h = 2, 3, 5

    def block(n):
        return n * r + 2 * n * r + (n * r * h + h) + 2 * h + (h * k * D + k * D)

    first = F_ * k + 2 * block(F_) + F_ * 3 * k + 2 * D            # residual map F → 3k
    later = 3 * k * k + 2 * block(3 * k) + F_ * 3 * k + 2 * D      # E^(1) map F → 3k
    assert count_parameters(build_model("dlf", VOCAB, 0, **own_settings("dlf", kw), dlf_layers=2, dlf_tokens=k, dlf_rank=r,
                                        dlf_hidden=h)) == V * D + first + later + mlp(3 * k * D)


# ---------------------------------------------------------------- embeddings and layers
def test_first_order_weights_fall_under_the_embedding_regulariser():
    m = build_model("deepfm", VOCAB, 0, dropout=0.0, batch_norm=False, embedding_dim=4, mlp_c=[8])
    assert {id(e) for e in embedding_modules(m)} == {id(m.embedding), id(m.first_order.weights)}
    assert m.embedding_tables() == [m.embedding, m.first_order.weights]


def test_dlf_stacks_layers_on_the_first_order_embedding():
    torch.manual_seed(12)
    m = build_model("dlf", VOCAB, 0, dropout=0.0, batch_norm=False, embedding_dim=4, mlp_c=[8], dlf_layers=3, dlf_tokens=2, dlf_rank=3, dlf_hidden=5).eval()
    assert [l.num_out for l in m.layers] == [6, 6, 6]
    assert m.layers[0].x0_projection is None and all(l.x0_projection is not None for l in m.layers[1:])
    x = batch()
    e = m.embedding(x)
    h = e
    for layer in m.layers:
        h = layer(h, e)
    out = m(x, None)
    torch.testing.assert_close(out.logit, m.head(h.flatten(1)).squeeze(-1))
    assert out.simple is None and out.complex is None and out.aux is None
