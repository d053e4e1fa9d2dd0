"""Model zoo: plain nn.Modules mapping (x_cat [B,F], x_num [B,K]) to a ModelOutput of logits.

Every module of this package that registers a model (``@register`` in ``tfbench.models.base``) is
imported here, so a new model is one new file: its settings schema, its class, its registration.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Sequence

from torch import nn

from tfbench.errors import ConfigError
from tfbench.models.base import MODELS, ComplexMLPSettings, CTRModel, ModelSettings, ModelSpec, register
from tfbench.models.layers import FieldEmbedding
from tfbench.models.output import ModelOutput

# Modules of this package that hold building blocks rather than models.
_NOT_MODELS = {"base", "layers", "output", "interactions"}
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name not in _NOT_MODELS and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")

from tfbench.models.tf4ctr import DFM_CHOICES, SSEM_CHOICES, VF_EVAL_CHOICES, TF4CTR  # noqa: E402
from tfbench.models.tf4ctr_plugin import FM_CHOICES as PLUGIN_FM_CHOICES  # noqa: E402
from tfbench.models.tf4ctr_plugin import PluginSettings, TF4CTRPlugin, build_plugin  # noqa: E402
from tfbench.models.interactions import BRIDGE_CHOICES  # noqa: E402

# The baselines that take ``tf4ctr=True`` (Table VIII): those whose module gives plug-in parts.
TF4CTR_PLUGIN_MODELS = tuple(name for name, spec in MODELS.items() if spec.plugin is not None)


def model_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ConfigError(f"unknown model '{name}': known models are {', '.join(sorted(MODELS))}")
    return MODELS[name]


def build_model(
    name: str, vocab_sizes: Sequence[int], num_numeric: int, layout: Sequence[tuple[int, str | None]] | None = None,
    settings: ModelSettings | None = None, plugin: PluginSettings | None = None, **values: Any,
) -> CTRModel:
    """Build model ``name`` for categorical fields of ``vocab_sizes`` and ``num_numeric`` numeric fields.

    Its settings are ``settings`` (the model's own schema) or ``values`` validated against that
    schema (an unknown or out-of-range setting is a ConfigError naming it). ``tf4ctr=True`` among
    ``values`` (or a ``plugin``) builds the Table VIII plug-in around the model, with the plug-in
    settings (ssem, dfm, …) taken from ``values``.

    ``layout`` (``EncodedDataset.field_layout()``) gives each categorical field's (columns in
    x_cat, pooling): multi-valued fields are pooled into one field embedding by every embedding
    table of the model (see ``FieldEmbedding``), so each model still sees one embedding per field.
    """
    spec = model_spec(name)
    if values.pop("tf4ctr", False) and plugin is None:
        if spec.plugin is None:
            raise ConfigError(f"--tf4ctr works only with the models {', '.join(TF4CTR_PLUGIN_MODELS)}, not '{name}'")
        plugin_names = set(spec.plugin_settings.model_fields)
        plugin = spec.plugin_settings.build({k: values.pop(k) for k in list(values) if k in plugin_names})
    if settings is None:
        settings = spec.settings.build(values)
    elif values:
        raise ConfigError(f"build_model: give either settings or setting values, not both ({', '.join(values)})")
    if plugin is not None:
        model = build_plugin(spec.plugin, list(vocab_sizes), num_numeric, settings, plugin)
    else:
        model = spec.build(vocab_sizes, num_numeric, settings)
    if layout is not None:
        if len(layout) != len(vocab_sizes):
            raise ConfigError(f"layout has {len(layout)} fields but vocab_sizes has {len(vocab_sizes)}")
        for table in model.embedding_tables():
            table.set_layout(layout)
    return model


def own_settings(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """The part of ``values`` that model ``name`` reads (with ``tf4ctr=True``: and its plug-in), e.g.
    to build several models from one shared set of settings."""
    spec = model_spec(name)
    names = set(spec.settings.model_fields)
    if values.get("tf4ctr") and spec.plugin_settings is not None:
        names |= {"tf4ctr", *spec.plugin_settings.model_fields}
    return {k: v for k, v in values.items() if k in names}


def embedding_modules(model: nn.Module) -> list[FieldEmbedding]:
    """Every embedding table of a model, for the embedding regulariser."""
    return [m for m in model.modules() if isinstance(m, FieldEmbedding)]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = [
    "MODELS", "ModelSpec", "ModelSettings", "ComplexMLPSettings", "CTRModel", "ModelOutput", "register", "model_spec",
    "TF4CTR", "TF4CTRPlugin", "PluginSettings",
    "SSEM_CHOICES", "DFM_CHOICES", "PLUGIN_FM_CHOICES", "VF_EVAL_CHOICES", "BRIDGE_CHOICES", "TF4CTR_PLUGIN_MODELS",
    "build_model", "own_settings", "embedding_modules", "count_parameters",
]
