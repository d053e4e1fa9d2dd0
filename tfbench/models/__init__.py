"""Model zoo: plain nn.Modules mapping (x_cat [B,F], x_num [B,K]) to a ModelOutput of logits."""

from __future__ import annotations

from typing import Callable, Sequence

from torch import nn

from tfbench.errors import ConfigError
from tfbench.models.dualmlp import DualMLP
from tfbench.models.layers import FieldEmbedding
from tfbench.models.output import ModelOutput
from tfbench.models.tf4ctr import DFM_CHOICES, SSEM_CHOICES, TF4CTR

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
}


def build_model(name: str, vocab_sizes: Sequence[int], num_numeric: int, **hyper) -> nn.Module:
    if name not in MODELS:
        raise ConfigError(f"unknown model '{name}': known models are {', '.join(sorted(MODELS))}")
    return MODELS[name][1](list(vocab_sizes), num_numeric, **hyper)


def embedding_modules(model: nn.Module) -> list[FieldEmbedding]:
    """Every embedding table of a model, for the embedding regulariser."""
    return [m for m in model.modules() if isinstance(m, FieldEmbedding)]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = [
    "MODELS", "ModelOutput", "TF4CTR", "DualMLP", "SSEM_CHOICES", "DFM_CHOICES",
    "build_model", "embedding_modules", "count_parameters",
]
