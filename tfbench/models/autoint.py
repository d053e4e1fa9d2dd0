"""AutoInt+ (Song et al. 2019): AutoInt's stack of interacting (multi-head self-attention)
layers over the field embeddings, plus a DNN, on one shared embedding, their logits summed
(FuxiCTR's AutoInt with a DNN and without the wide term).

Streams for the Twin Focus loss:
  simple  z_s = w^T flatten(Attn_L(… Attn_1(E))) + b   (``attention_layers`` interacting layers of
              width ``attention_dim`` with ``num_heads`` heads, own linear head)
  complex z_c = MLP(``mlp_c``)(flattened embedding) → 1
  logit   = z_s + z_c

Each interacting layer is ``tfbench.models.interactions.InteractingLayer``: residual connection
(projected by W_res only where the widths differ, i.e. in the first layer when
embedding_dim ≠ attention_dim), ReLU after the residual sum, dropout on the attention weights,
unscaled dot products unless ``attention_scale`` (FuxiCTR's use_scale=False), a LayerNorm before
that ReLU with ``attention_layer_norm`` (FuxiCTR's layer_norm). Defaults: 2 layers (FuxiCTR's code
default), 2 heads and width 40 (FuxiCTR's AutoInt config template). FuxiCTR's optional wide
(logistic-regression) term (use_wide) is not built: the Frappe setting in BARS leaves it off.
"""

from __future__ import annotations

from typing import Sequence

import torch
from pydantic import field_validator, model_validator
from torch import nn

from tfbench.models.base import ComplexMLPSettings, CTRModel, ModelSettings, register
from tfbench.schema import setting
from tfbench.models.interactions import InteractingLayer
from tfbench.models.layers import MLP, FieldEmbedding, linear
from tfbench.models.output import ModelOutput


class AutoIntSettings(ComplexMLPSettings):
    attention_layers: int = setting(2, "Interacting (self-attention) layers", ge=1)
    num_heads: int = setting(2, "Attention heads per layer", ge=1)
    attention_dim: int = setting(40, "Width of an interacting layer, all heads together; a multiple of num_heads", ge=1)
    attention_scale: bool = setting(False, "Divide attention scores by sqrt(head size)")
    attention_layer_norm: bool = setting(False, "LayerNorm in every interacting layer", key_omit_default=True)

    @model_validator(mode="after")
    def _heads_divide_width(self):
        if self.attention_dim % self.num_heads:
            raise ValueError(f"attention_dim must be a multiple of num_heads ({self.num_heads}), got {self.attention_dim}")
        return self


@register("autoint+", settings=AutoIntSettings, description="AutoInt+: multi-head self-attention layers and a DNN, logits summed",
          simple="self-attention layers + linear head", complex="DNN (mlp_c)")
class AutoIntPlus(CTRModel):
    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int, settings: AutoIntSettings):
        super().__init__()
        embedding_dim = settings.embedding_dim
        mlp_c = settings.mlp_c
        dropout = settings.dropout
        batch_norm = settings.batch_norm
        attention_layers = settings.attention_layers
        num_heads = settings.num_heads
        attention_dim = settings.attention_dim
        attention_scale = settings.attention_scale
        attention_layer_norm = settings.attention_layer_norm
        self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        f = self.embedding.num_fields
        self.attention = nn.Sequential(*[
            InteractingLayer(embedding_dim if i == 0 else attention_dim, attention_dim, num_heads,
                             dropout=dropout, scale=attention_scale, layer_norm=attention_layer_norm)
            for i in range(attention_layers)
        ])
        self.attention_head = linear(f * attention_dim, 1)
        self.dnn = MLP(f * embedding_dim, mlp_c, output_dim=1, dropout=dropout, batch_norm=batch_norm)

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        emb = self.embedding(x_cat, x_num)
        z_s = self.attention_head(self.attention(emb).flatten(1)).squeeze(-1)
        z_c = self.dnn(emb.flatten(1)).squeeze(-1)
        return ModelOutput(z_s + z_c, z_s, z_c)
