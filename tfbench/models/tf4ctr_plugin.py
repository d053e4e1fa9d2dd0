"""TF4CTR as a plug-in of a parallel baseline (paper §III-G, last paragraph; §IV-B4, Table VIII).

DeepFM, Wide & Deep and xDeepFM take ``tf4ctr=True`` (``--tf4ctr``). ``TF4CTRPlugin`` is a
composition: the host model's module supplies its parts (``PluginParts``: the bottom embedding,
its explicit component and its DNN), which become TF4CTR's simple and complex encoders; a Dynamic
Fusion Module replaces the logit sum at the top, and the run's loss defaults to the Twin Focus
loss on the two heads' logits z_s, z_c. The host classes themselves know nothing of the plug-in. Each follows the authors' own plug-in class (salmon1802/TF4CTR,
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

The parts are created in the order the hosts' plug-in classes created them before the
composition (bottom, explicit part, DNN, then fc1 and the DFM), so a seed gives the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import torch
from torch import nn

from tfbench.models.base import CTRModel
from tfbench.models.layers import MLP, FieldEmbedding, linear
from tfbench.models.output import ModelOutput
from tfbench.models.tf4ctr import Fusion, SampleSelection, TwinModuleSettings, make_fusion, make_sample_selection
from tfbench.schema import setting

# DeepFM's second-order term in the plug-in: the authors' (flat, batch-summed) or per-row over fields.
FM_CHOICES = ("authors", "fields")


class PluginSettings(TwinModuleSettings):
    """The plug-in's SSEM and DFM (``tf4ctr: true``); Wide & Deep builds no SSEM and ignores ``ssem``
    (as the authors' class), which stays in its key as before."""


class DeepFMPluginSettings(PluginSettings):
    plugin_fm: Literal["authors", "fields"] = setting(
        "authors", "deepfm --tf4ctr, FM term: authors (the authors' TF4CTRv2_DeepFM: one number per batch) "
        "or fields (per-row FM over the field embeddings)", key_omit_default=True)


@dataclass
class PluginParts:
    """What a host model hands the plug-in, built in this order by the host's ``plugin`` builder."""

    bottom: nn.Module        # (x_cat, x_num) -> (easy input, hard input), both flat [B, ·]
    explicit: nn.Module      # (x_cat, x_num, easy input) -> h_s [B, simple_width]
    dnn: MLP                 # the host's DNN on the hard input, with its 1-unit output layer
    simple_width: int        # width of h_s
    simple_head: bool = True  # False: z_s = h_s (the authors' Wide & Deep with WSF has no fc1)


class SharedBottom(nn.Module):
    """No SSEM (Wide & Deep): one field embedding feeds the DNN; the explicit part reads the raw features."""

    def __init__(self, vocab_sizes: Sequence[int], dim: int, num_numeric: int):
        super().__init__()
        self.embedding = FieldEmbedding(vocab_sizes, dim, num_numeric)

    def forward(self, x_cat, x_num):
        return None, self.embedding(x_cat, x_num).flatten(1)


def ssem_bottom(plugin: PluginSettings, vocab_sizes: Sequence[int], num_numeric: int, settings) -> SampleSelection:
    return make_sample_selection(plugin.ssem, vocab_sizes, settings.embedding_dim, num_numeric,
                                 settings.dropout, settings.batch_norm)


class TF4CTRPlugin(CTRModel):
    """A host's explicit part and DNN as TF4CTR's two encoders, under the host's bottom and a DFM.

    z_s = fc1(h_s) (or h_s), (h_c, z_c) = the DNN's last hidden layer and output;
    logit = DFM(h_s, h_c, z_s, z_c) + the explicit part's ``outside`` term where it has one
    (xDeepFM's first-order logit, added outside the DFM as the authors do).
    """

    def __init__(self, parts: PluginParts, plugin: PluginSettings):
        super().__init__()
        self.bottom = parts.bottom
        self.explicit = parts.explicit
        self.dnn = parts.dnn
        self.simple_head = linear(parts.simple_width, 1) if parts.simple_head else None  # the authors' DFM fc1
        hidden = list(self.dnn)[-1].in_features  # h_c: the DNN's last hidden layer, the input of its output layer
        self.fusion = make_fusion(plugin.dfm, parts.simple_width, hidden, plugin.vf_tau, plugin.vf_eval)
        self.plugin = plugin

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:
        easy, hard = self.bottom(x_cat, x_num)
        h_s = self.explicit(x_cat, x_num, easy)
        z_s = (h_s if self.simple_head is None else self.simple_head(h_s)).squeeze(-1)
        h_c, z_c = mlp_stream(self.dnn, hard)
        logit = self.fusion(h_s, h_c, z_s, z_c)
        outside = getattr(self.explicit, "outside", None)
        if outside is not None:
            logit = logit + outside(x_cat, x_num)
        return ModelOutput(logit, z_s, z_c)


def build_plugin(builder: Callable[..., PluginParts], vocab_sizes, num_numeric, settings, plugin: PluginSettings) -> TF4CTRPlugin:
    model = TF4CTRPlugin(builder(vocab_sizes, num_numeric, settings, plugin), plugin)
    model.settings = settings
    return model


def easy_fields(h_es: torch.Tensor, num_fields: int) -> torch.Tensor:
    """The SSEM's flat easy input as field embeddings [B, F, d_es]."""
    return h_es.reshape(h_es.shape[0], num_fields, -1)


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


__all__ = [
    "FM_CHOICES", "PluginSettings", "DeepFMPluginSettings", "PluginParts", "SharedBottom", "ssem_bottom",
    "TF4CTRPlugin", "build_plugin", "easy_fields", "mlp_stream", "flat_batch_fm", "Fusion",
]
