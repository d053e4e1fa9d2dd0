"""DNN: one MLP on the flattened field embedding (a single-stream model; the plain deep baseline)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.layers import MLP, FieldEmbedding
from tfbench.models.output import ModelOutput


class DNN(nn.Module):
    """embedding → MLP(``mlp_c``) → 1 logit. Single stream: ``simple`` and ``complex`` are None,
    so the Twin Focus loss does not apply to it."""

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
        d = self.embedding.num_fields * embedding_dim
        self.dnn = MLP(d, mlp_c, output_dim=1, dropout=dropout, batch_norm=batch_norm)

    @property
    def embeddings(self) -> list[FieldEmbedding]:
        return [self.embedding]

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        h = self.embedding(x_cat, x_num).flatten(1)
        return ModelOutput(self.dnn(h).squeeze(-1))
