"""EDCN (Chen et al. 2021, "Enhancing Explicit and Implicit Feature Interactions via Information
Sharing for Parallel Deep CTR Models"), in FuxiCTR's form: a cross stream and a deep stream of
``num_cross_layers`` layers each, exchanging information through bridge and regulation modules.

    (c_0, h_0) = Regulation_1(x_0),   x_0 = the flattened field embedding (width d = F·D)
    layer i = 1 … L:  c_i = CrossLayer_i(c_1', c_{i-1}),   h_i = ReLU(W_i h_{i-1} + b_i)
                      (c_1' = the cross input of the first layer, FuxiCTR's cross_0)
                      f_i = Bridge_i(c_i, h_i);  if i < L:  (c_i, h_i) ← Regulation_{i+1}(f_i)

Bridges are ``edcn_bridge`` (default hadamard_product: f = c ⊙ h); regulation gates are
field-wise softmax(w / ``edcn_tau``) (default τ = 1), followed by BatchNorm when batch_norm is on.
The deep layers are d wide (the bridge needs equal widths) with the run's dropout and no
BatchNorm, so ``mlp_c`` and ``mlp_s`` are not used. The cross layers are FuxiCTR's
CrossInteraction, c_i = c_1' · (c_{i-1}^T w_i) + b_i, without DCN's + c_{i-1}.

FuxiCTR's output is one linear layer over [c_L ‖ h_L ‖ f_L], logit = w_c^T c_L + w_h^T h_L +
w_f^T f_L + b. Streams for the Twin Focus loss:
  simple  z_s = w_s^T c_L + b_s                  (cross stream, own linear head)
  complex z_c = w_c^T h_L + w_f^T f_L + b_c      (deep stream and the last bridge, own head; the
                                                  bridge term has no bias of its own)
  logit   = z_s + z_c
the same function as FuxiCTR's head with one redundant bias (FuxiCTR's (w_c, w_h, w_f, b) maps
onto ours as (w_s, b_s) = (w_c, b), (w_c, w_f, b_c) = (w_h, w_f, 0)); the last bridge's term goes
to the complex stream, so that the simple logit is the cross stream's own read-out.
The three weight vectors start as one Xavier-normal draw over 3·d split in three, FuxiCTR's
initialisation of fc. ``fuxictr_head=True`` builds FuxiCTR's single head instead (bias 0),
z_s = w_c^T c_L + b/2, z_c = w_h^T h_L + w_f^T f_L + b/2.

Departure: attention_pooling gives each stream its own attention network, as in the paper;
FuxiCTR builds two and applies the first to both streams (see ``BridgeModule``). The studies use
the default hadamard_product bridge.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import nn

from tfbench.models.base import ComplexMLPSettings, CTRModel, ModelSettings, register
from tfbench.schema import setting
from tfbench.models.dcn import split_head
from tfbench.models.interactions import BridgeModule, CrossLayer, RegulationModule
from tfbench.models.layers import MLP, FieldEmbedding, linear
from tfbench.models.output import ModelOutput


class EDCNSettings(ModelSettings):
    num_cross_layers: int = setting(3, "Cross and deep layers (EDCN's deep layers are F·D wide; it has no mlp_c)", ge=1)
    edcn_bridge: Literal["hadamard_product", "pointwise_addition", "concatenation", "attention_pooling"] = setting(
        "hadamard_product", "Bridge module between the cross and the deep layers")
    edcn_tau: float = setting(1.0, "Temperature of the regulation gates", gt=0.0)
    fuxictr_head: bool = setting(False, "FuxiCTR's one output layer over the three streams instead of one head per stream",
                                 key_omit_default=True)


@register("edcn", settings=EDCNSettings, description="EDCN: cross and deep streams with bridge and regulation modules, logits summed",
          simple="cross layers + head", complex="deep layers and bridges + heads")
class EDCN(CTRModel):
    def __init__(self, vocab_sizes: Sequence[int], num_numeric: int, settings: EDCNSettings):
        super().__init__()
        embedding_dim = settings.embedding_dim
        dropout = settings.dropout
        batch_norm = settings.batch_norm
        num_cross_layers = settings.num_cross_layers
        edcn_bridge = settings.edcn_bridge
        edcn_tau = settings.edcn_tau
        fuxictr_head = settings.fuxictr_head
        self.embedding = FieldEmbedding(vocab_sizes, embedding_dim, num_numeric)
        f = self.embedding.num_fields
        d = f * embedding_dim
        self.cross_layers = nn.ModuleList([CrossLayer(d, residual=False) for _ in range(num_cross_layers)])
        self.deep_layers = nn.ModuleList([MLP(d, [d], dropout=dropout) for _ in range(num_cross_layers)])
        self.bridges = nn.ModuleList([BridgeModule(d, edcn_bridge) for _ in range(num_cross_layers)])
        self.regulations = nn.ModuleList([
            RegulationModule(f, embedding_dim, tau=edcn_tau, batch_norm=batch_norm) for _ in range(num_cross_layers)
        ])
        self.fuxictr_head = fuxictr_head
        if fuxictr_head:
            self.fc = linear(3 * d, 1)
        else:
            self.cross_head = linear(d, 1)
            self.deep_head = linear(d, 1)
            self.bridge_head = nn.Linear(d, 1, bias=False)
            # the three weight vectors are the slices of one Xavier-normal draw over 3·d, as
            # FuxiCTR's fc (each head's own Xavier scale would weigh every stream ~1.7× more)
            w = nn.init.xavier_normal_(torch.empty(1, 3 * d))
            with torch.no_grad():
                for head, part in zip((self.cross_head, self.deep_head, self.bridge_head), w.split(d, dim=1)):
                    head.weight.copy_(part)

    def streams(
        self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The last cross and deep hidden vectors and the last bridge's output (c_L, h_L, f_L), each [B, F·D]."""
        c, h = self.regulations[0](self.embedding(x_cat, x_num).flatten(1))
        c0 = c
        last = len(self.cross_layers) - 1
        for i, (cross, deep, bridge) in enumerate(zip(self.cross_layers, self.deep_layers, self.bridges)):
            c, h = cross(c0, c), deep(h)
            f = bridge(c, h)
            if i < last:
                c, h = self.regulations[i + 1](f)
        return c, h, f

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        c, h, f = self.streams(x_cat, x_num)
        if self.fuxictr_head:
            z_s, z_c = split_head(self.fc, c, h, f)
        else:
            z_s = self.cross_head(c).squeeze(-1)
            z_c = (self.deep_head(h) + self.bridge_head(f)).squeeze(-1)
        return ModelOutput(z_s + z_c, z_s, z_c)
