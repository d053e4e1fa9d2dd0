"""Wide & Deep (Cheng et al. 2016), in FuxiCTR's form: a linear (wide) part and an MLP (deep)
part, their logits summed.

Streams for the Twin Focus loss (the reading of paper §III, which likens the simple encoder to
the Wide part and the complex one to the Deep part):
  simple  z_s = wide = b + Σ_f w_{f, x_f}          (first-order term, its own dim-1 table)
  complex z_c = deep = MLP(``mlp_c``)(flattened embedding) → 1
  logit   = z_s + z_c

With ``tf4ctr=True`` (Table VIII) the wide part is a linear layer over the SSEM's easy input,
z_s = u^T h_es + b (a first-order term factored through the easy embedding), the deep part reads
the hard input, and a DFM fuses the two logits (h_s = [z_s]); see ``tf4ctr_plugin``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.interactions import FirstOrder
from tfbench.models.layers import MLP, FieldEmbedding, linear
from tfbench.models.output import ModelOutput
from tfbench.models.tf4ctr_plugin import fuse, make_fusion, make_sample_selection, mlp_stream


class WideDeep(nn.Module):
    def __init__(
        self,
        vocab_sizes: Sequence[int],
        num_numeric: int = 0,
        embedding_dim: int = 16,
        mlp_c: Sequence[int] = (400, 400, 400),
        dropout: float = 0.0,
        batch_norm: bool = False,
        tf4ctr: bool = False,
        ssem: str = "SER",
        dfm: str = "WSF",
        vf_tau: float = 0.8,
        **_unused,
    ):
        super().__init__()
        self.tf4ctr = tf4ctr
        if tf4ctr:
            self.ssem = make_sample_selection(ssem, vocab_sizes, embedding_dim, num_numeric, dropout, batch_norm)
            self.wide = linear(self.ssem.easy_dim, 1)
        else:
            self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
            self.wide = FirstOrder(vocab_sizes, num_numeric)
        d = (len(vocab_sizes) + num_numeric) * embedding_dim
        self.deep = MLP(d, mlp_c, output_dim=1, dropout=dropout, batch_norm=batch_norm)
        if tf4ctr:
            self.fusion = make_fusion(dfm, 1, list(mlp_c)[-1], vf_tau)

    @property
    def embeddings(self) -> list[FieldEmbedding]:
        if self.tf4ctr:
            return list(self.ssem.embeddings)
        return [self.embedding, self.wide.weights]

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        if self.tf4ctr:
            h_es, h_hs = self.ssem(x_cat, x_num)
            z_s = self.wide(h_es).squeeze(-1)
            h_c, z_c = mlp_stream(self.deep, h_hs)
            return fuse(self.fusion, z_s.unsqueeze(-1), h_c, z_s, z_c)
        z_s = self.wide(x_cat, x_num)
        z_c = self.deep(self.embedding(x_cat, x_num).flatten(1)).squeeze(-1)
        return ModelOutput(z_s + z_c, z_s, z_c)
