"""TF4CTR as a plug-in of a parallel baseline (paper §III-G, last paragraph; §IV-B4, Table VIII).

DeepFM, Wide & Deep and xDeepFM take ``tf4ctr=True`` (``--tf4ctr``). Their explicit component
becomes TF4CTR's simple encoder and their DNN's hidden layers its complex encoder; a Dynamic Fusion
Module replaces the logit sum at the top, and the run's loss defaults to the Twin Focus loss on
the two heads' logits z_s, z_c. Each follows the authors' own plug-in class (salmon1802/TF4CTR,
TF4CTR_torch/src/TF4CTRv2_{DeepFM,WideDeep,xDeepFM}.py), checked logit for logit in
tests/test_parity_plugin.py:

  the DFM block   h_s, h_c = the two encoders' outputs; z_s = fc1(h_s), z_c = fc2(h_c) (fc2 = the
                  DNN's 1-unit output layer); logit = DFM(h_s, h_c, z_s, z_c) (+ a term outside it)

  deepfm    SSEM (ssem) at the bottom. h_s = [FM(x, h_es)] (1-dim): the first-order term with its
            bias plus the FM's second-order term, which the authors compute on the SSEM's *flat*
            easy vector h_es ∈ R^{F·d_es} — each coordinate a "field" of dimension 1, and the
            per-row sums added up over the batch (FuxiCTR's InnerProductInteraction on a 2-D
            input), so every row gets the same batch-level number
              FM2 = 0.5 · Σ_b [(Σ_k h_bk)² − Σ_k h_bk²];
            that is our default (``plugin_fm="authors"``, setting `plugin_fm`); ``plugin_fm="fields"`` is the textbook per-row FM over
            the F field embeddings of h_es. z_s = fc1(h_s), a Linear(1, 1). h_c = DNN(h_hs).
  widedeep  no SSEM: one embedding feeds the deep part (the authors' class builds none and ignores
            its SSM argument; so does ours with ``ssem``); h_s = z_s-input = the wide term
            Σ_f w_{f,x_f} on the raw features, without bias (their LogisticRegression(use_bias=False)).
            With WSF z_s = h_s (their WSF has no fc1); with the other DFMs z_s = fc1(h_s).
  xdeepfm   SSEM at the bottom; h_s = the CIN of the easy field embeddings [B, F, d_es], its pooled
            maps projected to mlp_c[-1] (FuxiCTR's CompressedInteractionNet(output_dim=
            hard_hidden_units[-1])); z_s = fc1(h_s). The first-order term Σ_f w_{f,x_f} (no bias)
            is added to the DFM's output, outside the DFM and outside z_s:
              logit = DFM(h_s, h_c, z_s, z_c) + Σ_f w_{f,x_f}.

Where the authors' code fails we extend it the evident way (their failures are recorded in
tests/fixtures/parity/plugin/reference_failures.json): their VF sizes W_hs by the simple
encoder's width, so DeepFM's and Wide & Deep's VF (1-dim h_s) crash there — ours sizes it by h_c;
their xDeepFM hands the CIN flat vectors for GM, MoE and Share and crashes — ours reshapes the
SSEM's easy output to [B, F, ·] fields first. VF: the authors draw Gumbel noise in evaluation too;
ours evaluates with the deterministic softmax(π/τ) (see ``VotingFusion``).

The plain models (``tf4ctr=False``) are unchanged: same modules, same initialisation order.
"""

from __future__ import annotations

import torch

from tfbench.models.layers import MLP
from tfbench.models.output import ModelOutput
from tfbench.models.tf4ctr import Fusion, SampleSelection, make_fusion, make_sample_selection

# The baselines that take ``tf4ctr=True`` (Table VIII).
PLUGIN_MODELS = ("deepfm", "widedeep", "xdeepfm")
# DeepFM's second-order term in the plug-in: the authors' (flat, batch-summed) or per-row over fields.
FM_CHOICES = ("authors", "fields")

__all__ = [
    "PLUGIN_MODELS", "FM_CHOICES", "make_sample_selection", "make_fusion", "field_inputs", "mlp_stream", "fuse",
    "flat_batch_fm",
]


def field_inputs(ssem: SampleSelection, x_cat: torch.Tensor, x_num: torch.Tensor | None):
    """The SSEM's easy and hard inputs reshaped to field embeddings [B, F, d_es] and [B, F, d]."""
    h_es, h_hs = ssem(x_cat, x_num)
    f = ssem.embeddings[0].num_fields
    return h_es.reshape(h_es.shape[0], f, -1), h_hs.reshape(h_hs.shape[0], f, -1)


def mlp_stream(mlp: MLP, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(last hidden representation, logit [B]) of an MLP built with ``output_dim=1``."""
    layers = list(mlp)
    for layer in layers[:-1]:
        x = layer(x)
    return x, layers[-1](x).squeeze(-1)


def flat_batch_fm(h: torch.Tensor) -> torch.Tensor:
    """The authors' DeepFM plug-in's second-order term on a flat [B, K] input, broadcast to [B]:
    0.5 · Σ_b [(Σ_k h_bk)² − Σ_k h_bk²] (FuxiCTR's product_sum over dim 1 of a 2-D tensor, whose
    final ``sum(dim=-1)`` then runs over the batch)."""
    per_row = 0.5 * (h.sum(dim=1).pow(2) - h.pow(2).sum(dim=1))
    return per_row.sum().expand(h.shape[0])


def fuse(fusion: Fusion, h_s: torch.Tensor, h_c: torch.Tensor, z_s: torch.Tensor, z_c: torch.Tensor) -> ModelOutput:
    return ModelOutput(fusion(h_s, h_c, z_s, z_c), z_s, z_c)
