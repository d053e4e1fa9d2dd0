"""DualMLP (Mao et al. 2023, FuxiCTR's DualMLP): two parallel MLP streams over one shared
embedding, their logits summed.

For the Twin Focus loss the first stream (``mlp_s``) is the simple encoder and the second
(``mlp_c``) the complex one, so the same model serves as a Table V base model.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.base import ComplexMLPSettings, CTRModel, ModelSettings, register
from tfbench.schema import HiddenUnits, setting
from tfbench.models.layers import MLP, FieldEmbedding
from tfbench.models.output import ModelOutput


class DualMLPSettings(ComplexMLPSettings):
    mlp_s: HiddenUnits = setting((400,), "Hidden units of the simple stream, e.g. 400")


@register("dualmlp", settings=DualMLPSettings, description="DualMLP: two parallel MLP streams on a shared embedding, logits summed",
          simple="MLP (mlp_s)", complex="MLP (mlp_c)")
class DualMLP(CTRModel):
    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int, settings: DualMLPSettings):
        super().__init__()
        embedding_dim = settings.embedding_dim
        mlp_s = settings.mlp_s
        mlp_c = settings.mlp_c
        dropout = settings.dropout
        batch_norm = settings.batch_norm
        self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        d = self.embedding.num_fields * embedding_dim
        self.stream_s = MLP(d, mlp_s, output_dim=1, dropout=dropout, batch_norm=batch_norm)
        self.stream_c = MLP(d, mlp_c, output_dim=1, dropout=dropout, batch_norm=batch_norm)

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        h = self.embedding(x_cat, x_num).flatten(1)
        z_s = self.stream_s(h).squeeze(-1)
        z_c = self.stream_c(h).squeeze(-1)
        return ModelOutput(z_s + z_c, z_s, z_c)
