"""The typed, validated configuration of one run, composed of the stages' own settings.

``RunConfig`` holds one typed part per stage — ``data`` (``tfbench.data.settings``), the model's
own schema (``model_settings``, declared in the model's module) and, for the Table VIII plug-in,
``plugin``; ``loss_settings`` (``tfbench.losses.settings``) and ``train``
(``tfbench.train.settings``). Files, the CLI and the database speak one flat vocabulary (``mlp_c``,
``epochs``, …): ``from_dict`` routes each flat name to the part that declares it, and ``to_dict``
flattens back. Every setting can be read by its flat name too (``cfg.epochs``).

The run key hashes ``effective_dict()``: each part's ``key_settings()``, i.e. exactly the settings
that the chosen model, loss and schedule read, derived from the schemas.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tfbench.data.settings import DataSettings
from tfbench.errors import ConfigError
from tfbench.losses.settings import LossSettings
from tfbench.models import MODELS, TF4CTR_PLUGIN_MODELS, model_spec
from tfbench.models.base import ModelSettings
from tfbench.schema import Settings, where
from tfbench.train.settings import TrainSettings

# The parts besides the model's, in the order ``to_dict`` lists them.
_PARTS: dict[str, type[Settings]] = {"data": DataSettings, "loss_settings": LossSettings, "train": TrainSettings}
_PART_OF = {name: part for part, schema in _PARTS.items() for name in schema.model_fields}
DEFAULT_MODEL = "tf4ctr"


def model_setting_names() -> set[str]:
    """Every name some model or plug-in declares (besides ``model`` and ``tf4ctr``)."""
    names: set[str] = set()
    for spec in MODELS.values():
        names |= set(spec.settings.model_fields)
        if spec.plugin_settings is not None:
            names |= set(spec.plugin_settings.model_fields)
    return names


def known_settings() -> set[str]:
    """Every flat setting name a run configuration accepts."""
    return {"model", "tf4ctr", *_PART_OF, *model_setting_names()}


class RunConfig:
    """One run's configuration (immutable). Build it with ``RunConfig(**flat)`` or ``from_dict``."""

    __slots__ = ("data", "model", "model_settings", "plugin", "loss_settings", "train")

    def __init__(self, **values: Any):
        built = RunConfig.from_dict(values)
        for name in RunConfig.__slots__:
            object.__setattr__(self, name, getattr(built, name))

    @classmethod
    def from_parts(cls, data: DataSettings, model: str, model_settings: ModelSettings, plugin: Settings | None,
                   loss_settings: LossSettings, train: TrainSettings) -> "RunConfig":
        cfg = object.__new__(cls)
        for name, value in zip(cls.__slots__, (data, model, model_settings, plugin, loss_settings, train)):
            object.__setattr__(cfg, name, value)
        return cfg

    def __setattr__(self, name, value):
        raise AttributeError("RunConfig is immutable; use replace()")

    def __reduce__(self):  # pickled (to worker processes) as its flat settings
        return (RunConfig.from_dict, (self.to_dict(),))

    def __getattr__(self, name: str) -> Any:
        # flat read access: every setting by the name files and the CLI use
        if name.startswith("_"):
            raise AttributeError(name)
        for part in (self.data, self.loss_settings, self.train, self.model_settings, self.plugin):
            if part is not None and name in type(part).model_fields:
                return getattr(part, name)
        if name == "tf4ctr":
            return self.plugin is not None
        raise AttributeError(f"model '{self.model}' has no setting '{name}'")

    def __eq__(self, other) -> bool:
        return isinstance(other, RunConfig) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self) -> str:
        return f"RunConfig({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())})"

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "option", strict: set[str] | bool = False) -> "RunConfig":
        """Build from flat names, routing each to its part and validating it there.

        A name no part declares is an error. A model setting that the chosen model (and, without
        ``tf4ctr``, the plug-in) does not read is dropped — study and config files share one base
        over several models — unless the name is in ``strict`` (or ``strict`` is True), as for
        the command line, where it is an error naming the setting and the model.
        """
        flat = {str(k).replace("-", "_"): v for k, v in values.items()}
        known = known_settings()
        for name in flat:
            if name not in known:
                raise ConfigError(f"{source}: unknown setting '{name}'" if source != "option" else f"unknown setting {where(name, source)}")
        model = str(flat.pop("model", DEFAULT_MODEL))
        if model not in MODELS:
            raise ConfigError(f"{where('model', source)} is '{model}', not a known model ({', '.join(sorted(MODELS))})")
        spec = model_spec(model)
        plugged = _coerce_bool(flat.pop("tf4ctr", False), "tf4ctr", source)
        if plugged and spec.plugin is None:
            raise ConfigError(f"{where('tf4ctr', source)} works only with the models {', '.join(TF4CTR_PLUGIN_MODELS)}, not '{model}'")
        parts: dict[str, dict[str, Any]] = {p: {} for p in _PARTS}
        model_values, plugin_values, unread = {}, {}, {}
        reads = set(spec.settings.model_fields)
        plugin_reads = set(spec.plugin_settings.model_fields) if plugged else set()
        for name, value in flat.items():
            if name in _PART_OF:
                parts[_PART_OF[name]][name] = value
            elif name in reads:
                model_values[name] = value
            elif name in plugin_reads:
                plugin_values[name] = value
            elif strict is True or (strict and name in strict):
                hint = " (a plug-in setting: add --tf4ctr)" if spec.plugin and name in spec.plugin_settings.model_fields else ""
                raise ConfigError(f"{where(name, source)} is not a setting of model '{model}'{hint}; "
                                  f"its settings: {', '.join(sorted(reads | plugin_reads))}")
            else:
                unread[name] = value
        check_values(unread, source)   # not read by this model, but never a wrong value
        built = {p: schema.build(parts[p], source) for p, schema in _PARTS.items()}
        return cls.from_parts(
            built["data"], model, spec.settings.build(model_values, source),
            spec.plugin_settings.build(plugin_values, source) if plugged else None,
            built["loss_settings"], built["train"],
        )

    def replace(self, **changes) -> "RunConfig":
        return RunConfig.from_dict({**self.to_dict(), **changes})

    # ------------------------------------------------------------------ views
    @property
    def uses_tf4ctr_modules(self) -> bool:
        """TF4CTR itself, or a baseline with the TF4CTR plug-in (SSEM + DFM)."""
        return self.model == "tf4ctr" or self.plugin is not None

    @property
    def resolved_loss(self) -> str:
        return self.loss_settings.resolved(self.uses_tf4ctr_modules)

    def to_dict(self) -> dict[str, Any]:
        """Every setting by its flat name (what the database stores and files hold)."""
        d = {**self.data.flat(), "model": self.model, **self.model_settings.flat(), "tf4ctr": self.plugin is not None}
        if self.plugin is not None:
            d.update(self.plugin.flat())
        d.update(self.loss_settings.flat())
        train_fields = type(self.train).model_fields   # where splits live is not the run's business
        d.update({k: v for k, v in self.train.flat().items() if (train_fields[k].json_schema_extra or {}).get("in_key", True)})
        return d

    def effective_dict(self) -> dict[str, Any]:
        """The settings that can change the result: those the chosen model, plug-in, loss and schedule read."""
        d = {"model": self.model, **self.data.key_settings(), **self.model_settings.key_settings()}
        if self.plugin is not None:
            d.update(tf4ctr=True, **self.plugin.key_settings())
        d.update(self.loss_settings.key_settings_for(self.resolved_loss))
        d.update(self.train.key_settings())
        return d

    def model_hyperparameters(self) -> dict[str, Any]:
        """The model's settings (and the plug-in's, with ``tf4ctr``) as ``build_model`` keywords."""
        hp = dict(self.model_settings.model_dump())
        if self.plugin is not None:
            hp.update(tf4ctr=True, **self.plugin.model_dump())
        return hp

    def loss_hyperparameters(self) -> dict[str, Any]:
        return self.loss_settings.parameters()


def _coerce_bool(value: Any, name: str, source: str) -> bool:
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{where(name, source)} has an invalid value {value!r}")
    return bool(value)


def setting_field(name: str):
    """(schema, pydantic FieldInfo) of a flat setting name: its part's, or the first model's that declares it."""
    if name in _PART_OF:
        schema = _PARTS[_PART_OF[name]]
        return schema, schema.model_fields[name]
    for spec in MODELS.values():
        for schema in (spec.settings, spec.plugin_settings):
            if schema is not None and name in schema.model_fields:
                return schema, schema.model_fields[name]
    raise KeyError(name)


def check_values(values: dict[str, Any], source: str = "option") -> None:
    """Validate flat settings against the schemas that declare them, those of one schema together
    (its cross-setting checks, e.g. attention_dim against num_heads, see them all); one-line error."""
    groups: dict[type[Settings], dict[str, Any]] = {}
    for name, value in values.items():
        groups.setdefault(setting_field(name)[0], {})[name] = value
    for schema, group in groups.items():
        schema.build(group, source)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A flat YAML mapping of settings (validated when merged)."""
    from tfbench.yamlfile import read_yaml

    p = Path(path)
    data = read_yaml(p, "config file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p}: expected a mapping of settings, got {type(data).__name__}")
    known = known_settings()
    for key in data:
        if str(key).replace("-", "_") not in known:
            raise ConfigError(f"config file {p}: unknown setting '{key}'")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def run_key(dataset_fingerprint: str, config: RunConfig) -> str:
    """Content key of a run: the dataset's content fingerprint, every result-relevant setting, the seed."""
    settings = config.effective_dict()
    settings.pop("dataset")  # the fingerprint identifies the data; a path's spelling must not
    payload = json.dumps(
        {"dataset": dataset_fingerprint, "config": settings, "v": 1},
        sort_keys=True, separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]
