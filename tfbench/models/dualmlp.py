"""DualMLP (Mao et al. 2023, FuxiCTR's DualMLP): two parallel MLP streams over one shared
embedding, their logits summed.

For the Twin Focus loss the first stream (``mlp_s``) is the simple encoder and the second
(``mlp_c``) the complex one, so the same model serves as a Table V base model.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.layers import MLP, FieldEmbedding
from tfbench.models.output import ModelOutput


class DualMLP(nn.Module):
    def __init__(
        self,
        vocab_sizes: Sequence[int],
        num_numeric: int = 0,
        embedding_dim: int = 16,
        mlp_s: Sequence[int] = (400, 400, 400),
        mlp_c: Sequence[int] = (400, 400, 400),
        dropout: float = 0.0,
        batch_norm: bool = False,
        **_unused,
    ):
        super().__init__()
        self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        d = self.embedding.num_fields * embedding_dim
        self.stream_s = MLP(d, mlp_s, output_dim=1, dropout=dropout, batch_norm=batch_norm)
        self.stream_c = MLP(d, mlp_c, output_dim=1, dropout=dropout, batch_norm=batch_norm)

    @property
    def embeddings(self) -> list[FieldEmbedding]:
        return [self.embedding]

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        h = self.embedding(x_cat, x_num).flatten(1)
        z_s = self.stream_s(h).squeeze(-1)
        z_c = self.stream_c(h).squeeze(-1)
        return ModelOutput(z_s + z_c, z_s, z_c)
