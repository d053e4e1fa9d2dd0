"""What every model shares: the ``CTRModel`` contract, the common settings and the registry.

A model is one module of this package. It declares its settings as a ``ModelSettings`` subclass
next to its code and registers its class with ``@register``; ``tfbench.models`` imports every
module of the package, so nothing else has to list it. The CLI, the run key, ``tfbench models``
and the search spaces read the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import nn

from tfbench.models.layers import FieldEmbedding
from tfbench.models.output import ModelOutput
from tfbench.schema import HiddenUnits, Settings, setting


class ModelSettings(Settings):
    """Settings every model reads: the field embedding and its MLPs' regularisation."""

    embedding_dim: int = setting(16, "Embedding dimension of every field", ge=2)
    dropout: float = setting(0.2, "Dropout in every MLP", ge=0.0, lt=1.0)
    batch_norm: bool = setting(True, "Batch normalisation in every MLP")


class ComplexMLPSettings(ModelSettings):
    """Models with a DNN (the complex encoder of the parallel models)."""

    mlp_c: HiddenUnits = setting((400, 400, 400), "Hidden units of the DNN (the complex encoder), e.g. 400,400,400; empty: a linear DNN")


class CTRModel(nn.Module):
    """A model maps a batch of field indices (x_cat [B, F], x_num [B, K] or None) to a ModelOutput."""

    settings: ModelSettings

    def embedding_tables(self) -> list[FieldEmbedding]:
        """Every embedding table, in registration order (for the embedding regulariser and layouts)."""
        return [m for m in self.modules() if isinstance(m, FieldEmbedding)]

    def forward(self, x_cat: torch.Tensor, x_num: torch.Tensor | None = None) -> ModelOutput:  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its name, class, settings schema and what its two streams are."""

    name: str
    cls: type[CTRModel]
    settings: type[ModelSettings]
    description: str
    simple: str | None          # what z_s is (None: a single-stream model)
    complex: str | None         # what z_c is
    # the Table VIII plug-in: builds the host's parts for ``TF4CTRPlugin`` (see tf4ctr_plugin.py)
    plugin: Callable[..., Any] | None = None
    plugin_settings: type[Settings] | None = None

    def build(self, vocab_sizes: Sequence[int], num_numeric: int, settings: ModelSettings) -> CTRModel:
        model = self.cls(list(vocab_sizes), num_numeric, settings)
        model.settings = settings
        return model


MODELS: dict[str, ModelSpec] = {}


def register(name: str, *, settings: type[ModelSettings], description: str, simple: str | None = None,
             complex: str | None = None, plugin: Callable[..., Any] | None = None,
             plugin_settings: type[Settings] | None = None):
    """Class decorator: add a model to ``MODELS`` under ``name``."""

    def decorate(cls: type[CTRModel]) -> type[CTRModel]:
        if name in MODELS:
            raise RuntimeError(f"model '{name}' is registered twice ({MODELS[name].cls.__module__}, {cls.__module__})")
        MODELS[name] = ModelSpec(name, cls, settings, description, simple, complex, plugin, plugin_settings)
        return cls

    return decorate
