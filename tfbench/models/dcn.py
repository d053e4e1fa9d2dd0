"""DCN (Wang et al. 2017, "Deep & Cross Network") in a parallel, logits-summed form.

Streams for the Twin Focus loss:
  simple  z_s = w_s^T CrossNet(x_0) + b_s     (``num_cross_layers`` cross layers, own linear head)
  complex z_c = MLP(``mlp_c``)(x_0) → 1       (the DNN, own output layer)
  logit   = z_s + z_c,    x_0 = the flattened field embedding

Note: FuxiCTR's DCN (and the original paper) instead concatenates the cross-network output and
the last DNN hidden layer and applies one output layer to [x_L ‖ h_L]. That single head has no
separate z_s and z_c, which the Twin Focus loss needs; we follow the TF4CTR authors' framing of
Table V's base models as parallel models whose two encoders each produce a logit, fused by
summation (paper §III-H: "in most CTR models with parallel structures, a simple logical sum
fusion ... ŷ = σ(z_s + z_c)"). The sum of two linear heads spans the same function
class as one linear head over the concatenation, so only the parameterisation differs
(one extra bias, and the Xavier scale of each head, drawn over its own fan-in): FuxiCTR's
fc = [w_x ‖ w_h], b maps onto ours as cross_head = (w_x, b), the DNN's output layer = (w_h, 0),
which gives the same logits (tests/test_parity_cross.py).

``fuxictr_head=True`` builds FuxiCTR's output layer instead: one Linear over [x_L ‖ h_L]
(Xavier-normal over that width, bias 0) and a DNN without its own output layer; z_s and z_c are
then its two parts, z_s = w_x^T x_L + b/2, z_c = w_h^T h_L + b/2 (the bias halved between them).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.base import ComplexMLPSettings, CTRModel, ModelSettings, register
from tfbench.schema import setting
from tfbench.models.interactions import CrossNetwork
from tfbench.models.layers import MLP, FieldEmbedding, linear
from tfbench.models.output import ModelOutput


class DCNSettings(ComplexMLPSettings):
    num_cross_layers: int = setting(3, "Cross layers", ge=1)
    fuxictr_head: bool = setting(False, "FuxiCTR's one output layer over both streams instead of one head per stream",
                                 key_omit_default=True)


@register("dcn", settings=DCNSettings, description="DCN, parallel: a cross network and a DNN on one embedding, logits summed",
          simple="cross network (num_cross_layers) + linear head", complex="DNN (mlp_c)")
class DCN(CTRModel):
    cross_version = 1

    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int, settings: DCNSettings):
        super().__init__()
        embedding_dim = settings.embedding_dim
        mlp_c = settings.mlp_c
        dropout = settings.dropout
        batch_norm = settings.batch_norm
        num_cross_layers = settings.num_cross_layers
        fuxictr_head = settings.fuxictr_head
        self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        d = self.embedding.num_fields * embedding_dim
        self.cross = self.cross_network(d, num_cross_layers)
        self.fuxictr_head = fuxictr_head
        if fuxictr_head:
            self.dnn = MLP(d, mlp_c, dropout=dropout, batch_norm=batch_norm)
            self.fc = linear(d + self.dnn.output_dim, 1)
        else:
            self.cross_head = linear(d, 1)
            self.dnn = MLP(d, mlp_c, output_dim=1, dropout=dropout, batch_norm=batch_norm)

    def cross_network(self, dim: int, num_layers: int) -> nn.Module:
        """The simple stream's cross network ([B, d] → [B, d]); DCNv2 and GDCN build theirs."""
        return CrossNetwork(dim, num_layers, version=self.cross_version)

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        x0 = self.embedding(x_cat, x_num).flatten(1)
        if self.fuxictr_head:
            z_s, z_c = split_head(self.fc, self.cross(x0), self.dnn(x0))
        else:
            z_s = self.cross_head(self.cross(x0)).squeeze(-1)
            z_c = self.dnn(x0).squeeze(-1)
        return ModelOutput(z_s + z_c, z_s, z_c)


def split_head(fc: nn.Linear, *streams: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """FuxiCTR's one output layer fc([s ‖ c_1 ‖ …]) split into (z_s, z_c) = (w_s^T s + b/2,
    Σ_k w_k^T c_k + b/2): the first stream is the simple part, the others the complex part."""
    w, b = fc.weight[0], fc.bias[0] / 2
    parts, start = [], 0
    for x in streams:
        parts.append(x @ w[start:start + x.shape[-1]])
        start += x.shape[-1]
    return parts[0] + b, sum(parts[1:]) + b
