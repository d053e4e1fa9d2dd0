"""GDCN (Wang et al. 2023, "Towards Deeper, Lighter and Interpretable Cross Network for CTR
Prediction"), the parallel structure (the paper's GDCN-P), in the logits-summed form of
``tfbench.models.dcn``.

Gated cross layer l (the paper's eq. 1), on the flattened field embedding c_0 (width d = F·D):

    c_{l+1} = c_0 ⊙ (W_l^{(c)} c_l + b_l) ⊙ σ(W_l^{(g)} c_l) + c_l

W^{(c)}_l, W^{(g)}_l ∈ R^{d×d} (Xavier-normal), b_l ∈ R^d, σ the sigmoid: DCNv2's full-rank
cross term, scaled elementwise by an information gate computed from the same c_l.

Streams for the Twin Focus loss:
  simple  z_s = w_s^T GCN(c_0) + b_s          (``num_cross_layers`` gated cross layers, own head)
  complex z_c = MLP(``mlp_c``)(c_0) → 1       (the DNN, own output layer)
  logit   = z_s + z_c

The paper's GDCN-P (and FuxiCTR's ``GDCNP``) concatenates c_L and the last DNN hidden layer h_L
and applies one output layer, logit = w_c^T c_L + w_h^T h_L + b; as in ``tfbench.models.dcn`` we
keep two heads so that the Twin Focus loss has z_s and z_c. FuxiCTR's fc = [w_c ‖ w_h], b maps
onto ours as cross_head = (w_c, b), the DNN's output layer = (w_h, 0), which gives the same
logits (tests/test_parity_gdcn.py). ``fuxictr_head=True`` builds FuxiCTR's output layer instead:
one Linear over [c_L ‖ h_L] (Xavier-normal over that width, bias 0) and a DNN without its own
output layer, z_s = w_c^T c_L + b/2, z_c = w_h^T h_L + b/2.

b_l starts U(0, 1), FuxiCTR's initialisation of its cross biases (DCN/DCNv2's start at 0).
The stacked structure (GDCN-S, FuxiCTR's class ``GDCN``: the DNN on top of the cross network,
one logit) has no separate simple and complex logits and is not implemented. The paper's
field-wise embedding dimensions are not implemented either (one ``embedding_dim`` for all fields).
"""

from __future__ import annotations


import torch
from torch import nn

from tfbench.models.base import register
from tfbench.models.dcn import DCN, DCNSettings
from tfbench.models.interactions import CrossNetwork


class GatedCrossLayer(nn.Module):
    """One gated cross layer: c_{l+1} = c_0 ⊙ (W c_l + b) ⊙ σ(W_g c_l) + c_l.

    ``cross`` holds W (Xavier-normal) and b (U(0, 1)); ``gate`` holds W_g (Xavier-normal, no bias).
    """

    def __init__(self, dim: int):
        super().__init__()
        self.cross = nn.Linear(dim, dim)
        self.gate = nn.Linear(dim, dim, bias=False)
        nn.init.xavier_normal_(self.cross.weight)
        nn.init.uniform_(self.cross.bias)
        nn.init.xavier_normal_(self.gate.weight)

    def forward(self, x0: torch.Tensor, xl: torch.Tensor) -> torch.Tensor:
        return x0 * self.cross(xl) * torch.sigmoid(self.gate(xl)) + xl


class GDCNSettings(DCNSettings):
    """DCN's settings: embedding, DNN (mlp_c), num_cross_layers (here gated cross layers), fuxictr_head."""


@register("gdcn", settings=GDCNSettings,
          description="GDCN (GDCN-P), parallel: a gated cross network and a DNN on one embedding, logits summed",
          simple="gated cross network (num_cross_layers) + linear head", complex="DNN (mlp_c)")
class GDCN(DCN):
    """DCN's parallel structure, heads and ``fuxictr_head`` (see ``tfbench.models.dcn``) around a
    gated cross network."""

    def cross_network(self, dim: int, num_layers: int) -> nn.Module:
        return CrossNetwork(dim, num_layers, layer=GatedCrossLayer)
