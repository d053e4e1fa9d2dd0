"""AFN+ (Cheng et al. 2020, "Adaptive Factorization Network"): AFN's logarithmic transformation
layer and MLP, ensembled with a DNN on a separate embedding (FuxiCTR's AFN, ensemble_dnn=True).

Streams for the Twin Focus loss:
  simple  z_s = MLP(``afn_hidden_units``)(LogTransform(E_afn)) → 1
              (``afn_log_neurons`` logarithmic neurons y_{l,d} = exp(Σ_f w_{l,f} ln|e_{f,d}|),
              with BatchNorm on ln|e| and on y, as in FuxiCTR; see
              ``tfbench.models.interactions.LogarithmicTransform``)
  complex z_c = MLP(``mlp_c``)(flattened E_dnn) → 1   (E_dnn: the DNN's own embedding table)
  logit   = z_s + z_c

Departure: FuxiCTR combines the two outputs with a learned Linear(2, 1), ŷ = σ(a·z_afn +
b·z_dnn + c). Each of z_afn and z_dnn is already the output of a linear layer with a bias, so
a·z_afn and b·z_dnn + c are again such outputs: the plain sum spans the same functions, and it
gives the Twin Focus loss two logits whose sum is the model's logit, like every parallel model
here. The sum drops those 3 redundant parameters (FuxiCTR's (a, b, c) maps onto ours by scaling
the AFN MLP's output layer by a, the DNN's by b and adding c to the AFN MLP's output bias: the
same logits, tests/test_parity_cross.py). ``fuxictr_head=True`` builds FuxiCTR's Linear(2, 1)
(Xavier-normal, bias 0) instead, with z_s = a·z_afn + c/2 and z_c = b·z_dnn + c/2.

Both MLPs take the run's batch_norm. The DNN takes the run's dropout (FuxiCTR's dnn_dropout),
the AFN MLP ``afn_dropout`` (FuxiCTR's afn_dropout; −1, the default, means the run's dropout
too). Defaults: 1200 logarithmic neurons and an AFN MLP of [400, 400, 400] (FuxiCTR's AFN config
template; its code default is 5 neurons and [64, 64, 64]).
"""

from __future__ import annotations

from typing import Sequence

import torch
from pydantic import field_validator, model_validator
from torch import nn

from tfbench.models.base import ComplexMLPSettings, CTRModel, ModelSettings, register
from tfbench.schema import Units, setting
from tfbench.models.interactions import LogarithmicTransform
from tfbench.models.layers import MLP, FieldEmbedding, linear
from tfbench.models.output import ModelOutput


class AFNSettings(ComplexMLPSettings):
    afn_log_neurons: int = setting(1200, "Logarithmic neurons", ge=1)
    afn_hidden_units: Units = setting((400, 400, 400), "Hidden units of the MLP after the logarithmic layer")
    afn_dropout: float = setting(-1.0, "Dropout of the MLP after the logarithmic layer; -1: the run's dropout", key_omit_default=True)
    fuxictr_head: bool = setting(False, "FuxiCTR's Linear(2, 1) over both streams instead of one head per stream",
                                 key_omit_default=True)

    @field_validator("afn_dropout")
    @classmethod
    def _dropout_or_minus_one(cls, v: float) -> float:
        if not (v == -1.0 or 0.0 <= v < 1.0):
            raise ValueError(f"must be in [0, 1), or -1 for the run's dropout, got {v}")
        return v


@register("afn+", settings=AFNSettings, description="AFN+: logarithmic neurons + MLP and a DNN on its own embedding, logits summed",
          simple="logarithmic neurons (afn_log_neurons) + MLP (afn_hidden_units)", complex="DNN (mlp_c) on its own embedding")
class AFNPlus(CTRModel):
    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int, settings: AFNSettings):
        super().__init__()
        embedding_dim = settings.embedding_dim
        mlp_c = settings.mlp_c
        afn_hidden_units = settings.afn_hidden_units
        dropout = settings.dropout
        batch_norm = settings.batch_norm
        afn_log_neurons = settings.afn_log_neurons
        afn_dropout = settings.afn_dropout
        fuxictr_head = settings.fuxictr_head
        self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        f = self.embedding.num_fields
        self.log_transform = LogarithmicTransform(f, afn_log_neurons, batch_norm=True)
        self.afn_mlp = MLP(afn_log_neurons * embedding_dim, afn_hidden_units, output_dim=1,
                           dropout=dropout if afn_dropout < 0 else afn_dropout, batch_norm=batch_norm)
        self.dnn_embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        self.dnn = MLP(f * embedding_dim, mlp_c, output_dim=1, dropout=dropout, batch_norm=batch_norm)
        self.fc = linear(2, 1) if fuxictr_head else None

    def afn_mlp_on_neurons(self, y: torch.Tensor) -> torch.Tensor:
        """afn_mlp(y flattened neuron-major) for y [B, D, L], without materialising that flattening
        (a copy of B·L·D values, 160 M at Frappe's settings, and another in the backward pass): the
        first layer's weight columns are permuted to y's own dimension-major order instead."""
        first = self.afn_mlp[0]
        b, d, n = y.shape
        weight = first.weight.view(-1, n, d).transpose(1, 2).reshape(-1, d * n)
        h = nn.functional.linear(y.reshape(b, d * n), weight, first.bias)
        for layer in list(self.afn_mlp)[1:]:
            h = layer(h)
        return h

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        z_s = self.afn_mlp_on_neurons(self.log_transform.neurons(self.embedding(x_cat, x_num))).squeeze(-1)
        z_c = self.dnn(self.dnn_embedding(x_cat, x_num).flatten(1)).squeeze(-1)
        if self.fc is not None:
            w, b = self.fc.weight[0], self.fc.bias[0] / 2
            z_s, z_c = w[0] * z_s + b, w[1] * z_c + b
        return ModelOutput(z_s + z_c, z_s, z_c)
