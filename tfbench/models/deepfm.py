"""DeepFM (Guo et al. 2017), in FuxiCTR's form: an FM and a DNN sharing one field embedding,
their logits summed.

Streams for the Twin Focus loss (as in the TF4CTR authors' TF4CTRv2_DeepFM, whose easy encoder is
the FM and hard encoder the MLP):
  simple  z_s = FM = b + Σ_f w_{f, x_f} + Σ_{i<j} <v_i, v_j>   (first + second order)
  complex z_c = DNN = MLP(``mlp_c``)(flattened embedding) → 1
  logit   = z_s + z_c
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.interactions import FirstOrder, fm_second_order
from tfbench.models.layers import MLP, FieldEmbedding
from tfbench.models.output import ModelOutput


class DeepFM(nn.Module):
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
        self.first_order = FirstOrder(vocab_sizes, num_numeric)
        d = self.embedding.num_fields * embedding_dim
        self.dnn = MLP(d, mlp_c, output_dim=1, dropout=dropout, batch_norm=batch_norm)

    @property
    def embeddings(self) -> list[FieldEmbedding]:
        return [self.embedding, self.first_order.weights]

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        emb = self.embedding(x_cat, x_num)
        z_s = self.first_order(x_cat, x_num) + fm_second_order(emb)
        z_c = self.dnn(emb.flatten(1)).squeeze(-1)
        return ModelOutput(z_s + z_c, z_s, z_c)
