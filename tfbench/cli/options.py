"""Command-line options generated from the settings schemas (one option per flat setting).

Each option's type, choices, default and help come from the field that declares the setting
(``tfbench.schema``); the option's own default is None, so that a value given on the command line
can be told from one left to a config file or to the schema's default, which the help shows.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional, get_args

import typer

from tfbench.config import known_settings, setting_field
from tfbench.models import MODELS
from tfbench.schema import choices_of, field_rows

# Settings a training command does not take as options: the data source (--dataset/--data),
# the model (--model) and the plug-in switch are typed options of their own; quick and
# evaluate_test belong to the study runner and the tuner.
NOT_OPTIONS = {"dataset", "model", "tf4ctr", "quick", "evaluate_test"}
ALIASES = {"learning_rate": ("--lr",), "embedding_regularizer": ("--emb-reg",), "net_regularizer": ("--net-reg",)}
# Help panels (sections of `--help`), by the part that declares a setting.
PANELS = {"DataSettings": "Data", "LossSettings": "Loss", "TrainSettings": "Training"}


def readers(name: str) -> list[str]:
    """The models that read a model setting (with ' --tf4ctr' where only the plug-in does)."""
    out = []
    for spec in MODELS.values():
        if name in spec.settings.model_fields:
            out.append(spec.name)
        elif spec.plugin_settings is not None and name in spec.plugin_settings.model_fields:
            out.append(f"{spec.name} --tf4ctr")
    return sorted(out)


def _default_text(name: str) -> str:
    defaults = set()
    for spec in MODELS.values():
        for schema in (spec.settings, spec.plugin_settings):
            if schema is not None and name in schema.model_fields:
                defaults.add(repr(schema.model_fields[name].default))
    schema, info = setting_field(name)
    if len(defaults) > 1:
        return "per model, see `tfbench models NAME`"
    for row in field_rows(schema):
        if row[0] == name:
            default = row[2]
            if default == "":
                return "''"
            return "on" if default is True else "off" if default is False else str(default)
    return str(info.default)


def option_parameters() -> list[inspect.Parameter]:
    """A keyword parameter with a typer.Option for every setting, for a generated command signature."""
    params = []
    for name in sorted(known_settings() - NOT_OPTIONS, key=_order):
        schema, info = setting_field(name)
        extra = info.json_schema_extra or {}
        if extra.get("in_key", True) is False:
            continue
        flag = "--" + name.replace("_", "-")
        ann = info.annotation
        choices = choices_of(ann) or choices_of(next((a for a in get_args(ann) if choices_of(a)), None))
        help_text = info.description or ""
        if choices:
            help_text += f": {', '.join(str(c) for c in choices if c is not None)}"
        model_readers = readers(name) if name not in _PART_NAMES else []
        if model_readers and len(model_readers) < len(MODELS):
            help_text += f" (models: {', '.join(model_readers)})"
        help_text += f" [default: {_default_text(name)}]"
        panel = PANELS.get(schema.__name__, "Model")
        if ann is bool:
            option = typer.Option(None, f"{flag}/--no-{flag[2:]}", help=help_text, rich_help_panel=panel)
            typ: Any = Optional[bool]
        else:
            base = int if ann is int else float if ann is float else str
            option = typer.Option(None, flag, *ALIASES.get(name, ()), help=help_text, rich_help_panel=panel)
            typ = Optional[base]
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=typ))
    return params


def _part_names() -> set[str]:
    from tfbench.config import _PART_OF  # the data, loss and training settings

    return set(_PART_OF)


_PART_NAMES = _part_names()
_FIRST = ["ssem", "dfm", "embedding_dim", "mlp_s", "mlp_c", "dropout", "batch_norm"]


_GROUPS = ["DataSettings", "Model", "LossSettings", "TrainSettings"]


def _order(name: str) -> tuple:
    """Data, then the model's (the common ones first), the loss's and the schedule's settings."""
    schema = setting_field(name)[0].__name__
    group = _GROUPS.index(schema) if schema in _GROUPS else 1
    return (group, name not in _FIRST, _FIRST.index(name) if name in _FIRST else 0, name)


def parse_set(items: list[str] | None) -> dict[str, str]:
    """``--set NAME=VALUE`` (repeatable) → {name: value} (values are validated by the schemas)."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            from tfbench.errors import ConfigError

            raise ConfigError(f"--set {item!r}: expected NAME=VALUE, e.g. --set num_cross_layers=2")
        out[name] = value.strip()
    return out
