"""DCNv2 (Wang et al. 2021, "DCN V2") with full-rank cross layers, in the parallel,
logits-summed form of ``tfbench.models.dcn``.

Streams for the Twin Focus loss:
  simple  z_s = w_s^T CrossNetV2(x_0) + b_s   (x_{l+1} = x_0 ⊙ (W_l x_l + b_l) + x_l, own head)
  complex z_c = MLP(``mlp_c``)(x_0) → 1
  logit   = z_s + z_c

FuxiCTR's DCNv2 "parallel" structure concatenates the two streams before one output layer
(and offers stacked and low-rank mixture variants); we keep the two heads separate so that the
Twin Focus loss has z_s and z_c (see ``tfbench.models.dcn``; ``fuxictr_head=True`` builds
FuxiCTR's one output layer over [x_L ‖ h_L] instead). Only the full-rank cross layer
(FuxiCTR's CrossNetV2, use_low_rank_mixture=False) is implemented.
"""

from __future__ import annotations

from tfbench.models.base import register
from tfbench.models.dcn import DCN, DCNSettings


@register("dcnv2", settings=DCNSettings,
          description="DCNv2 (full-rank), parallel: a cross network v2 and a DNN on one embedding, logits summed",
          simple="cross network v2 (num_cross_layers) + linear head", complex="DNN (mlp_c)")
class DCNv2(DCN):
    cross_version = 2
