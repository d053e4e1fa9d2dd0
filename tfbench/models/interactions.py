"""Explicit feature-interaction layers of the baseline zoo: the first-order (linear) term, the
FM second-order term, and the DCN / DCNv2 cross layers.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.layers import FieldEmbedding


class FirstOrder(nn.Module):
    """The linear term b + Σ_f w_{f, x_f} (+ Σ_k value_k · w_k for numeric fields) → [B].

    One scalar weight per feature value, held in a ``FieldEmbedding`` of dimension 1 (so it is
    initialised N(0, 1e-4) and falls under the embedding regulariser, like FuxiCTR's
    LogisticRegression layer), and a global bias initialised to 0.
    """

    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int = 0):
        super().__init__()
        self.weights = FieldEmbedding(vocab_sizes, 1, num_numeric)
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> torch.Tensor:
        return self.weights(x_cat, x_num).sum(dim=(1, 2)) + self.bias


def fm_second_order(emb: torch.Tensor) -> torch.Tensor:
    """Σ_{i<j} <v_i, v_j> for field embeddings [B, F, D] → [B], by the O(F·D) identity
    0.5 · Σ_d ((Σ_i v_id)² − Σ_i v_id²)."""
    square_of_sum = emb.sum(dim=1).pow(2)
    sum_of_square = emb.pow(2).sum(dim=1)
    return 0.5 * (square_of_sum - sum_of_square).sum(dim=-1)


class CrossLayer(nn.Module):
    """One DCN cross layer (Wang et al. 2017): x_{l+1} = x_0 · (x_l^T w) + b + x_l.

    w ∈ R^D (Xavier-normal, as a 1-output linear map without bias), b ∈ R^D (zeros).
    """

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Linear(dim, 1, bias=False)
        self.bias = nn.Parameter(torch.zeros(dim))
        nn.init.xavier_normal_(self.weight.weight)

    def forward(self, x0: torch.Tensor, xl: torch.Tensor) -> torch.Tensor:
        return x0 * self.weight(xl) + self.bias + xl


class CrossLayerV2(nn.Module):
    """One full-rank DCNv2 cross layer (Wang et al. 2021): x_{l+1} = x_0 ⊙ (W x_l + b) + x_l.

    W ∈ R^{D×D} Xavier-normal, b zeros.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim)
        nn.init.xavier_normal_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x0: torch.Tensor, xl: torch.Tensor) -> torch.Tensor:
        return x0 * self.linear(xl) + xl


class CrossNetwork(nn.Module):
    """A stack of cross layers applied to x_0 ([B, D] → [B, D]); ``version`` 1 = DCN, 2 = DCNv2."""

    def __init__(self, dim: int, num_layers: int, version: int = 1):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"a cross network needs at least one layer, got {num_layers}")
        layer = {1: CrossLayer, 2: CrossLayerV2}[version]
        self.layers = nn.ModuleList([layer(dim) for _ in range(num_layers)])
        self.output_dim = dim

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for layer in self.layers:
            x = layer(x0, x)
        return x
