"""Wide & Deep (Cheng et al. 2016), in FuxiCTR's (2.3.10, PyTorch) form: a linear (wide) part and
an MLP (deep) part, their logits summed.

Streams for the Twin Focus loss (the reading of paper §III, which likens the simple encoder to
the Wide part and the complex one to the Deep part):
  simple  z_s = wide = Σ_f w_{f, x_f}     (first-order term, its own dim-1 table, no bias: FuxiCTR's
                                           LogisticRegression(use_bias=False); the deep part's
                                           output layer holds the model's bias)
  complex z_c = deep = MLP(``mlp_c``)(flattened embedding) → 1
  logit   = z_s + z_c

With ``tf4ctr=True`` (Table VIII, as the authors' TF4CTRv2_WideDeep): no SSEM — the one embedding
feeds the deep part, whose hidden layers are the complex encoder (z_c = its output layer); the
wide term is the simple encoder, h_s = [Σ_f w_{f,x_f}]; with WSF z_s = that term itself, with the
other DFMs z_s = fc1(h_s), a Linear(1, 1); a DFM fuses them. ``ssem`` is accepted and ignored, as
the authors' class ignores its SSM argument. See ``tf4ctr_plugin``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.interactions import FirstOrder
from tfbench.models.layers import MLP, FieldEmbedding, linear
from tfbench.models.output import ModelOutput
from tfbench.models.tf4ctr_plugin import fuse, make_fusion, mlp_stream


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
        vf_eval: str = "softmax",
        **_unused,
    ):
        super().__init__()
        self.tf4ctr = tf4ctr
        self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        self.wide = FirstOrder(vocab_sizes, num_numeric, bias=False)
        d = (len(vocab_sizes) + num_numeric) * embedding_dim
        self.deep = MLP(d, mlp_c, output_dim=1, dropout=dropout, batch_norm=batch_norm)
        if tf4ctr:
            # the authors' WSF reads the wide term as z_s directly; their other DFMs put a fc1 on it
            self.simple_head = None if dfm == "WSF" else linear(1, 1)
            self.fusion = make_fusion(dfm, 1, list(mlp_c)[-1], vf_tau, vf_eval)

    @property
    def embeddings(self) -> list[FieldEmbedding]:
        return [self.embedding, self.wide.weights]

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        emb = self.embedding(x_cat, x_num).flatten(1)
        if self.tf4ctr:
            h_s = self.wide(x_cat, x_num).unsqueeze(-1)
            z_s = h_s.squeeze(-1) if self.simple_head is None else self.simple_head(h_s).squeeze(-1)
            h_c, z_c = mlp_stream(self.deep, emb)
            return fuse(self.fusion, h_s, h_c, z_s, z_c)
        z_s = self.wide(x_cat, x_num)
        z_c = self.deep(emb).squeeze(-1)
        return ModelOutput(z_s + z_c, z_s, z_c)
