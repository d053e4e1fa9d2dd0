"""Model zoo: plain nn.Modules mapping (x_cat [B,F], x_num [B,K]) to a ModelOutput of logits."""

from __future__ import annotations

from typing import Callable, Sequence

from torch import nn

from tfbench.errors import ConfigError
from tfbench.models.afn import AFNPlus
from tfbench.models.autoint import AutoIntPlus
from tfbench.models.cl4ctr import CL4CTR
from tfbench.models.dcn import DCN
from tfbench.models.dcnv2 import DCNv2
from tfbench.models.deepfm import DeepFM
from tfbench.models.dlf import DLF
from tfbench.models.dnn import DNN
from tfbench.models.dualmlp import DualMLP
from tfbench.models.edcn import EDCN
from tfbench.models.eulernet import EulerNet
from tfbench.models.interactions import BRIDGE_CHOICES
from tfbench.models.layers import FieldEmbedding
from tfbench.models.output import ModelOutput
from tfbench.models.tf4ctr import DFM_CHOICES, SSEM_CHOICES, TF4CTR, VF_EVAL_CHOICES
from tfbench.models.tf4ctr_plugin import FM_CHOICES as PLUGIN_FM_CHOICES
from tfbench.models.tf4ctr_plugin import PLUGIN_MODELS as TF4CTR_PLUGIN_MODELS
from tfbench.models.widedeep import WideDeep
from tfbench.models.xdeepfm import XDeepFM

# name -> (one-line description, builder(vocab_sizes, num_numeric, **model hyperparameters))
MODELS: dict[str, tuple[str, Callable[..., nn.Module]]] = {
    "tf4ctr": (
        "TF4CTR: SSEM (SER/GM/MoE/Share) + simple & complex MLP encoders + DFM (WSF/VF/CF/MoEF/Sum)",
        lambda vocab, num, **hp: TF4CTR(vocab, num, **hp),
    ),
    "dualmlp": (
        "DualMLP: two parallel MLP streams on a shared embedding, logits summed",
        lambda vocab, num, **hp: DualMLP(vocab, num, **hp),
    ),
    "dnn": (
        "DNN: one MLP (--mlp-c) on the flattened embedding; single stream (no z_s/z_c)",
        lambda vocab, num, **hp: DNN(vocab, num, **hp),
    ),
    "widedeep": (
        "Wide & Deep: simple = wide first-order linear term, complex = deep MLP (--mlp-c); logits summed (--tf4ctr: SSEM + DFM)",
        lambda vocab, num, **hp: WideDeep(vocab, num, **hp),
    ),
    "deepfm": (
        "DeepFM: simple = FM (first + second order), complex = DNN (--mlp-c) on a shared embedding; logits summed (--tf4ctr: SSEM + DFM)",
        lambda vocab, num, **hp: DeepFM(vocab, num, **hp),
    ),
    "dcn": (
        "DCN, parallel: simple = cross network (--num-cross-layers) + linear head, complex = DNN (--mlp-c); logits summed",
        lambda vocab, num, **hp: DCN(vocab, num, **hp),
    ),
    "dcnv2": (
        "DCNv2 (full-rank), parallel: simple = cross network v2 + linear head, complex = DNN (--mlp-c); logits summed",
        lambda vocab, num, **hp: DCNv2(vocab, num, **hp),
    ),
    "xdeepfm": (
        "xDeepFM: simple = first-order term + CIN (--cin-layers) + linear head, complex = DNN (--mlp-c); logits summed (--tf4ctr: SSEM + DFM)",
        lambda vocab, num, **hp: XDeepFM(vocab, num, **hp),
    ),
    "autoint+": (
        "AutoInt+: simple = multi-head self-attention layers (--attention-*) + linear head, complex = DNN (--mlp-c); logits summed",
        lambda vocab, num, **hp: AutoIntPlus(vocab, num, **hp),
    ),
    "afn+": (
        "AFN+: simple = logarithmic neurons (--afn-log-neurons) + MLP (--afn-hidden-units), complex = DNN (--mlp-c) on its own embedding; logits summed",
        lambda vocab, num, **hp: AFNPlus(vocab, num, **hp),
    ),
    "edcn": (
        "EDCN: cross & deep streams (--num-cross-layers) with bridge (--edcn-bridge) and regulation (--edcn-tau) modules; simple = cross head, complex = deep head; logits summed",
        lambda vocab, num, **hp: EDCN(vocab, num, **hp),
    ),
    "eulernet": (
        "EulerNet: Euler interaction layers (--euler-orders): learnable-order products in polar form + implicit linear part; single stream",
        lambda vocab, num, **hp: EulerNet(vocab, num, **hp),
    ),
    "cl4ctr": (
        "CL4CTR on a DNN (--mlp-c): + contrastive (--cl-weight), alignment and uniformity (--alignment-weight, --uniformity-weight) losses in training; single stream",
        lambda vocab, num, **hp: CL4CTR(vocab, num, **hp),
    ),
    "dlf": (
        "DLF: layers of linear-compress, FM and first-order-aware interaction token blocks (--dlf-*) fused by residual + LayerNorm, MLP head (--mlp-c); single stream",
        lambda vocab, num, **hp: DLF(vocab, num, **hp),
    ),
}

# Models built from cross layers (they read ``num_cross_layers``).
CROSS_MODELS = ("dcn", "dcnv2", "edcn")
# Model-specific settings -> the models that read them; every other model ignores the setting
# (it is left out of their hyperparameters and run keys).
MODEL_SETTINGS: dict[str, tuple[str, ...]] = {
    "vf_eval": ("tf4ctr", "deepfm", "widedeep", "xdeepfm"),   # the plug-ins read it with --tf4ctr only
    "plugin_fm": ("deepfm",),                                 # with --tf4ctr only
    "num_cross_layers": CROSS_MODELS,
    "cin_layers": ("xdeepfm",),
    "attention_layers": ("autoint+",),
    "num_heads": ("autoint+",),
    "attention_dim": ("autoint+",),
    "attention_scale": ("autoint+",),
    "attention_layer_norm": ("autoint+",),
    "afn_log_neurons": ("afn+",),
    "afn_hidden_units": ("afn+",),
    "afn_dropout": ("afn+",),
    "edcn_bridge": ("edcn",),
    "edcn_tau": ("edcn",),
    "euler_orders": ("eulernet",),
    "fuxictr_head": ("dcn", "dcnv2", "edcn", "afn+"),
    "cl_weight": ("cl4ctr",),
    "alignment_weight": ("cl4ctr",),
    "uniformity_weight": ("cl4ctr",),
    "cl4ctr_full_table": ("cl4ctr",),
    "dlf_layers": ("dlf",),
    "dlf_tokens": ("dlf",),
    "dlf_rank": ("dlf",),
    "dlf_hidden": ("dlf",),
}
# Models whose only MLP is ``mlp_c``: ``mlp_s`` cannot change their result.
IGNORES_MLP_S = (
    "dnn", "widedeep", "deepfm", "dcn", "dcnv2", "xdeepfm", "autoint+", "afn+", "edcn", "eulernet", "cl4ctr", "dlf",
)
# Models without an ``mlp_c`` DNN (EDCN's deep layers are F·D wide; EulerNet has only Euler layers): ``mlp_c`` cannot change their result.
IGNORES_MLP_C = ("edcn", "eulernet")


def build_model(
    name: str, vocab_sizes: Sequence[int], num_numeric: int, layout: Sequence[tuple[int, str | None]] | None = None, **hyper
) -> nn.Module:
    """Build model ``name`` for categorical fields of ``vocab_sizes`` and ``num_numeric`` numeric fields.

    ``layout`` (``EncodedDataset.field_layout()``) gives each categorical field's (columns in
    x_cat, pooling): multi-valued fields are pooled into one field embedding by every embedding
    table of the model (see ``FieldEmbedding``), so each model still sees one embedding per field.
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model '{name}': known models are {', '.join(sorted(MODELS))}")
    model = MODELS[name][1](list(vocab_sizes), num_numeric, **hyper)
    if layout is not None:
        if len(layout) != len(vocab_sizes):
            raise ConfigError(f"layout has {len(layout)} fields but vocab_sizes has {len(vocab_sizes)}")
        for m in model.modules():
            if isinstance(m, FieldEmbedding):
                m.set_layout(layout)
    return model


def embedding_modules(model: nn.Module) -> list[FieldEmbedding]:
    """Every embedding table of a model, for the embedding regulariser."""
    return [m for m in model.modules() if isinstance(m, FieldEmbedding)]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = [
    "MODELS", "CROSS_MODELS", "MODEL_SETTINGS", "IGNORES_MLP_S", "IGNORES_MLP_C", "ModelOutput", "TF4CTR",
    "DualMLP", "DNN", "WideDeep", "DeepFM", "DCN", "DCNv2", "XDeepFM", "AutoIntPlus", "AFNPlus", "EDCN",
    "EulerNet", "CL4CTR", "DLF",
    "SSEM_CHOICES", "DFM_CHOICES", "PLUGIN_FM_CHOICES", "VF_EVAL_CHOICES", "BRIDGE_CHOICES", "TF4CTR_PLUGIN_MODELS",
    "build_model", "embedding_modules", "count_parameters",
]
