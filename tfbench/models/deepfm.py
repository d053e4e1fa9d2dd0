"""DeepFM (Guo et al. 2017), in FuxiCTR's form: an FM and a DNN sharing one field embedding,
their logits summed.

Streams for the Twin Focus loss (as in the TF4CTR authors' TF4CTRv2_DeepFM, whose easy encoder is
the FM and hard encoder the MLP):
  simple  z_s = FM = b + Σ_f w_{f, x_f} + Σ_{i<j} <v_i, v_j>   (first + second order)
  complex z_c = DNN = MLP(``mlp_c``)(flattened embedding) → 1
  logit   = z_s + z_c

With ``tf4ctr=True`` (Table VIII, as the authors' TF4CTRv2_DeepFM): an SSEM at the bottom; the
simple encoder is the FM on the SSEM's easy output, h_s = [FM] (by default the authors'
batch-summed second-order term on the flat easy vector, see ``tf4ctr_plugin``), z_s = fc1(h_s) a
Linear(1, 1); the complex encoder is the DNN's hidden layers on the hard output, z_c its output
layer; a DFM fuses them.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.interactions import FirstOrder, fm_second_order
from tfbench.models.layers import MLP, FieldEmbedding, linear
from tfbench.models.output import ModelOutput
from tfbench.models.tf4ctr_plugin import (
    FM_CHOICES, flat_batch_fm, fuse, make_fusion, make_sample_selection, mlp_stream,
)


class DeepFM(nn.Module):
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
        vf_eval: str = "softmax",
        plugin_fm: str = "authors",
        **_unused,
    ):
        super().__init__()
        if plugin_fm not in FM_CHOICES:
            raise ValueError(f"plugin_fm must be one of {', '.join(FM_CHOICES)}, got {plugin_fm!r}")
        self.tf4ctr = tf4ctr
        self.fm = plugin_fm
        if tf4ctr:
            self.ssem = make_sample_selection(ssem, vocab_sizes, embedding_dim, num_numeric, dropout, batch_norm)
        else:
            self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        self.first_order = FirstOrder(vocab_sizes, num_numeric)
        d = (len(vocab_sizes) + num_numeric) * embedding_dim
        self.dnn = MLP(d, mlp_c, output_dim=1, dropout=dropout, batch_norm=batch_norm)
        if tf4ctr:
            self.simple_head = linear(1, 1)  # the authors' DFM fc1 on the FM's output
            self.fusion = make_fusion(dfm, 1, list(mlp_c)[-1], vf_tau, vf_eval)

    @property
    def embeddings(self) -> list[FieldEmbedding]:
        bottom = list(self.ssem.embeddings) if self.tf4ctr else [self.embedding]
        return [*bottom, self.first_order.weights]

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        if self.tf4ctr:
            h_es, h_hs = self.ssem(x_cat, x_num)
            if self.fm == "authors":
                second = flat_batch_fm(h_es)
            else:
                second = fm_second_order(h_es.reshape(h_es.shape[0], self.ssem.embeddings[0].num_fields, -1))
            h_s = (self.first_order(x_cat, x_num) + second).unsqueeze(-1)
            z_s = self.simple_head(h_s).squeeze(-1)
            h_c, z_c = mlp_stream(self.dnn, h_hs)
            return fuse(self.fusion, h_s, h_c, z_s, z_c)
        emb = self.embedding(x_cat, x_num)
        z_s = self.first_order(x_cat, x_num) + fm_second_order(emb)
        z_c = self.dnn(emb.flatten(1)).squeeze(-1)
        return ModelOutput(z_s + z_c, z_s, z_c)
