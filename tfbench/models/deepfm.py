"""DeepFM (Guo et al. 2017), in FuxiCTR's form: an FM and a DNN sharing one field embedding,
their logits summed.

Streams for the Twin Focus loss (as in the TF4CTR authors' TF4CTRv2_DeepFM, whose easy encoder is
the FM and hard encoder the MLP):
  simple  z_s = FM = b + Σ_f w_{f, x_f} + Σ_{i<j} <v_i, v_j>   (first + second order)
  complex z_c = DNN = MLP(``mlp_c``)(flattened embedding) → 1
  logit   = z_s + z_c

With ``tf4ctr=True`` (Table VIII, as the authors' TF4CTRv2_DeepFM; ``plugin_parts`` below, composed
by ``tf4ctr_plugin.TF4CTRPlugin``): an SSEM at the bottom; the simple encoder is the FM on the SSEM's easy output, h_s = [FM] (by default the authors'
batch-summed second-order term on the flat easy vector, see ``tf4ctr_plugin``), z_s = fc1(h_s) a
Linear(1, 1); the complex encoder is the DNN's hidden layers on the hard output, z_c its output
layer; a DFM fuses them.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.base import ComplexMLPSettings, CTRModel, register
from tfbench.models.interactions import FirstOrder, fm_second_order
from tfbench.models.layers import MLP, FieldEmbedding
from tfbench.models.output import ModelOutput
from tfbench.models.tf4ctr_plugin import DeepFMPluginSettings, PluginParts, easy_fields, flat_batch_fm, ssem_bottom


class DeepFMSettings(ComplexMLPSettings):
    pass


class PluginFM(nn.Module):
    """The plug-in's simple encoder: h_s = [first order + FM second order on the SSEM's easy input]."""

    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int, num_fields: int, fm: str):
        super().__init__()
        self.first_order = FirstOrder(vocab_sizes, num_numeric)
        self.num_fields, self.fm = num_fields, fm

    def forward(self, x_cat, x_num, h_es):
        if self.fm == "authors":
            second = flat_batch_fm(h_es)
        else:
            second = fm_second_order(easy_fields(h_es, self.num_fields))
        return (self.first_order(x_cat, x_num) + second).unsqueeze(-1)


def plugin_parts(vocab_sizes: Sequence[int], num_numeric: int, s: DeepFMSettings, plugin: DeepFMPluginSettings) -> PluginParts:
    bottom = ssem_bottom(plugin, vocab_sizes, num_numeric, s)
    explicit = PluginFM(vocab_sizes, num_numeric, bottom.embeddings[0].num_fields, plugin.plugin_fm)
    d = (len(vocab_sizes) + num_numeric) * s.embedding_dim
    dnn = MLP(d, s.mlp_c, output_dim=1, dropout=s.dropout, batch_norm=s.batch_norm)
    return PluginParts(bottom, explicit, dnn, simple_width=1)


@register("deepfm", settings=DeepFMSettings, plugin=plugin_parts, plugin_settings=DeepFMPluginSettings,
          description="DeepFM: an FM and a DNN on a shared embedding, logits summed (--tf4ctr: SSEM + DFM)",
          simple="FM (first + second order)", complex="DNN (mlp_c)")
class DeepFM(CTRModel):
    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int, settings: DeepFMSettings):
        super().__init__()
        s = settings
        self.embedding = FieldEmbedding(vocab_sizes, s.embedding_dim, num_numeric)
        self.first_order = FirstOrder(vocab_sizes, num_numeric)
        d = (len(vocab_sizes) + num_numeric) * s.embedding_dim
        self.dnn = MLP(d, s.mlp_c, output_dim=1, dropout=s.dropout, batch_norm=s.batch_norm)

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        emb = self.embedding(x_cat, x_num)
        z_s = self.first_order(x_cat, x_num) + fm_second_order(emb)
        z_c = self.dnn(emb.flatten(1)).squeeze(-1)
        return ModelOutput(z_s + z_c, z_s, z_c)
