"""Reporters: the reports of studies that are not the grid table / sweep figure.

A study names one with ``report: NAME`` (see :mod:`tfbench.studies.spec`); ``write_report`` then
hands it the whole report. A reporter is a :class:`Reporter`: its ``render`` takes the study, the
results store and the report options that every study report gets, writes its files under
``out_dir`` and returns ``(text, files written, runs used)``, the same triple as ``write_report``
(the text is printed; the number of runs used is 0 for a report that needs none). Its ``check``
is called when the study file is loaded, so that a bad ``report_settings`` or ``paper`` is an
error of the study file (a :class:`~tfbench.errors.ConfigError` naming the field) before
anything is computed.

A reporter lives in its own module, which calls :func:`register` at import; :data:`BUILTIN` names
the module of each reporter shipped with tfbench, imported on first use (so loading a study never
imports matplotlib, and a module's failure to import concerns only the studies that use it). To
add one: write ``tfbench/report/<module>.py`` with ``register(Reporter(name=..., render=...,
check=...))`` and add ``NAME: "tfbench.report.<module>"`` to :data:`BUILTIN`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

from tfbench.errors import ConfigError

if TYPE_CHECKING:  # the report layer must not import the study loader at import (it imports us lazily)
    from tfbench.db import ResultStore
    from tfbench.studies.spec import Study

ReportOutput = tuple[str, list[Path], int]  # (text to print, files written, runs used)


def refuse_unknown_settings(raw: dict, settings_class: type) -> None:
    """A reporter's ``report_settings`` may hold only the fields of its settings dataclass."""
    known = set(settings_class.__dataclass_fields__)
    for key in raw:
        if key not in known:
            raise ConfigError(f"'report_settings.{key}' is not a setting of this report ({', '.join(sorted(known))})")


def bool_setting(raw: dict, key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"'report_settings.{key}' must be true or false")
    return value


class RenderReport(Protocol):
    def __call__(self, study: Study, store: ResultStore, *, fmt: str, out_dir: Path,
                 datasets: list[str] | None, quick: bool, seeds: tuple[int, ...] | None) -> ReportOutput:
        """``store``: None for a study that does not train (kind analytic), which reads no runs;
        ``fmt``: markdown, latex or csv; ``datasets``/``seeds``: the user's selection (None: the
        study's own, or whatever the database holds); ``quick``: report quick smoke runs."""
        ...


def _accept(study: Study) -> None:
    return None


@dataclass(frozen=True)
class Reporter:
    name: str
    render: RenderReport
    check: Callable[[Study], None] = _accept  # raises ConfigError("'report_settings.x' ...") when the study is bad
    description: str = ""


# reporter name -> the module that registers it (imported on first use)
BUILTIN: dict[str, str] = {
    "twin_focus_gradients": "tfbench.report.loss_gradients",   # fig5
    "dataset_stats": "tfbench.report.dataset_stats",            # table3
    "dataset_features": "tfbench.report.dataset_features",      # table4
    "bands_distribution": "tfbench.report.bands_distribution",  # fig2
    "bands_by_epoch": "tfbench.report.bands_by_epoch",          # fig11
    "grad_dynamics": "tfbench.report.grad_dynamics",            # fig6
    "running_time": "tfbench.report.running_time",              # table9
}
_REGISTERED: dict[str, Reporter] = {}


def register(reporter: Reporter) -> Reporter:
    """Add (or replace) a reporter under its name; returns it."""
    _REGISTERED[reporter.name] = reporter
    return reporter


def reporter_names() -> list[str]:
    return sorted(set(BUILTIN) | set(_REGISTERED))


def get_reporter(name: str) -> Reporter:
    if name not in _REGISTERED and name in BUILTIN:
        importlib.import_module(BUILTIN[name])
    if name not in _REGISTERED:
        raise ConfigError(f"'report' names no reporter {name!r} (reporters: {', '.join(reporter_names())})")
    return _REGISTERED[name]
