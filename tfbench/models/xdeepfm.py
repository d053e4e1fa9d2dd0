"""xDeepFM (Lian et al. 2018): a linear term, a Compressed Interaction Network (CIN) and a DNN
on one shared field embedding, their logits summed (FuxiCTR's xDeepFM).

Streams for the Twin Focus loss (as in the TF4CTR authors' TF4CTRv2_xDeepFM, whose easy encoder
is the CIN and hard encoder the MLP):
  simple  z_s = Σ_f w_{f, x_f} + w_cin^T [p^1 ‖ … ‖ p^K] + b   (first-order term + CIN head;
              p^k = layer k's feature maps sum-pooled over the embedding dimension,
              K = len(``cin_layers``))
  complex z_c = MLP(``mlp_c``)(flattened embedding) → 1
  logit   = z_s + z_c

The first-order term has no bias of its own (FuxiCTR's LogisticRegression(use_bias=False));
the CIN head's bias b is the explicit stream's only bias. FuxiCTR's code default for the CIN
layers is [16, 16, 16] (its config template uses [32, 32, 32] at embedding 40 and the TF4CTR
authors' xDeepFM run on Frappe [64, 64]); ours is [16, 16], two layers of 16 maps.

With ``tf4ctr=True`` (Table VIII, as the authors' TF4CTRv2_xDeepFM): an SSEM at the bottom; the
simple encoder is the CIN on the easy field embeddings with its head widened to mlp_c[-1],
h_s = W p + b (FuxiCTR's CompressedInteractionNet(output_dim=hard_hidden_units[-1])), and
z_s = fc1(h_s); the complex encoder is the DNN's hidden layers on the hard input, z_c its output
layer; a DFM fuses them and the first-order term is added outside it:
logit = DFM(h_s, h_c, z_s, z_c) + Σ_f w_{f, x_f}. See ``tf4ctr_plugin``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.interactions import CompressedInteractionNetwork, FirstOrder
from tfbench.models.layers import MLP, FieldEmbedding, linear
from tfbench.models.output import ModelOutput
from tfbench.models.tf4ctr_plugin import field_inputs, make_fusion, make_sample_selection, mlp_stream


class XDeepFM(nn.Module):
    def __init__(
        self,
        vocab_sizes: Sequence[int],
        num_numeric: int = 0,
        embedding_dim: int = 16,
        mlp_c: Sequence[int] = (400, 400, 400),
        dropout: float = 0.0,
        batch_norm: bool = False,
        cin_layers: Sequence[int] = (16, 16),
        tf4ctr: bool = False,
        ssem: str = "SER",
        dfm: str = "WSF",
        vf_tau: float = 0.8,
        vf_eval: str = "softmax",
        **_unused,
    ):
        super().__init__()
        self.tf4ctr = tf4ctr
        if tf4ctr:
            self.ssem = make_sample_selection(ssem, vocab_sizes, embedding_dim, num_numeric, dropout, batch_norm)
        else:
            self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        self.first_order = FirstOrder(vocab_sizes, num_numeric, bias=False)
        f = len(vocab_sizes) + num_numeric
        self.cin = CompressedInteractionNetwork(f, cin_layers)
        # the DNN's last hidden width (its input width when mlp_c is empty): the plug-in's h_c
        hidden = list(mlp_c)[-1] if len(mlp_c) else f * embedding_dim
        # plain: the CIN's 1-unit head; plug-in: the CIN's projection to the DNN's width (h_s)
        self.cin_head = linear(self.cin.output_dim, hidden if tf4ctr else 1)
        self.dnn = MLP(f * embedding_dim, mlp_c, output_dim=1, dropout=dropout, batch_norm=batch_norm)
        if tf4ctr:
            self.simple_head = linear(hidden, 1)  # the authors' DFM fc1
            self.fusion = make_fusion(dfm, hidden, hidden, vf_tau, vf_eval)

    @property
    def embeddings(self) -> list[FieldEmbedding]:
        bottom = list(self.ssem.embeddings) if self.tf4ctr else [self.embedding]
        return [*bottom, self.first_order.weights]

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        if self.tf4ctr:
            emb_es, emb_hs = field_inputs(self.ssem, x_cat, x_num)
            h_s = self.cin_head(self.cin(emb_es))
            z_s = self.simple_head(h_s).squeeze(-1)
            h_c, z_c = mlp_stream(self.dnn, emb_hs.flatten(1))
            logit = self.fusion(h_s, h_c, z_s, z_c) + self.first_order(x_cat, x_num)
            return ModelOutput(logit, z_s, z_c)
        emb = self.embedding(x_cat, x_num)
        z_s = self.first_order(x_cat, x_num) + self.cin_head(self.cin(emb)).squeeze(-1)
        z_c = self.dnn(emb.flatten(1)).squeeze(-1)
        return ModelOutput(z_s + z_c, z_s, z_c)
