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
from torch import nn

from tfbench.models.interactions import LogarithmicTransform
from tfbench.models.layers import MLP, FieldEmbedding, linear
from tfbench.models.output import ModelOutput


class AFNPlus(nn.Module):
    def __init__(
        self,
        vocab_sizes: Sequence[int],
        num_numeric: int = 0,
        embedding_dim: int = 16,
        mlp_c: Sequence[int] = (400, 400, 400),
        dropout: float = 0.0,
        batch_norm: bool = False,
        afn_log_neurons: int = 1200,
        afn_hidden_units: Sequence[int] = (400, 400, 400),
        afn_dropout: float = -1.0,
        fuxictr_head: bool = False,
        **_unused,
    ):
        super().__init__()
        if afn_log_neurons < 1:
            raise ValueError(f"AFN needs at least one logarithmic neuron, got {afn_log_neurons}")
        self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        f = self.embedding.num_fields
        self.log_transform = LogarithmicTransform(f, afn_log_neurons, batch_norm=True)
        self.afn_mlp = MLP(afn_log_neurons * embedding_dim, afn_hidden_units, output_dim=1,
                           dropout=dropout if afn_dropout < 0 else afn_dropout, batch_norm=batch_norm)
        self.dnn_embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        self.dnn = MLP(f * embedding_dim, mlp_c, output_dim=1, dropout=dropout, batch_norm=batch_norm)
        self.fc = linear(2, 1) if fuxictr_head else None

    @property
    def embeddings(self) -> list[FieldEmbedding]:
        return [self.embedding, self.dnn_embedding]

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        z_s = self.afn_mlp(self.log_transform(self.embedding(x_cat, x_num))).squeeze(-1)
        z_c = self.dnn(self.dnn_embedding(x_cat, x_num).flatten(1)).squeeze(-1)
        if self.fc is not None:
            w, b = self.fc.weight[0], self.fc.bias[0] / 2
            z_s, z_c = w[0] * z_s + b, w[1] * z_c + b
        return ModelOutput(z_s + z_c, z_s, z_c)
