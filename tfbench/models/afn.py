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
here. The sum drops those 3 redundant parameters.

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
from tfbench.models.layers import MLP, FieldEmbedding
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

    @property
    def embeddings(self) -> list[FieldEmbedding]:
        return [self.embedding, self.dnn_embedding]

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        z_s = self.afn_mlp(self.log_transform(self.embedding(x_cat, x_num))).squeeze(-1)
        z_c = self.dnn(self.dnn_embedding(x_cat, x_num).flatten(1)).squeeze(-1)
        return ModelOutput(z_s + z_c, z_s, z_c)
