"""TF4CTR (paper §III): Sample Selection Embedding Module → simple and complex MLP encoders →
Dynamic Fusion Module. The Twin Focus loss lives in ``tfbench.losses``.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import nn

from tfbench.models.base import CTRModel, ModelSettings, register
from tfbench.models.layers import MLP, FieldEmbedding, linear
from tfbench.models.output import ModelOutput
from tfbench.schema import HiddenUnits, Settings, setting

SSEM_CHOICES = ("SER", "GM", "MoE", "Share")
DFM_CHOICES = ("WSF", "VF", "CF", "MoEF", "Sum")
VF_EVAL_CHOICES = ("softmax", "gumbel")


class TwinModuleSettings(Settings):
    """The SSEM at the bottom and the DFM on top: TF4CTR's, and the Table VIII plug-in's."""

    ssem: Literal["SER", "GM", "MoE", "Share"] = setting("SER", "Sample Selection Embedding Module (Share: one embedding)")
    dfm: Literal["WSF", "VF", "CF", "MoEF", "Sum"] = setting("WSF", "Dynamic Fusion Module (Sum: z_s + z_c)")
    vf_tau: float = setting(0.8, "Gumbel-softmax temperature of VF", gt=0.0)
    vf_eval: Literal["softmax", "gumbel"] = setting(
        "softmax", "VF at evaluation: softmax (deterministic, ours) or gumbel (noise at evaluation too, the authors')",
        key_omit_default=True)

    def key_settings(self) -> dict:
        d = super().key_settings()
        if self.dfm != "VF":   # only VF reads them
            d.pop("vf_tau")
            d.pop("vf_eval", None)
        return d


class TF4CTRSettings(ModelSettings, TwinModuleSettings):
    mlp_s: HiddenUnits = setting((400,), "Hidden units of the simple encoder, e.g. 400")
    mlp_c: HiddenUnits = setting((400, 400, 400), "Hidden units of the complex encoder, e.g. 400,400,400")


# ---------------------------------------------------------------- Sample Selection Embedding Module
class SampleSelection(nn.Module):
    """Base: maps (x_cat, x_num) to the easy-sample input h_es and the hard-sample input h_hs, both flat."""

    easy_dim: int
    hard_dim: int
    embeddings: list[FieldEmbedding]


class SeparateEmbeddings(SampleSelection):
    """SER (Eq. 3): two embedding tables; the easy one has half the dimension."""

    def __init__(self, vocab_sizes, dim, num_numeric):
        super().__init__()
        self.easy = FieldEmbedding(vocab_sizes, dim // 2, num_numeric)
        self.hard = FieldEmbedding(vocab_sizes, dim, num_numeric)
        self.embeddings = [self.easy, self.hard]
        self.easy_dim = self.easy.num_fields * (dim // 2)
        self.hard_dim = self.hard.num_fields * dim

    def forward(self, x_cat, x_num):
        return self.easy(x_cat, x_num).flatten(1), self.hard(x_cat, x_num).flatten(1)


class GatedEmbedding(SampleSelection):
    """GM (Eq. 4): one embedding; an MLP gate gives a scalar g per sample; h_es = g·h, h_hs = (1−g)·h."""

    def __init__(self, vocab_sizes, dim, num_numeric, dropout, batch_norm):
        super().__init__()
        self.embedding = FieldEmbedding(vocab_sizes, dim, num_numeric)
        self.embeddings = [self.embedding]
        d = self.embedding.num_fields * dim
        self.gate = MLP(d, [max(d // 4, 1)], output_dim=1, dropout=dropout, batch_norm=batch_norm)
        self.easy_dim = self.hard_dim = d

    def forward(self, x_cat, x_num):
        h = self.embedding(x_cat, x_num).flatten(1)
        g = torch.sigmoid(self.gate(h))
        return g * h, (1.0 - g) * h


class MixtureEmbedding(SampleSelection):
    """MoE (Eq. 5, MMoE style): two expert MLPs and two softmax gates, one gate per encoder.

    Expert and gate widths follow the authors' code: experts [D/2, D], gates [D/4] → 2.
    """

    def __init__(self, vocab_sizes, dim, num_numeric, dropout, batch_norm):
        super().__init__()
        self.embedding = FieldEmbedding(vocab_sizes, dim, num_numeric)
        self.embeddings = [self.embedding]
        d = self.embedding.num_fields * dim
        self.experts = nn.ModuleList(
            [MLP(d, [max(d // 2, 1), d], dropout=dropout, batch_norm=batch_norm) for _ in range(2)]
        )
        self.gates = nn.ModuleList(
            [MLP(d, [max(d // 4, 1)], output_dim=2, dropout=dropout, batch_norm=batch_norm) for _ in range(2)]
        )
        self.easy_dim = self.hard_dim = d

    def forward(self, x_cat, x_num):
        h = self.embedding(x_cat, x_num).flatten(1)
        m = torch.stack([e(h) for e in self.experts], dim=1)  # [B, 2, D]
        easy_g = torch.softmax(self.gates[0](h), dim=-1).unsqueeze(-1)
        hard_g = torch.softmax(self.gates[1](h), dim=-1).unsqueeze(-1)
        return (easy_g * m).sum(1), (hard_g * m).sum(1)


class SharedEmbedding(SampleSelection):
    """Share: one embedding feeds both encoders (the ablation without SSEM)."""

    def __init__(self, vocab_sizes, dim, num_numeric):
        super().__init__()
        self.embedding = FieldEmbedding(vocab_sizes, dim, num_numeric)
        self.embeddings = [self.embedding]
        self.easy_dim = self.hard_dim = self.embedding.num_fields * dim

    def forward(self, x_cat, x_num):
        h = self.embedding(x_cat, x_num).flatten(1)
        return h, h


def make_sample_selection(name, vocab_sizes, dim, num_numeric, dropout, batch_norm) -> SampleSelection:
    if name == "SER":
        return SeparateEmbeddings(vocab_sizes, dim, num_numeric)
    if name == "GM":
        return GatedEmbedding(vocab_sizes, dim, num_numeric, dropout, batch_norm)
    if name == "MoE":
        return MixtureEmbedding(vocab_sizes, dim, num_numeric, dropout, batch_norm)
    if name == "Share":
        return SharedEmbedding(vocab_sizes, dim, num_numeric)
    raise ValueError(f"unknown SSEM {name!r}")


# ---------------------------------------------------------------- Dynamic Fusion Module
class Fusion(nn.Module):
    """Base: given encoder outputs and their logits z_s, z_c ([B]), returns the final logit [B]."""


class WeightedSumFusion(Fusion):
    """WSF (Eq. 8): w_s·z_s + w_c·z_c with two learnable scalars initialised to 0.5."""

    def __init__(self, easy_dim, hard_dim):
        super().__init__()
        self.weight = nn.Parameter(torch.full((2,), 0.5))

    def forward(self, h_s, h_c, z_s, z_c):
        return self.weight[0] * z_s + self.weight[1] * z_c


class VotingFusion(Fusion):
    """VF (Eq. 9): Gumbel-softmax over selection logits π = (W_es ĥ_es, W_hs ĥ_hs) with temperature τ.

    Training draws Gumbel noise g and weighs z_s, z_c by softmax((π + g)/τ) (torch's soft
    ``gumbel_softmax``, drawn the same way). Evaluation depends on ``vf_eval``:

    * ``"softmax"`` (default, ours): the deterministic softmax(π/τ), so that predictions are
      reproducible;
    * ``"gumbel"``: fresh Gumbel noise at evaluation too, as the authors' code does (their VF calls
      ``F.gumbel_softmax`` whatever the mode), so validation and test scores are noisy.

    (The authors' code feeds the projections to gumbel_softmax as logits, i.e. it reads log π_k in
    Eq. 9 as the projection itself; we do the same. Their W_hs is sized by the simple encoder's
    width, so their VF only runs when both encoders end equally wide; ours is sized by the complex
    encoder's and is the same function there.)
    """

    def __init__(self, easy_dim, hard_dim, tau: float = 0.8, eval_mode: str = "softmax"):
        super().__init__()
        if eval_mode not in VF_EVAL_CHOICES:
            raise ValueError(f"vf_eval must be one of {', '.join(VF_EVAL_CHOICES)}, got {eval_mode!r}")
        self.tau = tau
        self.eval_mode = eval_mode
        self.select_s = linear(easy_dim, 1)
        self.select_c = linear(hard_dim, 1)

    def gumbel_noise(self, pi: torch.Tensor) -> torch.Tensor:
        """Gumbel(0, 1) noise shaped like π, drawn as ``F.gumbel_softmax`` draws it."""
        return -torch.empty_like(pi, memory_format=torch.legacy_contiguous_format).exponential_().log()

    def forward(self, h_s, h_c, z_s, z_c):
        pi = torch.cat([self.select_s(h_s), self.select_c(h_c)], dim=-1)
        if self.training or self.eval_mode == "gumbel":
            pi = pi + self.gumbel_noise(pi)
        p = torch.softmax(pi / self.tau, dim=-1)
        return p[:, 0] * z_s + p[:, 1] * z_c

    def extra_repr(self) -> str:
        return f"tau={self.tau}, eval_mode={self.eval_mode!r}"


class ConcatFusion(Fusion):
    """CF (Eq. 10): a linear layer over [ĥ_es ‖ ĥ_hs]."""

    def __init__(self, easy_dim, hard_dim):
        super().__init__()
        self.out = linear(easy_dim + hard_dim, 1)

    def forward(self, h_s, h_c, z_s, z_c):
        return self.out(torch.cat([h_s, h_c], dim=-1)).squeeze(-1)


class MixtureFusion(Fusion):
    """MoEF (Eq. 11): a softmax gate and two scalar linear experts over [ĥ_es ‖ ĥ_hs]."""

    def __init__(self, easy_dim, hard_dim):
        super().__init__()
        self.gate = linear(easy_dim + hard_dim, 2)
        self.experts = linear(easy_dim + hard_dim, 2)

    def forward(self, h_s, h_c, z_s, z_c):
        h = torch.cat([h_s, h_c], dim=-1)
        return (torch.softmax(self.gate(h), dim=-1) * self.experts(h)).sum(-1)


class SumFusion(Fusion):
    """Sum: z_s + z_c (the ablation without DFM, and the usual parallel-model fusion)."""

    def __init__(self, easy_dim, hard_dim):
        super().__init__()

    def forward(self, h_s, h_c, z_s, z_c):
        return z_s + z_c


def make_fusion(name, easy_dim, hard_dim, vf_tau, vf_eval: str = "softmax") -> Fusion:
    if name == "WSF":
        return WeightedSumFusion(easy_dim, hard_dim)
    if name == "VF":
        return VotingFusion(easy_dim, hard_dim, vf_tau, vf_eval)
    if name == "CF":
        return ConcatFusion(easy_dim, hard_dim)
    if name == "MoEF":
        return MixtureFusion(easy_dim, hard_dim)
    if name == "Sum":
        return SumFusion(easy_dim, hard_dim)
    raise ValueError(f"unknown DFM {name!r}")


# ---------------------------------------------------------------- the model
@register("tf4ctr", settings=TF4CTRSettings,
          description="TF4CTR: SSEM (SER/GM/MoE/Share) + simple & complex MLP encoders + DFM (WSF/VF/CF/MoEF/Sum)",
          simple="MLP (mlp_s) on the SSEM's easy embedding", complex="MLP (mlp_c) on the SSEM's hard embedding")
class TF4CTR(CTRModel):
    """Twin Focus framework with MLP encoders (Eq. 6): returns the fused, simple and complex logits.

    Checked logit for logit against the authors' ``TF4CTRv2`` (salmon1802/TF4CTR,
    TF4CTR_torch/src/TF4CTRv2.py) for every SSEM × DFM, see tests/test_parity_tf4ctr.py; their
    SSM/DFM "none" branches (share_bottom, sum_fusion) are our Share and Sum. One deliberate
    difference: with ``dfm="VF"`` the authors draw Gumbel noise at evaluation too; we evaluate
    with the deterministic softmax(π/τ) unless ``vf_eval="gumbel"`` (see ``VotingFusion``).
    """

    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int, settings: TF4CTRSettings):
        super().__init__()
        s = settings
        self.ssem = make_sample_selection(s.ssem, vocab_sizes, s.embedding_dim, num_numeric, s.dropout, s.batch_norm)
        self.simple_encoder = MLP(self.ssem.easy_dim, s.mlp_s, dropout=s.dropout, batch_norm=s.batch_norm)
        self.complex_encoder = MLP(self.ssem.hard_dim, s.mlp_c, dropout=s.dropout, batch_norm=s.batch_norm)
        self.simple_head = linear(self.simple_encoder.output_dim, 1)   # W_s
        self.complex_head = linear(self.complex_encoder.output_dim, 1)  # W_c
        self.fusion = make_fusion(s.dfm, self.simple_encoder.output_dim, self.complex_encoder.output_dim, s.vf_tau, s.vf_eval)

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        h_es, h_hs = self.ssem(x_cat, x_num)
        h_s = self.simple_encoder(h_es)
        h_c = self.complex_encoder(h_hs)
        z_s = self.simple_head(h_s).squeeze(-1)
        z_c = self.complex_head(h_c).squeeze(-1)
        return ModelOutput(self.fusion(h_s, h_c, z_s, z_c), z_s, z_c)
