"""DNN: one MLP on the flattened field embedding (a single-stream model; the plain deep baseline)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.base import ComplexMLPSettings, CTRModel, ModelSettings, register
from tfbench.models.layers import MLP, FieldEmbedding
from tfbench.models.output import ModelOutput


class DNNSettings(ComplexMLPSettings):
    pass


@register("dnn", settings=DNNSettings, description="DNN: one MLP (mlp_c) on the flattened embedding; single stream (no z_s/z_c)")
class DNN(CTRModel):
    """embedding → MLP(``mlp_c``) → 1 logit. Single stream: ``simple`` and ``complex`` are None,
    so the Twin Focus loss does not apply to it."""

    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int, settings: DNNSettings):
        super().__init__()
        embedding_dim = settings.embedding_dim
        mlp_c = settings.mlp_c
        dropout = settings.dropout
        batch_norm = settings.batch_norm
        self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        d = self.embedding.num_fields * embedding_dim
        self.dnn = MLP(d, mlp_c, output_dim=1, dropout=dropout, batch_norm=batch_norm)

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        h = self.embedding(x_cat, x_num).flatten(1)
        return ModelOutput(self.dnn(h).squeeze(-1))
