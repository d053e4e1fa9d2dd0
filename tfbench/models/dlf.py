"""DLF (Wang et al. 2025, "DLF: Enhancing Explicit-Implicit Interaction via Dynamic Low-Order-Aware
Fusion for CTR Prediction", arXiv 2505.19182), after the authors' code (Keffee/DLF: class ``DLF``
in models.py, ``DLFLayer`` in DLF_layers.py, run by their README as ``--expid DLF_default``).

The embedding E^(1) = E [B, F, D] is a set of F tokens; layer l maps n tokens E^(l) [B, n, D] to
n' = k_lcb + 2·k_fmb tokens, all of width D (T(x; W) below is a linear map over the token axis,
T(x; W)[b, j, :] = Σ_i W_ij x[b, i, :], no bias):

  low-order linear block (LCB):        Z_lcb = T(E^(l); W_lcb)                     k_lcb tokens
  interaction block (FMB):             P = E^(l) · (E^(l)ᵀ W_fmb)     [B, n, r]  (inner products
                                       <e_i, e_j> compressed to rank r)
                                       Z_fmb = MLP(LayerNorm(flatten P)) → k_fmb tokens
  low-order-aware block (RLI's low-rank interaction with the input embedding):
                                       P⁰ = X⁰ · (E^(l)ᵀ W_x0),  X⁰ = E^(1), or T(E^(1); W_0)
                                       when n ≠ F (layers after the first)
                                       Z_x0 = MLP'(LayerNorm'(flatten P⁰)) → k_fmb tokens
  fusion:                              E^(l+1) = LayerNorm_D([Z_fmb ‖ Z_x0 ‖ Z_lcb] + R(E^(l)))
                                       with R = T(·; W_res) when n ≠ n', else the identity.

Every explicit product (FMB, and the cross products with the first-order embedding E^(1) that keep
low-order signals in every layer) is fed through an MLP (the implicit part) and fused with the
linear tokens and the residual in one normalised token set per layer; after L = ``dlf_layers``
layers the n'·D values go through an MLP head (``mlp_c``) to the logit.

Sizes (``dlf_*`` settings): k_lcb = k_fmb = ``dlf_tokens`` (32, the value the authors' main_run.py
sets; their model_config.yaml has 16), r = ``dlf_rank`` (24), the in-layer MLPs have one hidden
layer of ``dlf_hidden`` (512) units, L = ``dlf_layers`` (3, DLF_default's attention_layers).
Initialisation as there: the token maps W_* Kaiming-uniform, linear layers Xavier-normal with zero
biases.

Single stream: the low-order (LCB, low-rank x0 interaction) and high-order (FMB MLP) parts are
fused inside every layer and read by one MLP head, so there is no separate low- and high-order
logit; ``simple`` and ``complex`` are None (the Twin Focus loss does not apply).

The in-layer MLPs are Linear → BatchNorm → ReLU → Dropout(run's ``dropout``) → Linear whatever the
run's ``batch_norm`` flag, as the authors' DLF_MLP (batch norm on by default there and never turned
off). Checked against the authors' DLFLayer stack and DLF.forward in float64
(tests/test_parity_cl4ctr_dlf_losses.py).

Departures: the head is the run's MLP (``mlp_c``, default 400-400-400, with the run's batch norm and
dropout) instead of the authors' one hidden layer of 512 with batch norm (``mlp_c=[512]`` with
``--batch-norm`` is theirs); the attention
variants in the authors' code (DLF_att_cross/att_self, an extra multi-head self-attention token
block) are not built — their README's default model, ``DLF``, has none.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.base import ComplexMLPSettings, CTRModel, ModelSettings, register
from tfbench.schema import setting
from tfbench.models.layers import MLP, FieldEmbedding
from tfbench.models.output import ModelOutput


class TokenProjection(nn.Module):
    """A linear map over the token axis: [B, n_in, D] → [B, n_out, D], out_j = Σ_i W_ij x_i (no bias)."""

    def __init__(self, num_in: int, num_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_in, num_out))
        nn.init.kaiming_uniform_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bid,ij->bjd", x, self.weight)


class LowRankInteraction(nn.Module):
    """DLF's factorization-machine block: P = A · (Xᵀ W) ∈ [B, n, r] (A = X for the FMB, A = X⁰ for the
    low-order-aware block), then LayerNorm → MLP → [B, num_out, D]."""

    def __init__(self, num_in: int, num_out: int, dim: int, rank: int, hidden: int,
                 dropout: float = 0.0, batch_norm: bool = True):
        super().__init__()
        self.num_out, self.dim = num_out, dim
        self.weight = nn.Parameter(torch.empty(num_in, rank))
        nn.init.kaiming_uniform_(self.weight)
        self.norm = nn.LayerNorm(num_in * rank)
        self.mlp = MLP(num_in * rank, [hidden], output_dim=num_out * dim, dropout=dropout, batch_norm=batch_norm)

    def products(self, x: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
        """P[b, i, q] = Σ_j <left_i, x_j> W[j, q]: inner products of ``left``'s tokens with x's, compressed to rank r."""
        return torch.bmm(left, torch.einsum("bjd,jq->bdq", x, self.weight))

    def forward(self, x: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
        p = self.products(x, left).flatten(1)
        return self.mlp(self.norm(p)).view(x.shape[0], self.num_out, self.dim)


class DLFLayer(nn.Module):
    """One DLF layer: (E^(l) [B, n, D], E^(1) [B, F, D]) → E^(l+1) [B, k_lcb + 2·k_fmb, D]."""

    def __init__(self, num_fields: int, num_in: int, dim: int, num_lcb: int, num_fmb: int, rank: int,
                 hidden: int, dropout: float = 0.0, batch_norm: bool = True):
        super().__init__()
        self.num_out = num_lcb + 2 * num_fmb
        self.lcb = TokenProjection(num_in, num_lcb)
        self.fmb = LowRankInteraction(num_in, num_fmb, dim, rank, hidden, dropout, batch_norm)
        self.fmb_x0 = LowRankInteraction(num_in, num_fmb, dim, rank, hidden, dropout, batch_norm)
        self.x0_projection = TokenProjection(num_fields, num_in) if num_fields != num_in else None
        self.residual = TokenProjection(num_in, self.num_out) if num_in != self.num_out else None
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        if self.x0_projection is not None:
            x0 = self.x0_projection(x0)
        tokens = torch.cat([self.fmb(x, x), self.fmb_x0(x, x0), self.lcb(x)], dim=1)
        residual = x if self.residual is None else self.residual(x)
        return self.norm(tokens + residual)


class DLFSettings(ComplexMLPSettings):
    dlf_layers: int = setting(3, "DLF layers", ge=1)
    dlf_tokens: int = setting(32, "Output tokens of each block (linear-compress, FM, first-order-aware)", ge=1)
    dlf_rank: int = setting(24, "Rank of the FM blocks' inner-product compression", ge=1)
    dlf_hidden: int = setting(512, "Hidden units of the FM blocks' MLPs", ge=1)


@register("dlf", settings=DLFSettings, description="DLF: layers of linear-compress, FM and first-order-aware token blocks fused by residual + LayerNorm, MLP head (mlp_c); single stream")
class DLF(CTRModel):
    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int, settings: DLFSettings):
        super().__init__()
        embedding_dim = settings.embedding_dim
        mlp_c = settings.mlp_c
        dropout = settings.dropout
        batch_norm = settings.batch_norm
        dlf_layers = settings.dlf_layers
        dlf_tokens = settings.dlf_tokens
        dlf_rank = settings.dlf_rank
        dlf_hidden = settings.dlf_hidden
        self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        f = self.embedding.num_fields
        layers, n = [], f
        for _ in range(dlf_layers):
            # the in-layer MLPs always have batch norm, as the authors' DLF_MLP (its default, never overridden)
            layers.append(DLFLayer(f, n, embedding_dim, dlf_tokens, dlf_tokens, dlf_rank, dlf_hidden, dropout, True))
            n = layers[-1].num_out
        self.layers = nn.ModuleList(layers)
        self.head = MLP(n * embedding_dim, mlp_c, output_dim=1, dropout=dropout, batch_norm=batch_norm)

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        x0 = self.embedding(x_cat, x_num)
        x = x0
        for layer in self.layers:
            x = layer(x, x0)
        return ModelOutput(self.head(x.flatten(1)).squeeze(-1))
