"""EDCN (Chen et al. 2021, "Enhancing Explicit and Implicit Feature Interactions via Information
Sharing for Parallel Deep CTR Models"), in FuxiCTR's form: a cross stream and a deep stream of
``num_cross_layers`` layers each, exchanging information through bridge and regulation modules.

    (c_0, h_0) = Regulation_1(x_0),   x_0 = the flattened field embedding (width d = F·D)
    layer i = 1 … L:  c_i = CrossLayer_i(c_1', c_{i-1}),   h_i = ReLU(W_i h_{i-1} + b_i)
                      (c_1' = the cross input of the first layer, FuxiCTR's cross_0)
                      if i < L:  f_i = Bridge_i(c_i, h_i);  (c_i, h_i) ← Regulation_{i+1}(f_i)

Bridges are ``edcn_bridge`` (default hadamard_product: f = c ⊙ h); regulation gates are
field-wise softmax(w / ``edcn_tau``) (default τ = 1), followed by BatchNorm when batch_norm is on.
The deep layers are d wide (the bridge needs equal widths) with the run's dropout and no
BatchNorm, so ``mlp_c`` and ``mlp_s`` are not used. The cross layers are FuxiCTR's
CrossInteraction, c_i = c_1' · (c_{i-1}^T w_i) + b_i, without DCN's + c_{i-1}.

Streams for the Twin Focus loss:
  simple  z_s = w_s^T c_L + b_s     (cross stream, own linear head)
  complex z_c = w_c^T h_L + b_c     (deep stream, own linear head)
  logit   = z_s + z_c

Departure: EDCN's output is one linear layer over [c_L ‖ h_L ‖ f_L], with a last bridge
f_L = Bridge_L(c_L, h_L). That single head has no separate z_s and z_c, so we give each stream
its own head and sum them (as for DCN, ``tfbench.models.dcn``); without a consumer the last
bridge is not built (L − 1 bridges). For the default hadamard bridge this drops the
f_L = c_L ⊙ h_L term (d weights) from the output.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tfbench.models.interactions import BridgeModule, CrossLayer, RegulationModule
from tfbench.models.layers import MLP, FieldEmbedding, linear
from tfbench.models.output import ModelOutput


class EDCN(nn.Module):
    def __init__(
        self,
        vocab_sizes: Sequence[int],
        num_numeric: int = 0,
        embedding_dim: int = 16,
        dropout: float = 0.0,
        batch_norm: bool = False,
        num_cross_layers: int = 3,
        edcn_bridge: str = "hadamard_product",
        edcn_tau: float = 1.0,
        **_unused,
    ):
        super().__init__()
        if num_cross_layers < 1:
            raise ValueError(f"EDCN needs at least one layer, got {num_cross_layers}")
        self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        f = self.embedding.num_fields
        d = f * embedding_dim
        self.cross_layers = nn.ModuleList([CrossLayer(d, residual=False) for _ in range(num_cross_layers)])
        self.deep_layers = nn.ModuleList([MLP(d, [d], dropout=dropout) for _ in range(num_cross_layers)])
        self.bridges = nn.ModuleList([BridgeModule(d, edcn_bridge) for _ in range(num_cross_layers - 1)])
        self.regulations = nn.ModuleList([
            RegulationModule(f, embedding_dim, tau=edcn_tau, batch_norm=batch_norm) for _ in range(num_cross_layers)
        ])
        self.cross_head = linear(d, 1)
        self.deep_head = linear(d, 1)

    @property
    def embeddings(self) -> list[FieldEmbedding]:
        return [self.embedding]

    def streams(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The last cross and deep hidden vectors (c_L, h_L), each [B, F·D]."""
        c, h = self.regulations[0](self.embedding(x_cat, x_num).flatten(1))
        c0 = c
        for i, (cross, deep) in enumerate(zip(self.cross_layers, self.deep_layers)):
            c, h = cross(c0, c), deep(h)
            if i < len(self.bridges):
                c, h = self.regulations[i + 1](self.bridges[i](c, h))
        return c, h

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        c, h = self.streams(x_cat, x_num)
        z_s = self.cross_head(c).squeeze(-1)
        z_c = self.deep_head(h).squeeze(-1)
        return ModelOutput(z_s + z_c, z_s, z_c)
