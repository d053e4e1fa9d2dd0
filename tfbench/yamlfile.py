"""Reading the project's YAML files (run configs, studies, search spaces) with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tfbench.errors import ConfigError


def read_yaml(path: str | Path, what: str) -> Any:
    """The parsed content of ``path``; ``what`` names the kind of file in error messages
    (e.g. "config file"): a missing file or invalid YAML (with its line) is a ConfigError."""
    p = Path(path)
    try:
        return yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{what} {p} does not exist") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConfigError(f"{what} {p}{f' line {mark.line + 1}' if mark is not None else ''}: not valid YAML") from None
