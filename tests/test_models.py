"""Structure of TF4CTR's modules, checked against hand computations on tiny inputs."""

import itertools

import pytest
import torch

from tfbench.models import DFM_CHOICES, SSEM_CHOICES, build_model, count_parameters
from tfbench.models.tf4ctr import (
    ConcatFusion, GatedEmbedding, MixtureFusion, SeparateEmbeddings, VotingFusion, WeightedSumFusion,
)

VOCAB = [7, 5, 3, 9]


def batch(n=6):
    g = torch.Generator().manual_seed(0)
    return torch.stack([torch.randint(0, v, (n,), generator=g) for v in VOCAB], dim=1)


@pytest.mark.parametrize("ssem,dfm", list(itertools.product(SSEM_CHOICES, DFM_CHOICES)))
def test_every_combination_wires_easy_input_to_z_s_and_hard_input_to_z_c(ssem, dfm):
    torch.manual_seed(0)
    m = build_model("tf4ctr", VOCAB, 0, dropout=0.0, batch_norm=False, embedding_dim=8, ssem=ssem, dfm=dfm, mlp_s=[16], mlp_c=[16, 16]).eval()
    for e in m.embedding_tables():  # away from the 1e-4 init, so the streams' values are not all ~equal
        torch.nn.init.normal_(e.table.weight)
    x = batch()
    out = m(x, None)
    # Eq. 6 by hand from the modules: z_s reads only the SSEM's easy output, z_c only its hard one,
    # and the logit is the DFM of (h_s, h_c, z_s, z_c)
    easy, hard = m.ssem(x, None)
    h_s, h_c = m.simple_encoder(easy), m.complex_encoder(hard)
    z_s, z_c = m.simple_head(h_s).squeeze(-1), m.complex_head(h_c).squeeze(-1)
    torch.testing.assert_close(out.simple, z_s)
    torch.testing.assert_close(out.complex, z_c)
    torch.testing.assert_close(out.logit, m.fusion(h_s, h_c, z_s, z_c))
    assert out.simple.std() > 0 and out.complex.std() > 0 and not torch.allclose(out.simple, out.complex)
    if dfm == "Sum":
        torch.testing.assert_close(out.logit, z_s + z_c)
    if dfm == "WSF":  # both weights start at 1/2
        torch.testing.assert_close(out.logit, 0.5 * (z_s + z_c))
    m.train()
    m(x, None).logit.sum().backward()  # the fused logit reaches every embedding table
    assert all(e.table.weight.grad.abs().sum() > 0 for e in m.embedding_tables())


def test_ser_easy_embedding_has_half_the_dimension():
    m = build_model("tf4ctr", VOCAB, 0, dropout=0.0, batch_norm=False, embedding_dim=16, ssem="SER", mlp_s=[10], mlp_c=[12])
    assert isinstance(m.ssem, SeparateEmbeddings)
    assert m.ssem.easy.table.weight.shape == (sum(VOCAB), 8)
    assert m.ssem.hard.table.weight.shape == (sum(VOCAB), 16)
    assert m.simple_encoder[0].in_features == 4 * 8
    assert m.complex_encoder[0].in_features == 4 * 16


def test_gm_splits_embedding_by_scalar_gate():
    torch.manual_seed(0)
    gm = GatedEmbedding(VOCAB, 4, 0, dropout=0.0, batch_norm=False).eval()
    x = batch()
    easy, hard = gm(x, None)
    h = gm.embedding(x).flatten(1)
    g = torch.sigmoid(gm.gate(h))
    torch.testing.assert_close(easy, g * h)
    torch.testing.assert_close(hard, (1 - g) * h)
    torch.testing.assert_close(easy + hard, h)


def test_wsf_starts_as_half_sum_and_learns_two_scalars():
    f = WeightedSumFusion(3, 3)
    zs, zc = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 4.0])
    torch.testing.assert_close(f(None, None, zs, zc), torch.tensor([2.0, 1.0]))
    assert sum(p.numel() for p in f.parameters()) == 2


def test_vf_is_deterministic_softmax_at_evaluation_and_stochastic_in_training():
    torch.manual_seed(0)
    f = VotingFusion(3, 2, tau=0.5)
    hs, hc = torch.randn(4, 3), torch.randn(4, 2)
    zs, zc = torch.randn(4), torch.randn(4)
    f.eval()
    pi = torch.cat([f.select_s(hs), f.select_c(hc)], dim=-1)
    p = torch.softmax(pi / 0.5, dim=-1)
    expected = p[:, 0] * zs + p[:, 1] * zc
    torch.testing.assert_close(f(hs, hc, zs, zc), expected)
    torch.testing.assert_close(f(hs, hc, zs, zc), f(hs, hc, zs, zc))
    f.train()
    assert not torch.allclose(f(hs, hc, zs, zc), f(hs, hc, zs, zc))


def test_cf_and_moef_by_hand():
    torch.manual_seed(0)
    hs, hc = torch.randn(5, 3), torch.randn(5, 2)
    cf = ConcatFusion(3, 2)
    h = torch.cat([hs, hc], 1)
    torch.testing.assert_close(cf(hs, hc, None, None), h @ cf.out.weight[0] + cf.out.bias[0])
    mf = MixtureFusion(3, 2)
    gate = torch.softmax(h @ mf.gate.weight.T + mf.gate.bias, dim=-1)
    experts = h @ mf.experts.weight.T + mf.experts.bias
    torch.testing.assert_close(mf(hs, hc, None, None), (gate * experts).sum(-1))


def test_moe_gates_mix_two_experts():
    torch.manual_seed(0)
    m = build_model("tf4ctr", VOCAB, 0, dropout=0.0, batch_norm=False, embedding_dim=4, ssem="MoE", mlp_s=[8], mlp_c=[8]).eval()
    x = batch()
    h = m.ssem.embedding(x).flatten(1)
    e1, e2 = (e(h) for e in m.ssem.experts)
    g = torch.softmax(m.ssem.gates[0](h), dim=-1)
    easy, _ = m.ssem(x, None)
    torch.testing.assert_close(easy, g[:, :1] * e1 + g[:, 1:] * e2)


def test_dualmlp_sums_two_streams_and_parameter_count():
    m = build_model("dualmlp", VOCAB, 0, dropout=0.0, batch_norm=False, embedding_dim=4, mlp_s=[5], mlp_c=[6, 7])
    out = m(batch(), None)
    torch.testing.assert_close(out.logit, out.simple + out.complex)
    emb = sum(VOCAB) * 4
    d = 4 * 4
    stream_s = d * 5 + 5 + 5 * 1 + 1
    stream_c = d * 6 + 6 + 6 * 7 + 7 + 7 + 1
    assert count_parameters(m) == emb + stream_s + stream_c


def test_numeric_fields_are_embedded():
    m = build_model("tf4ctr", VOCAB, 2, embedding_dim=4, ssem="Share", dfm="Sum", mlp_s=[8], mlp_c=[8]).eval()
    assert m.simple_encoder[0].in_features == (4 + 2) * 4
    torch.nn.init.normal_(m.ssem.embedding.numeric)
    x, x_num = batch(), torch.randn(6, 2)
    # numeric field k is embedded as x_num[:, k] · v_k after the categorical fields
    emb = m.ssem.embedding(x, x_num)
    torch.testing.assert_close(emb[:, 4:], x_num.unsqueeze(-1) * m.ssem.embedding.numeric)
    torch.testing.assert_close(emb[:, :4], m.ssem.embedding(x, None))
    out = m(x, x_num)
    torch.testing.assert_close(out.logit, out.simple + out.complex)
    assert not torch.allclose(out.logit, m(x, 2 * x_num).logit)  # the numeric values reach the logit


@pytest.mark.parametrize(
    "vocab,ssem,dfm,expected",
    [
        # "Total number of parameters" printed in the authors' published run logs (salmon1802/TF4CTR,
        # checkpoints/), with the vocabulary sizes those logs list; MLP_s [400], MLP_c [400]*3, BN on.
        ([942, 4084, 9, 9, 4, 5, 4, 11, 82, 233], "MoE", "Sum", 605_574),   # TF4CTRv2_Frappe_002
        ([6042, 4, 9, 23, 3548], "GM", "CF", 546_100),                       # TF4CTRv2_ML-1M_003
        ([16362, 22575, 49659], "SER", "Sum", 2_480_706),                    # TF4CTRv2_Movielens_045
    ],
)
def test_parameter_counts_match_the_authors_run_logs(vocab, ssem, dfm, expected):
    m = build_model("tf4ctr", vocab, 0, dropout=0.0, embedding_dim=16, ssem=ssem, dfm=dfm, mlp_s=[400], mlp_c=[400, 400, 400], batch_norm=True)
    assert count_parameters(m) == expected
