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

from tfbench.models.base import ComplexMLPSettings, CTRModel, register
from tfbench.models.interactions import FirstOrder
from tfbench.models.layers import MLP, FieldEmbedding
from tfbench.models.output import ModelOutput
from tfbench.models.tf4ctr_plugin import PluginParts, PluginSettings, SharedBottom


class WideDeepSettings(ComplexMLPSettings):
    pass


class PluginWide(nn.Module):
    """The plug-in's simple encoder: h_s = [Σ_f w_{f,x_f}] on the raw features (no SSEM, no bias)."""

    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int):
        super().__init__()
        self.wide = FirstOrder(vocab_sizes, num_numeric, bias=False)

    def forward(self, x_cat, x_num, easy):
        return self.wide(x_cat, x_num).unsqueeze(-1)


def plugin_parts(vocab_sizes: Sequence[int], num_numeric: int, s: WideDeepSettings, plugin: PluginSettings) -> PluginParts:
    bottom = SharedBottom(vocab_sizes, s.embedding_dim, num_numeric)
    explicit = PluginWide(vocab_sizes, num_numeric)
    d = (len(vocab_sizes) + num_numeric) * s.embedding_dim
    dnn = MLP(d, s.mlp_c, output_dim=1, dropout=s.dropout, batch_norm=s.batch_norm)
    # the authors' WSF reads the wide term as z_s directly; their other DFMs put a fc1 on it
    return PluginParts(bottom, explicit, dnn, simple_width=1, simple_head=plugin.dfm != "WSF")


@register("widedeep", settings=WideDeepSettings, plugin=plugin_parts, plugin_settings=PluginSettings,
          description="Wide & Deep: a wide first-order term and a deep MLP, logits summed (--tf4ctr: DFM, no SSEM)",
          simple="wide first-order linear term", complex="deep MLP (mlp_c)")
class WideDeep(CTRModel):
    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int, settings: WideDeepSettings):
        super().__init__()
        s = settings
        self.embedding = FieldEmbedding(vocab_sizes, s.embedding_dim, num_numeric)
        self.wide = FirstOrder(vocab_sizes, num_numeric, bias=False)
        d = (len(vocab_sizes) + num_numeric) * s.embedding_dim
        self.deep = MLP(d, s.mlp_c, output_dim=1, dropout=s.dropout, batch_norm=s.batch_norm)

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        emb = self.embedding(x_cat, x_num).flatten(1)
        z_s = self.wide(x_cat, x_num)
        z_c = self.deep(emb).squeeze(-1)
        return ModelOutput(z_s + z_c, z_s, z_c)
