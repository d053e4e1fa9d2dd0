"""Search-space files: one YAML file per model family in ``studies/spaces/``, validated on load.

::

    name: tf4ctr
    description: TF4CTR's plug-ins and Twin Focus loss
    models: [tf4ctr]                 # the models this space is for (the default space of each)
    base: {monitor: AUC+gAUC}        # fixed settings under every trial (optional)
    params:
      alpha: {low: 0.05, high: 0.65, step: 0.1}         # a number range (int or float by setting)
      embedding_regularizer: {low: 0.001, high: 0.1, log: true}
      ssem: {choices: [SER, GM, MoE, Share]}            # a categorical
      mlp_s: {choices: {A: [400], B: [400, 400]}}       # labelled choices (for list values)

Every parameter is a RunConfig setting; its range ends and choices are validated as settings, so
a space cannot propose a run that would be rejected (``c: {high: 1.5}`` is an error at load time,
naming the file and the key).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfbench.config import RunConfig, known_settings, setting_field
from tfbench.errors import ConfigError
from tfbench.yamlfile import read_yaml

SPACE_KEYS = {"name", "description", "models", "base", "params"}
PARAM_KEYS = {"low", "high", "step", "log", "choices"}
# Settings a trial may not change: the data, the seed and the run's bookkeeping are fixed by the tuner.
FIXED = {"dataset", "seed", "quick", "evaluate_test"}
# each setting's Python type (int and float settings can be searched as ranges)
FIELD_TYPES = {name: (str if name == "model" else bool if name == "tf4ctr" else setting_field(name)[1].annotation)
               for name in known_settings()}


@dataclass(frozen=True)
class Param:
    name: str
    kind: str                            # "int" | "float" | "categorical"
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[tuple[str, Any], ...] = ()   # (label, value): Optuna stores the label

    def suggest(self, trial) -> Any:
        """Ask an Optuna trial for this parameter; returns the RunConfig value."""
        if self.kind == "categorical":
            label = trial.suggest_categorical(self.name, [lab for lab, _ in self.choices])
            return dict(self.choices)[label]
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def stored_of(self, value: Any, path: Path) -> Any:
        """How Optuna stores a RunConfig value of this parameter (its label for categoricals);
        ConfigError when the value is outside the space."""
        where = f"{path}: params.{self.name}"
        if self.kind == "categorical":
            from tfbench.studies.spec import _same

            for label, v in self.choices:
                if _same(v, value):
                    return label
            raise ConfigError(f"{where}: the base value {value!r} is not one of the choices")
        if not self.low - 1e-12 <= float(value) <= self.high + 1e-12:
            raise ConfigError(f"{where}: the base value {value!r} is outside [{_num(self.low)}, {_num(self.high)}]")
        return int(value) if self.kind == "int" else float(value)

    def value_of(self, stored: Any) -> Any:
        """The RunConfig value of a parameter value as Optuna stored it (a label for categoricals)."""
        return dict(self.choices)[stored] if self.kind == "categorical" else stored

    def grid_values(self, path: Path) -> list[Any]:
        if self.kind == "categorical":
            return [lab for lab, _ in self.choices]
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None or self.log:
            raise ConfigError(f"{path}: params.{self.name}: the grid sampler needs a 'step' (and no 'log') for a float range")
        n = int(round((self.high - self.low) / self.step))
        return [round(self.low + i * self.step, 12) for i in range(n + 1)]

    def describe(self) -> str:
        if self.kind == "categorical":
            return "{" + ", ".join(lab for lab, _ in self.choices) + "}"
        rng = f"[{_num(self.low)}, {_num(self.high)}]"
        return rng + (f" step {_num(self.step)}" if self.step else "") + (" log" if self.log else "")


def _num(x: float | None) -> str:
    return "" if x is None else (str(int(x)) if float(x).is_integer() else f"{x:g}")


@dataclass(frozen=True)
class SearchSpace:
    name: str
    path: Path
    models: tuple[str, ...]
    base: dict[str, Any]
    params: tuple[Param, ...]
    description: str = ""

    def suggest(self, trial) -> dict[str, Any]:
        return {p.name: p.suggest(trial) for p in self.params}

    def stored_params(self, cfg) -> dict[str, Any]:
        """The point of this space where ``cfg`` (a RunConfig) lies, as Optuna stores it."""
        return {p.name: p.stored_of(getattr(cfg, p.name), self.path) for p in self.params}

    def values_of(self, stored: dict[str, Any]) -> dict[str, Any]:
        """RunConfig settings of a trial's stored parameters."""
        by_name = {p.name: p for p in self.params}
        return {k: by_name[k].value_of(v) if k in by_name else v for k, v in stored.items()}

    def grid(self) -> dict[str, list[Any]]:
        return {p.name: p.grid_values(self.path) for p in self.params}

    @property
    def fingerprint(self) -> str:
        """Identifies the space's content (not its file name): a study continues only in the same space."""
        payload = json.dumps(
            {"base": self.base, "params": [dataclasses.asdict(p) for p in self.params]}, sort_keys=True, default=list
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def spaces_dirs() -> list[Path]:
    from tfbench.studies.spec import studies_dirs

    return [d / "spaces" for d in studies_dirs()]


def list_spaces() -> list[Path]:
    seen: dict[str, Path] = {}
    for d in spaces_dirs():
        if d.is_dir():
            for p in sorted(d.glob("*.yaml")):
                seen.setdefault(p.stem, p)
    return list(seen.values())


def space_for_model(model: str) -> SearchSpace:
    """The default space of a model: the first space file that lists it under ``models``."""
    for path in list_spaces():
        space = load_space(path)
        if model in space.models:
            return space
    raise ConfigError(f"no search space in studies/spaces/ lists the model '{model}'; give one with --space FILE")


def load_space(path: str | Path) -> SearchSpace:
    p = Path(path)
    if not p.suffix and not p.exists():  # a bare name: look in studies/spaces/
        for d in spaces_dirs():
            if (d / f"{p}.yaml").is_file():
                p = d / f"{p}.yaml"
                break
    raw = read_yaml(p, "search space file")
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping with 'params', got {type(raw).__name__}")
    for key in raw:
        if key not in SPACE_KEYS:
            raise ConfigError(f"{p}: unknown key '{key}' (allowed: {', '.join(sorted(SPACE_KEYS))})")
    params_raw = raw.get("params")
    if not isinstance(params_raw, dict) or not params_raw:
        raise ConfigError(f"{p}: 'params' must be a non-empty mapping of setting -> range or choices")

    from tfbench.models import MODELS

    models = raw.get("models") or []
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list):
        raise ConfigError(f"{p}: 'models' must be a model name or a list of them, got {type(models).__name__}")
    for m in models:
        if not isinstance(m, str) or m not in MODELS:
            raise ConfigError(f"{p}: models: unknown model '{m}'")
    base = raw.get("base") or {}
    if not isinstance(base, dict):
        raise ConfigError(f"{p}: 'base' must be a mapping of settings")
    for key in base:
        if str(key).replace("-", "_") not in FIELD_TYPES or key in FIXED:
            raise ConfigError(f"{p}: base.{key}: unknown setting '{key}'" if key not in FIXED
                              else f"{p}: base.{key}: '{key}' is fixed by the tuner, not a space")
    base = {str(k).replace("-", "_"): v for k, v in base.items()}
    base_cfg = RunConfig.from_dict({**({"model": models[0]} if models else {}), **base}, source=f"{p}: base")

    params = tuple(_param(p, str(name), spec, base_cfg) for name, spec in params_raw.items())
    return SearchSpace(
        name=str(raw.get("name") or p.stem), path=p, models=tuple(models), base=base, params=params,
        description=str(raw.get("description") or "").strip(),
    )


def _param(path: Path, name: str, spec: Any, base_cfg: RunConfig) -> Param:
    where = f"{path}: params.{name}"
    key = name.replace("-", "_")
    if key in FIXED:
        raise ConfigError(f"{where}: '{name}' is fixed by the tuner and cannot be searched")
    if key not in FIELD_TYPES:
        raise ConfigError(f"{where}: unknown parameter '{name}' (not a run setting; see `tfbench show`)")
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected {{low, high[, step, log]}} or {{choices}}, got {spec!r}")
    for k in spec:
        if k not in PARAM_KEYS:
            raise ConfigError(f"{where}: unknown key '{k}' (allowed: {', '.join(sorted(PARAM_KEYS))})")

    def check(value: Any, what: str) -> None:
        try:
            base_cfg.replace(**{key: value})
        except ConfigError as e:
            raise ConfigError(f"{where}: {what} {value!r} is not a valid value ({e})") from None

    if "choices" in spec:
        if set(spec) - {"choices"}:
            raise ConfigError(f"{where}: give either 'choices' or a low/high range, not both")
        raw = spec["choices"]
        if isinstance(raw, dict):
            choices = tuple((str(lab), v) for lab, v in raw.items())
        elif isinstance(raw, list):
            choices = tuple((_label(v), v) for v in raw)
        else:
            raise ConfigError(f"{where}: 'choices' must be a list or a mapping label -> value")
        if not choices:
            raise ConfigError(f"{where}: empty choices")
        if len({lab for lab, _ in choices}) != len(choices):
            raise ConfigError(f"{where}: repeated choice")
        for _, v in choices:
            check(v, "choice")
        return Param(name=key, kind="categorical", choices=choices)

    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{where}: a range needs both 'low' and 'high'")
    typ = FIELD_TYPES[key]
    if typ not in ("int", "float", int, float):
        raise ConfigError(f"{where}: '{name}' is not a number; give it as choices")
    is_int = typ in ("int", int)
    try:
        low, high = float(spec["low"]), float(spec["high"])
        step = None if spec.get("step") is None else float(spec["step"])
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: low, high and step must be numbers") from None
    log = bool(spec.get("log", False))
    if not low < high:
        raise ConfigError(f"{where}: empty range: low {_num(low)} is not below high {_num(high)}")
    if step is not None and step <= 0:
        raise ConfigError(f"{where}: step must be > 0, got {_num(step)}")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0, got {_num(low)}")
    if log and step is not None:
        raise ConfigError(f"{where}: give either 'log' or 'step', not both")
    if is_int and not (low.is_integer() and high.is_integer() and (step is None or step.is_integer())):
        raise ConfigError(f"{where}: '{name}' is an integer setting; low, high and step must be integers")
    if step is not None and abs((high - low) / step - round((high - low) / step)) > 1e-9:
        raise ConfigError(f"{where}: high {_num(high)} is not low {_num(low)} plus a whole number of steps {_num(step)}")
    check(int(low) if is_int else low, "low")
    check(int(high) if is_int else high, "high")
    return Param(name=key, kind="int" if is_int else "float", low=low, high=high, step=step, log=log)


def _label(value: Any) -> str | int | float | bool:
    """Optuna's categorical values must be scalars: a list (layer widths) becomes '400-400'."""
    if isinstance(value, (list, tuple)):
        return "-".join(str(v) for v in value)
    return value
