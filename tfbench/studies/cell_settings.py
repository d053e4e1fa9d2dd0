"""A study's ``cell_settings``: settings for some cells (and datasets) of its grid only.

Parsed here rather than in ``spec.py`` so that the study file's main fields and this one's
entry-by-entry checks (inline entries and ``{include: FILE}`` lists shared by several studies)
each stay readable; ``spec.load_study`` calls :func:`parse_cell_settings` with its own checkers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from tfbench.config import RunConfig, known_settings
from tfbench.yamlfile import read_yaml

SETTINGS = known_settings()


@dataclass(frozen=True)
class CellSetting:
    """Settings for the cells (and datasets) that match ``when``: axis or ``dataset`` -> labels.

    This is how a table gives each baseline its own published settings (Table VII: "the
    hyperparameters of the baseline model are configured [...] based on the optimal values
    provided in [BARS] and their original paper"), which one per-dataset block cannot express."""

    when: dict[str, frozenset[str]]
    settings: dict[str, Any]
    source: str = ""

    def matches(self, dataset: str, cell: dict[str, str]) -> bool:
        return all((dataset if axis == "dataset" else cell.get(axis)) in labels
                   for axis, labels in self.when.items())



def parse_cell_settings(value, grid, base, settings, bad, path) -> tuple[CellSetting, ...]:
    """Parse ``cell_settings``: inline entries, and ``{include: FILE}`` items (a YAML list of
    entries, relative to the study file) shared by several studies."""
    if value is None:
        return ()
    if not isinstance(value, list):
        bad("cell_settings", "must be a list of {when: {AXIS: LABEL(S)}, set: {SETTING: VALUE}} entries")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, dict) and set(item) == {"include"}:
            shared = path.parent / str(item["include"])
            if not shared.is_file():
                bad(f"cell_settings[{i}].include", f"names {shared}, which does not exist")
            entries = read_yaml(shared, "cell settings file")
            if not isinstance(entries, list):
                bad(f"cell_settings[{i}].include", f"{shared} must hold a list of {{when, set}} entries")
            for j, entry in enumerate(entries):
                parsed = _cell_setting(entry, f"{shared}[{j}]", grid, base, settings, bad, path, shared=True)
                if parsed is not None:
                    out.append(parsed)
        else:
            out.append(_cell_setting(item, f"cell_settings[{i}]", grid, base, settings, bad, path, shared=False))
    return tuple(out)


def _cell_setting(entry, where, grid, base, settings, bad, path, shared: bool) -> CellSetting | None:
    """One entry. ``when`` names cells by grid label or by setting value, case-insensitively
    (``model: EDCN`` or ``model: edcn``). In a shared file an entry may name cells this study does
    not have (it then does not apply here, and None is returned), but each name must still be a
    valid value of its setting, so a typo is an error everywhere."""
    if not isinstance(entry, dict) or set(entry) - {"when", "set", "source"} or not {"when", "set"} <= set(entry):
        bad(where, "must be a mapping with 'when' and 'set' (and an optional 'source')")
    when_raw = entry["when"]
    if not isinstance(when_raw, dict) or not when_raw:
        bad(f"{where}.when", "must map grid axes or 'dataset' to a label or a list of labels")
    when: dict[str, frozenset[str]] = {}
    for axis, names in when_raw.items():
        axis = str(axis)
        names = names if isinstance(names, list) else [names]
        if not names or not all(isinstance(n, (str, int, float)) and not isinstance(n, bool) for n in names):
            bad(f"{where}.when.{axis}", "must be a label or a non-empty list of labels")
        names = [str(n) for n in names]
        if axis != "dataset" and axis not in grid:
            if shared and axis in SETTINGS:            # a setting this study does not vary: its base value
                if str(base.get(axis, "")).lower() in {n.lower() for n in names}:
                    continue
                return None
            bad(f"{where}.when.{axis}", f"is not a grid axis or 'dataset' (axes: {', '.join(grid)})")
        if axis == "dataset":
            when[axis] = frozenset(names)
            continue
        labels = set()
        for name in names:
            hits = {l for l, v in grid[axis].items() if name.lower() in (l.lower(), value_label(v).lower())}
            if not hits:
                if not shared:
                    bad(f"{where}.when.{axis}", f"has no label {name!r} (labels: {', '.join(grid[axis])})")
                RunConfig.from_dict({axis: name}, source=f"{path}: {where}.when.{axis}")  # a valid value?
            labels |= hits
        if not labels:
            return None                                # none of its cells is in this study
        when[axis] = frozenset(labels)
    set_ = settings(entry["set"], f"{where}.set")
    if not set_:
        bad(f"{where}.set", "must set at least one setting")
    clash = sorted((set(set_) & set(grid)) | (set(set_) & {"seed", "dataset", "quick"}))
    if clash:
        bad(f"{where}.set.{clash[0]}", "is a grid axis or a per-run value; a cell setting cannot change it")
    # every cell it applies to must still make a valid configuration
    for labels in itertools.product(*(list(grid[a]) for a in grid)):
        cell = dict(zip(grid, labels))
        if all(cell[a] in ls for a, ls in when.items() if a != "dataset"):
            values = {a: grid[a][l] for a, l in cell.items()}
            RunConfig.from_dict({**base, **set_, **values}, source=f"{path}: {where}.set for cell {cell}")
    return CellSetting(when=when, settings=set_, source=str(entry.get("source", "")))

def value_label(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(str(x) for x in v) + "]"
    return str(v)

