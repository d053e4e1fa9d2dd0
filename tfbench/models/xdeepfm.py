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

from tfbench.models.base import ComplexMLPSettings, CTRModel, register
from tfbench.models.interactions import CompressedInteractionNetwork, FirstOrder
from tfbench.models.layers import MLP, FieldEmbedding, linear
from tfbench.models.output import ModelOutput
from tfbench.models.tf4ctr_plugin import PluginParts, PluginSettings, easy_fields, ssem_bottom
from tfbench.schema import Units, setting


class XDeepFMSettings(ComplexMLPSettings):
    cin_layers: Units = setting((16, 16), "Feature maps of each CIN layer, e.g. 16,16")


class PluginCIN(nn.Module):
    """The plug-in's simple encoder: the CIN of the easy field embeddings, projected to the DNN's
    last hidden width; the first-order term (no bias) is added outside the DFM (``outside``)."""

    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int, cin_layers: Sequence[int], width: int):
        super().__init__()
        self.first_order = FirstOrder(vocab_sizes, num_numeric, bias=False)
        self.num_fields = len(vocab_sizes) + num_numeric
        self.cin = CompressedInteractionNetwork(self.num_fields, cin_layers)
        self.cin_head = linear(self.cin.output_dim, width)

    def forward(self, x_cat, x_num, h_es):
        return self.cin_head(self.cin(easy_fields(h_es, self.num_fields)))

    def outside(self, x_cat, x_num):
        return self.first_order(x_cat, x_num)


def plugin_parts(vocab_sizes: Sequence[int], num_numeric: int, s: XDeepFMSettings, plugin: PluginSettings) -> PluginParts:
    bottom = ssem_bottom(plugin, vocab_sizes, num_numeric, s)
    f = len(vocab_sizes) + num_numeric
    hidden = list(s.mlp_c)[-1] if s.mlp_c else f * s.embedding_dim  # h_c's width (the DNN's input without hidden layers)
    explicit = PluginCIN(vocab_sizes, num_numeric, s.cin_layers, hidden)
    dnn = MLP(f * s.embedding_dim, s.mlp_c, output_dim=1, dropout=s.dropout, batch_norm=s.batch_norm)
    return PluginParts(bottom, explicit, dnn, simple_width=hidden)


@register("xdeepfm", settings=XDeepFMSettings, plugin=plugin_parts, plugin_settings=PluginSettings,
          description="xDeepFM: first-order term + CIN and a DNN, logits summed (--tf4ctr: SSEM + DFM)",
          simple="first-order term + CIN (cin_layers) + linear head", complex="DNN (mlp_c)")
class XDeepFM(CTRModel):
    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int, settings: XDeepFMSettings):
        super().__init__()
        s = settings
        self.embedding = FieldEmbedding(vocab_sizes, s.embedding_dim, num_numeric)
        self.first_order = FirstOrder(vocab_sizes, num_numeric, bias=False)
        f = len(vocab_sizes) + num_numeric
        self.cin = CompressedInteractionNetwork(f, s.cin_layers)
        self.cin_head = linear(self.cin.output_dim, 1)
        self.dnn = MLP(f * s.embedding_dim, s.mlp_c, output_dim=1, dropout=s.dropout, batch_norm=s.batch_norm)

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        emb = self.embedding(x_cat, x_num)
        z_s = self.first_order(x_cat, x_num) + self.cin_head(self.cin(emb)).squeeze(-1)
        z_c = self.dnn(emb.flatten(1)).squeeze(-1)
        return ModelOutput(z_s + z_c, z_s, z_c)
