"""EulerNet (Tian et al., SIGIR 2023, "EulerNet: Adaptive Feature Interaction Learning via Euler's
Formula for CTR Prediction"), in the form of the authors' code (Ethan-TZ/EulerNet) and FuxiCTR's
model zoo (model_zoo/EulerNet).

Each field embedding e_f ∈ R^D is read as the phases of D complex numbers with a learnable
field-wise modulus μ_f (initialised to 1):

    z_{f,d} = μ_f · e^{i·e_{f,d}}         r = μ_f cos e_f,   p = μ_f sin e_f

An Euler interaction layer maps F_in complex "features" per embedding dimension to F_out:

  explicit part (Euler's formula turns products into sums): in polar coordinates
      λ_{i,d} = log|z_{i,d}| = ½·log(r² + p² + 1e-8),   θ_{i,d} = atan2(p, r)
      λ'_{k,d} = Σ_i α_{i,k} λ_{i,d} + b^λ_{d,k},        θ'_{k,d} = Σ_i α_{i,k} θ_{i,d} + b^θ_{d,k}
      ẑ_{k,d} = e^{λ'} (cos θ' + i sin θ')  =  e^{b^λ + i b^θ} · Π_i z_{i,d}^{α_{i,k}}
    i.e. output k is a product of the inputs with learnable (real) exponents α_{i,k}: an
    interaction of learnable, not fixed, order ("order vectors"). α is the identity when
    F_in = F_out and otherwise softmax(N(0,1)/0.01) over the inputs (a near one-hot pick per
    output), the authors' initialisation; b^λ, b^θ ~ N(0, 0.01²).
  implicit part: ReLU(W r + c) and ReLU(W p + c) on the flattened real and imaginary parts, with
    one shared linear map W ∈ R^{F_out·D × F_in·D} (Xavier-uniform, FuxiCTR's initialisation).
  output: r_out = ReLU(W r + c) + Re ẑ,  p_out = ReLU(W p + c) + Im ẑ, each followed by a
    LayerNorm over the D dimensions when ``layer_norm`` (FuxiCTR's Frappe config uses it).

Dropout ("net_ex_dropout" on λ and θ, "net_im_dropout" on r and p before W) is the run's
``dropout`` for both. The logit is w^T r_L + b + w^T p_L + b with one shared linear head (the
authors' ``re + im``; the bias counts twice, as there).

``euler_orders`` lists F_out of each layer (the authors' ``order_list``, FuxiCTR's ``shape``);
the default (52,) is FuxiCTR's EulerNet_frappe config (its code default is [3], the authors'
Criteo config [39, 39]).

Single stream: the explicit and implicit parts are summed inside every layer before the
LayerNorm and the shared head, so there is no separate explicit or implicit logit; ``simple`` and
``complex`` are None (the Twin Focus loss does not apply). Departures: the linear layers' biases
start at 0 (FuxiCTR leaves PyTorch's default uniform init on W's bias); embeddings are N(0, 1e-4)
as every model here (FuxiCTR's default too).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.base import ComplexMLPSettings, CTRModel, ModelSettings, register
from tfbench.schema import Units, setting
from tfbench.models.layers import Dropout, FieldEmbedding
from tfbench.models.output import ModelOutput


def polar(r: torch.Tensor, p: torch.Tensor, eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-modulus λ = ½·log(r² + p² + eps), phase θ = atan2(p, r)) of r + i·p, elementwise."""
    return 0.5 * torch.log(r * r + p * p + eps), torch.atan2(p, r)


class EulerInteractionLayer(nn.Module):
    """One Euler interaction layer: (r, p) of shape [B, F_in, D] → (r, p) of shape [B, F_out, D]."""

    def __init__(self, num_in: int, num_out: int, dim: int, layer_norm: bool = True, dropout: float = 0.0):
        super().__init__()
        self.num_in, self.num_out, self.dim = num_in, num_out, dim
        if num_in == num_out:
            orders = torch.eye(num_in)
        else:
            orders = torch.softmax(torch.randn(num_in, num_out) / 0.01, dim=0)
        self.orders = nn.Parameter(orders)                                  # α [F_in, F_out]
        self.bias_lam = nn.Parameter(torch.randn(dim, num_out) * 0.01)      # b^λ [D, F_out]
        self.bias_theta = nn.Parameter(torch.randn(dim, num_out) * 0.01)    # b^θ [D, F_out]
        self.implicit = nn.Linear(num_in * dim, num_out * dim)
        nn.init.xavier_uniform_(self.implicit.weight)
        nn.init.zeros_(self.implicit.bias)
        self.drop_ex = Dropout(dropout)
        self.drop_im = Dropout(dropout)
        self.norm_r = nn.LayerNorm(dim) if layer_norm else None
        self.norm_p = nn.LayerNorm(dim) if layer_norm else None

    def explicit(self, r: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Re and Im of ẑ_{k,d} = exp(Σ_i α_ik λ_id + b^λ_dk) · e^{i(Σ_i α_ik θ_id + b^θ_dk)}, [B, F_out, D]."""
        lam, theta = polar(r, p)
        lam, theta = self.drop_ex(lam), self.drop_ex(theta)
        lam = torch.einsum("bid,ik->bkd", lam, self.orders) + self.bias_lam.t()
        theta = torch.einsum("bid,ik->bkd", theta, self.orders) + self.bias_theta.t()
        modulus = torch.exp(lam)
        return modulus * torch.cos(theta), modulus * torch.sin(theta)

    def implicit_part(self, x: torch.Tensor) -> torch.Tensor:
        """ReLU(W·flatten(x) + c) reshaped to [B, F_out, D] (the same W for the real and imaginary parts)."""
        h = torch.relu(self.implicit(self.drop_im(x.flatten(1))))
        return h.view(x.shape[0], self.num_out, self.dim)

    def forward(self, r: torch.Tensor, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ex_r, ex_p = self.explicit(r, p)
        out_r = self.implicit_part(r) + ex_r
        out_p = self.implicit_part(p) + ex_p
        if self.norm_r is not None:
            out_r, out_p = self.norm_r(out_r), self.norm_p(out_p)
        return out_r, out_p


class EulerNetSettings(ModelSettings):
    # EulerNet's layers use LayerNorm and no MLP: batch_norm is not read. It stays declared (from
    # ModelSettings) because the keys of the runs stored before the settings schemas hash it.
    euler_orders: Units = setting((52,), "Order vectors of each Euler interaction layer, e.g. 52 or 30,30")


@register("eulernet", settings=EulerNetSettings, description="EulerNet: Euler interaction layers (learnable-order products in polar form) + implicit linear part; single stream")
class EulerNet(CTRModel):
    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int, settings: EulerNetSettings):
        super().__init__()
        embedding_dim = settings.embedding_dim
        euler_orders = settings.euler_orders
        dropout = settings.dropout
        layer_norm = True  # fixed, as the reference code
        self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        f = self.embedding.num_fields
        self.mu = nn.Parameter(torch.ones(f, 1))  # field-wise modulus μ_f
        widths = [f, *euler_orders]
        self.layers = nn.ModuleList([
            EulerInteractionLayer(a, b, embedding_dim, layer_norm=layer_norm, dropout=dropout)
            for a, b in zip(widths[:-1], widths[1:])
        ])
        self.head = nn.Linear(widths[-1] * embedding_dim, 1)
        nn.init.xavier_normal_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def to_complex(self, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(r, p) = (μ_f cos e, μ_f sin e): the embedding as phases with field-wise moduli."""
        return self.mu * torch.cos(emb), self.mu * torch.sin(emb)

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        r, p = self.to_complex(self.embedding(x_cat, x_num))
        for layer in self.layers:
            r, p = layer(r, p)
        logit = self.head(r.flatten(1)) + self.head(p.flatten(1))
        return ModelOutput(logit.squeeze(-1))
