"""TF4CTR as a plug-in of a parallel baseline (paper §III-G, last paragraph; §IV-B4, Table VIII).

DeepFM, Wide & Deep and xDeepFM take ``tf4ctr=True`` (``--tf4ctr``). Their explicit component
becomes TF4CTR's simple encoder and their DNN its complex encoder; a Sample Selection Embedding
Module replaces the shared field embedding at the bottom and a Dynamic Fusion Module replaces
the logit sum at the top; the run's loss defaults to the Twin Focus loss:

    h_es, h_hs = SSEM(x)                               (flat vectors, as for TF4CTR itself)
    E_es = h_es as [B, F, d_es],  E_hs = h_hs as [B, F, d]
                 (d_es = d/2 for SER, whose easy embedding has half the dimension; d for GM,
                  MoE and Share. For MoE the "fields" are a reshape of the expert output.)
    simple   h_s, z_s = explicit component(E_es)
    complex  h_c = hidden layers of the DNN(E_hs),  z_c = its 1-unit output layer(h_c)
    logit    = DFM(h_s, h_c, z_s, z_c)

The DFM modules (``tfbench.models.tf4ctr``) read encoder representations h_s, h_c and logits
z_s, z_c. h_c is the DNN's last hidden layer (``mlp_c[-1]`` wide). An explicit encoder whose
only representation is its logit passes that logit as a 1-dim representation, h_s = [z_s]:

  deepfm    z_s = b + Σ_f w_{f,x_f} + Σ_{i<j} <e^es_i, e^es_j>   (first-order table + FM on E_es);
            h_s = [z_s]
  widedeep  z_s = u^T h_es + b   (the wide linear term read off the easy input; with SER it is a
            first-order term whose weight of value x in field f, <u_f, e^es_{f,x}>, is factored
            through the easy table, as expressive as the plain model's own dim-1 table);
            h_s = [z_s]
  xdeepfm   z_s = Σ_f w_{f,x_f} + w_cin^T p + b,  p = CIN(E_es) (sum-pooled maps);
            h_s = [p ‖ Σ_f w_{f,x_f}]  (the CIN's pooled maps and the first-order logit, so that
            CF / MoEF / VF see every part of z_s)

The plain models (``tf4ctr=False``) are unchanged: same modules, same initialisation order.
"""

from __future__ import annotations

import torch

from tfbench.models.layers import MLP
from tfbench.models.output import ModelOutput
from tfbench.models.tf4ctr import Fusion, SampleSelection, make_fusion, make_sample_selection

# The baselines that take ``tf4ctr=True`` (Table VIII).
PLUGIN_MODELS = ("deepfm", "widedeep", "xdeepfm")

__all__ = ["PLUGIN_MODELS", "make_sample_selection", "make_fusion", "field_inputs", "mlp_stream", "fuse"]


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


def fuse(fusion: Fusion, h_s: torch.Tensor, h_c: torch.Tensor, z_s: torch.Tensor, z_c: torch.Tensor) -> ModelOutput:
    return ModelOutput(fusion(h_s, h_c, z_s, z_c), z_s, z_c)
