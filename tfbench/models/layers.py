"""Shared building blocks: field embedding and the MLP block."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class FieldEmbedding(nn.Module):
    """Embeds F categorical fields (and K numeric fields) into [B, F+K, dim].

    All categorical fields share one table with per-field offsets, so a batch is embedded by
    a single gather. Numeric field k is embedded as value_k · v_k (FuxiCTR's convention).
    Initialised N(0, 1e-4) like FuxiCTR's embeddings, which the authors' runs use.
    """

    def __init__(self, vocab_sizes: Sequence[int], dim: int, num_numeric: int = 0):
        super().__init__()
        self.dim = dim
        self.num_fields = len(vocab_sizes) + num_numeric
        offsets = torch.tensor([0, *list(vocab_sizes)[:-1]], dtype=torch.int64).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        self.table = nn.Embedding(int(sum(vocab_sizes)), dim)
        self.numeric = nn.Parameter(torch.empty(num_numeric, dim)) if num_numeric else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.table.weight, std=1e-4)
        if self.numeric is not None:
            nn.init.normal_(self.numeric, std=1e-4)

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.table(x_cat + self.offsets)
        if self.numeric is not None and x_num is not None and x_num.shape[1] > 0:
            emb = torch.cat([emb, x_num.unsqueeze(-1) * self.numeric], dim=1)
        return emb

    def squared_norm(self) -> torch.Tensor:
        """‖E‖² over every embedding parameter (for the λ/2·‖E‖² regulariser)."""
        total = self.table.weight.pow(2).sum()
        if self.numeric is not None:
            total = total + self.numeric.pow(2).sum()
        return total


class Dropout(nn.Module):
    """Inverted dropout, the same distribution as ``nn.Dropout``.

    On the CPU, ``nn.Dropout``'s Bernoulli sampler costs more than a 400×400 layer's matmul at
    batch 10,000; thresholding uniform noise draws the same mask about twice as fast.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.is_cuda:
            return nn.functional.dropout(x, self.p, True)
        return x * ((torch.rand_like(x) >= self.p) * (1.0 / (1.0 - self.p)))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MLP(nn.Sequential):
    """[Linear → BatchNorm? → ReLU → Dropout?] per hidden layer, then an optional linear output.

    Linear weights are Xavier-normal, biases zero (FuxiCTR's reset_parameters).
    """

    def __init__(
        self,
        input_dim: int,
        hidden_units: Sequence[int],
        output_dim: int | None = None,
        dropout: float = 0.0,
        batch_norm: bool = False,
    ):
        layers: list[nn.Module] = []
        dim = input_dim
        for units in hidden_units:
            layers.append(nn.Linear(dim, units))
            if batch_norm:
                layers.append(nn.BatchNorm1d(units))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(Dropout(dropout))
            dim = units
        if output_dim is not None:
            layers.append(nn.Linear(dim, output_dim))
            dim = output_dim
        super().__init__(*layers)
        self.output_dim = dim
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)


def linear(in_dim: int, out_dim: int) -> nn.Linear:
    layer = nn.Linear(in_dim, out_dim)
    nn.init.xavier_normal_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer
