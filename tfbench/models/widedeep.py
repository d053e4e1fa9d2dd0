"""Wide & Deep (Cheng et al. 2016), in FuxiCTR's form: a linear (wide) part and an MLP (deep)
part, their logits summed.

Streams for the Twin Focus loss (the reading of paper §III, which likens the simple encoder to
the Wide part and the complex one to the Deep part):
  simple  z_s = wide = b + Σ_f w_{f, x_f}          (first-order term, its own dim-1 table)
  complex z_c = deep = MLP(``mlp_c``)(flattened embedding) → 1
  logit   = z_s + z_c
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.interactions import FirstOrder
from tfbench.models.layers import MLP, FieldEmbedding
from tfbench.models.output import ModelOutput


class WideDeep(nn.Module):
    def __init__(
        self,
        vocab_sizes: Sequence[int],
        num_numeric: int = 0,
        embedding_dim: int = 16,
        mlp_c: Sequence[int] = (400, 400, 400),
        dropout: float = 0.0,
        batch_norm: bool = False,
        **_unused,
    ):
        super().__init__()
        self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        self.wide = FirstOrder(vocab_sizes, num_numeric)
        d = self.embedding.num_fields * embedding_dim
        self.deep = MLP(d, mlp_c, output_dim=1, dropout=dropout, batch_norm=batch_norm)

    @property
    def embeddings(self) -> list[FieldEmbedding]:
        return [self.embedding, self.wide.weights]

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        z_s = self.wide(x_cat, x_num)
        z_c = self.deep(self.embedding(x_cat, x_num).flatten(1)).squeeze(-1)
        return ModelOutput(z_s + z_c, z_s, z_c)
