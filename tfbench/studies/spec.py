"""Study files: one YAML file per study in ``studies/``, validated on load.

A study names its datasets, the base configuration (plus per-dataset settings), the axes of its
grid, the seeds, how its table or figure is laid out, and the paper's numbers for its cells::

    name: table6
    title: "Table VI: ..."
    kind: table                      # table | figure
    datasets: [ml-tag, kkbox, frappe, ml-1m]
    seeds: [2023, 2024, 2025, 2026, 2027]
    base: {model: tf4ctr, alpha: 0.25}
    dataset_settings: {frappe-nfm: {dropout: 0.2}}
    grid: {ssem: [SER, GM, MoE, Share], dfm: [WSF, VF, CF, MoEF, Sum]}
    layout: {rows: ssem, columns: dfm, metrics: [AUC, gAUC]}
    quick: {epochs: 2}
    paper_names: {frappe-nfm: Frappe}
    paper: {Frappe: {SER: {WSF: {AUC: 98.72, gAUC: 98.17}}}}

A grid axis is a RunConfig setting; its values are a list, or a mapping label -> value when the
paper names the values (fig10's MLP_s structures A-E).

``cell_settings`` gives some cells their own settings, e.g. each baseline its published settings
on one dataset (entries apply in file order; ``when`` names cells by grid label or setting value;
``source`` is free text saying where values come from); ``{include: FILE}`` takes the entries of
a file shared by several studies (those naming cells a study lacks do not apply to it)::

    cell_settings:
      - include: settings/baselines.yaml
      - when: {model: EDCN, dataset: [frappe, frappe-nfm]}
        set: {dropout: 0.3, embedding_regularizer: 0.05}
        source: "BARS EDCN_frappe_x1_006"

A run's configuration is base < dataset_settings < cell_settings < quick (with ``--quick``) < the
cell's grid values < the seed; a cell setting may not set a grid axis.

Optional layout fields add what the paper prints beside mean ± std:

* ``delta_row: <row label>`` / ``delta_column: <column label>`` (one of the two): every other cell
  also shows its difference to the reference cell of the same column / row (Table V's ΔAUC against
  the Log row, Table VIII's against the Base column), ours beside the paper's;
* ``test_row: <row label>``: per dataset, metric and column, a two-tailed t-test between that row
  and the best other row (Table VII's p-values of TF4CTR against the best baseline);
* ``average_datasets: true``: an extra block with each cell's mean over datasets (Table V's AVG.AUC,
  and AVG.RI when a delta reference is set).

Reports other than the grid table / sweep figure (the paper's Tables III-IV, IX, Figures 2, 5, 6,
11) name a registered *reporter* (:mod:`tfbench.report.special`)::

    report: twin_focus_gradients     # a name from tfbench.report.special.reporter_names()
    report_settings: {c: [0.6, 0.8]} # free-form, for that reporter only; it checks them on load

``tfbench report`` then hands the whole report to the reporter instead of drawing the grid table.
A study that trains runs keeps its ``base``, ``grid`` and ``layout`` (the reporter reads its runs
from the results database); ``kind: analytic`` marks a study that trains nothing (Figure 5 is
computed from the loss, Table III from the prepared datasets): it needs only ``name`` and
``report`` (``datasets`` optional, ``title``, ``description``, ``paper``, ``paper_names`` and
``report_settings`` as the reporter reads them) and may not have the training fields; it plans no
runs, and ``tfbench run`` says there is nothing to train. Its ``paper`` is in the reporter's own
shape (checked by the reporter, not as grid cells).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


from tfbench.config import RunConfig
from tfbench.errors import ConfigError
from tfbench.studies.cell_settings import SETTINGS, CellSetting, parse_cell_settings, value_label
from tfbench.yamlfile import read_yaml

DEFAULT_SEEDS = (2023, 2024, 2025, 2026, 2027)
METRICS = ("AUC", "gAUC", "logloss")
TOP_KEYS = {
    "name", "title", "kind", "datasets", "seeds", "base", "dataset_settings", "grid", "layout",
    "quick", "paper_names", "paper", "description", "axis_label", "cell_settings", "report", "report_settings",
}
KINDS = ("table", "figure", "analytic")
TRAINING_KEYS = ("base", "dataset_settings", "grid", "layout", "quick", "cell_settings", "seeds", "axis_label")
REQUIRED = ("name", "datasets", "base", "grid", "layout")
LAYOUT_KEYS = ("rows", "columns", "metrics", "delta_row", "delta_column", "test_row", "average_datasets")


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    kind: str                                   # "table", "figure" or "analytic" (trains nothing)
    datasets: tuple[str, ...]
    seeds: tuple[int, ...]
    base: dict[str, Any]
    dataset_settings: dict[str, dict[str, Any]]
    grid: dict[str, dict[str, Any]]             # axis -> {label: config value} in display order
    rows: str
    columns: str | None
    metrics: tuple[str, ...]
    quick: dict[str, Any]
    paper_names: dict[str, str]
    paper: dict[str, Any]
    path: Path
    description: str = ""
    axis_label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    delta_row: str | None = None                # Δ of every cell against this row's cell (same column)
    delta_column: str | None = None             # Δ of every cell against this column's cell (same row)
    test_row: str | None = None                 # t-test of this row against the best other row
    average_datasets: bool = False              # extra block: each cell's mean over datasets
    cell_settings: tuple[CellSetting, ...] = ()  # settings for some cells (and datasets) only
    report: str | None = None                   # a registered reporter (tfbench.report.special) or None
    report_settings: dict[str, Any] = field(default_factory=dict)  # for that reporter only

    @property
    def axes(self) -> list[str]:
        return list(self.grid)

    @property
    def trains(self) -> bool:
        """Whether the study has runs to train (an analytic study's report is computed instead)."""
        return self.kind != "analytic"

    def settings_for(self, dataset: str, cell: dict[str, str]) -> dict[str, Any]:
        """The ``cell_settings`` that apply to this dataset and grid cell, merged in file order."""
        out: dict[str, Any] = {}
        for entry in self.cell_settings:
            if entry.matches(dataset, cell):
                out.update(entry.settings)
        return out

    def label_of(self, axis: str, value: Any) -> str | None:
        """The grid label of a config value on an axis (None if the value is not on the grid)."""
        for label, v in self.grid[axis].items():
            if _same(v, value):
                return label
        return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return list(a if isinstance(a, (list, tuple)) else [a]) == list(b if isinstance(b, (list, tuple)) else [b])
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return a == b


def studies_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("TFBENCH_STUDIES_DIR"):
        dirs.append(Path(os.environ["TFBENCH_STUDIES_DIR"]))
    dirs.append(Path.cwd() / "studies")
    dirs.append(Path(__file__).resolve().parents[2] / "studies")  # the repository's own studies/
    return dirs


def find_study(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise ConfigError(f"study file {p} does not exist")
        return p
    for d in studies_dirs():
        for ext in (".yaml", ".yml"):
            if (d / f"{name_or_path}{ext}").is_file():
                return d / f"{name_or_path}{ext}"
    known = ", ".join(sorted(s.stem for s in list_studies())) or "none found"
    raise ConfigError(f"unknown study '{name_or_path}': known studies are {known}")


def list_studies() -> list[Path]:
    seen: dict[str, Path] = {}
    for d in studies_dirs():
        if d.is_dir():
            for f in sorted(d.glob("*.y*ml")):
                seen.setdefault(f.stem, f)
    return [seen[k] for k in sorted(seen)]


def load_study(name_or_path: str) -> Study:
    path = find_study(name_or_path)
    raw = read_yaml(path, "study file")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a study file must be a mapping")

    def bad(fieldname: str, why: str):
        raise ConfigError(f"{path}: '{fieldname}' {why}")

    for key in raw:
        if key not in TOP_KEYS:
            bad(str(key), f"is not a study field (known: {', '.join(sorted(TOP_KEYS))})")
    if raw.get("kind") == "analytic":
        return _with_reporter(_load_analytic(raw, path, bad), raw, bad)
    for key in REQUIRED:
        if key not in raw:
            bad(key, "is missing")

    datasets = raw["datasets"]
    if not isinstance(datasets, list) or not datasets or not all(isinstance(d, str) for d in datasets):
        bad("datasets", "must be a non-empty list of dataset names")
    seeds = raw.get("seeds", list(DEFAULT_SEEDS))
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        bad("seeds", "must be a non-empty list of integers")
    kind = raw.get("kind", "table")
    if kind not in KINDS:
        bad("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")

    def settings(value, fieldname) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            bad(fieldname, "must be a mapping of settings")
        for k in value:
            if str(k) not in SETTINGS:
                bad(f"{fieldname}.{k}", "is not a run setting")
        RunConfig.from_dict(value, source=f"{path}: {fieldname}")  # value check, one line on error
        return dict(value)

    base = settings(raw["base"], "base")
    ds_settings_raw = raw.get("dataset_settings") or {}
    if not isinstance(ds_settings_raw, dict):
        bad("dataset_settings", "must map dataset names to settings")
    ds_settings = {str(k): settings(v, f"dataset_settings.{k}") for k, v in ds_settings_raw.items()}
    quick = settings(raw.get("quick"), "quick")

    grid_raw = raw["grid"]
    if not isinstance(grid_raw, dict) or not grid_raw:
        bad("grid", "must map at least one setting to its values")
    grid: dict[str, dict[str, Any]] = {}
    for axis, values in grid_raw.items():
        axis = str(axis)
        if axis not in SETTINGS or axis in ("seed", "quick", "dataset"):
            bad(f"grid.{axis}", "is not a run setting that a grid can vary")
        if isinstance(values, dict):
            labelled = {str(k): v for k, v in values.items()}
        elif isinstance(values, list):
            labelled = {value_label(v): v for v in values}
        else:
            bad(f"grid.{axis}", "must be a list of values or a mapping label -> value")
        if not labelled:
            bad(f"grid.{axis}", "has no values")
        for label, v in labelled.items():
            RunConfig.from_dict({**base, axis: v}, source=f"{path}: grid.{axis} value {label!r}")
        grid[axis] = labelled

    cell_settings = parse_cell_settings(raw.get("cell_settings"), grid, base, settings, bad, path)

    layout = raw["layout"]
    if not isinstance(layout, dict):
        bad("layout", "must be a mapping with rows, columns, metrics")
    for k in layout:
        if k not in LAYOUT_KEYS:
            bad(f"layout.{k}", f"is not a layout field ({', '.join(LAYOUT_KEYS)})")
    rows = layout.get("rows")
    if rows not in grid:
        bad("layout.rows", f"must name a grid axis ({', '.join(grid)}), got {rows!r}")
    columns = layout.get("columns")
    if columns is not None and (columns not in grid or columns == rows):
        bad("layout.columns", f"must name another grid axis ({', '.join(grid)}), got {columns!r}")
    if set(grid) - {rows, columns}:
        bad("grid", f"axes {sorted(set(grid) - {rows, columns})} are not placed in the layout")
    metrics = layout.get("metrics", ["AUC"])
    if not isinstance(metrics, list) or not metrics or any(m not in METRICS for m in metrics):
        bad("layout.metrics", f"must be a non-empty list of {', '.join(METRICS)}")

    def layout_label(fieldname: str, axis: str | None, what: str) -> str | None:
        if fieldname not in layout:
            return None
        value = layout[fieldname]
        if axis is None:
            bad(f"layout.{fieldname}", f"needs a {what} axis ('layout.columns' is not set)")
        labels = list(grid[axis])
        if value is None or isinstance(value, (dict, list)) or str(value) not in labels:
            bad(f"layout.{fieldname}", f"must be a label of the {what} axis '{axis}' ({', '.join(labels)}), "
                                       f"got {value!r}")
        return str(value)

    delta_row = layout_label("delta_row", rows, "rows")
    delta_column = layout_label("delta_column", columns, "columns")
    if delta_row is not None and delta_column is not None:
        bad("layout.delta_row", "and 'layout.delta_column' cannot both be set (one Δ reference per table)")
    test_row = layout_label("test_row", rows, "rows")
    if test_row is not None and len(grid[rows]) < 2:
        bad("layout.test_row", f"needs another row to compare with, but axis '{rows}' has one label")
    average_datasets = layout.get("average_datasets", False)
    if not isinstance(average_datasets, bool):
        bad("layout.average_datasets", f"must be true or false, got {average_datasets!r}")

    paper_names = raw.get("paper_names") or {}
    paper = raw.get("paper") or {}
    if not isinstance(paper_names, dict) or not isinstance(paper, dict):
        bad("paper", "and 'paper_names' must be mappings")
    _check_paper(paper, grid, rows, columns, metrics, bad)

    name = _name(raw, path, bad)
    return _with_reporter(Study(
        name=name, title=str(raw.get("title", name)), kind=kind, datasets=tuple(datasets),
        seeds=tuple(seeds), base=base, dataset_settings=ds_settings, grid=grid, rows=rows,
        columns=columns, metrics=tuple(metrics), quick=quick, paper_names=dict(paper_names),
        paper=paper, path=path, description=str(raw.get("description", "")),
        axis_label=str(raw.get("axis_label", rows)), delta_row=delta_row, delta_column=delta_column,
        test_row=test_row, average_datasets=average_datasets, cell_settings=cell_settings,
    ), raw, bad)


def _name(raw, path, bad) -> str:
    name = raw["name"]
    if name != path.stem:
        bad("name", f"must match the file name '{path.stem}', got {name!r}")
    return name


def _load_analytic(raw, path, bad) -> Study:
    """A study that trains nothing: name, report, and what its reporter reads."""
    for key in ("name", "report"):
        if key not in raw:
            bad(key, "is missing (a 'kind: analytic' study needs a name and a report)")
    for key in TRAINING_KEYS:
        if key in raw:
            bad(key, "is a training field; a 'kind: analytic' study trains nothing")
    datasets = raw.get("datasets") or []
    if not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets):
        bad("datasets", "must be a list of dataset names")
    paper_names, paper = raw.get("paper_names") or {}, raw.get("paper") or {}
    if not isinstance(paper_names, dict) or not isinstance(paper, dict):
        bad("paper", "and 'paper_names' must be mappings")
    name = _name(raw, path, bad)
    return Study(
        name=name, title=str(raw.get("title", name)), kind="analytic", datasets=tuple(datasets), seeds=(),
        base={}, dataset_settings={}, grid={}, rows="", columns=None, metrics=(), quick={},
        paper_names=dict(paper_names), paper=paper, path=path, description=str(raw.get("description", "")),
    )


def _with_reporter(study: Study, raw, bad) -> Study:
    """The study with its ``report`` and ``report_settings``, checked by the named reporter."""
    if "report" not in raw:
        if "report_settings" in raw:
            bad("report_settings", "needs a 'report' to read it")
        return study
    from tfbench.report.special import get_reporter  # the report layer, loaded only when a study names it

    name, settings = raw["report"], raw.get("report_settings") or {}
    if not isinstance(settings, dict):
        bad("report_settings", "must be a mapping")
    try:
        reporter = get_reporter(str(name))
        study = replace(study, report=reporter.name, report_settings=dict(settings))
        reporter.check(study)
    except ConfigError as e:
        raise ConfigError(f"{study.path}: {e}") from None
    return study


def _check_paper(paper, grid, rows, columns, metrics, bad) -> None:
    for ds, by_row in paper.items():
        if not isinstance(by_row, dict):
            bad(f"paper.{ds}", "must map row labels to cells")
        for r, by_col in by_row.items():
            if str(r) not in grid[rows]:
                bad(f"paper.{ds}.{r}", f"is not a label of axis '{rows}'")
            if not isinstance(by_col, dict):
                bad(f"paper.{ds}.{r}", "must map column labels to metric values")
            for c, vals in by_col.items():
                if columns is not None and str(c) not in grid[columns]:
                    bad(f"paper.{ds}.{r}.{c}", f"is not a label of axis '{columns}'")
                if columns is None and str(c) != "-":
                    bad(f"paper.{ds}.{r}.{c}", "must be '-' in a single-axis study")
                if not isinstance(vals, dict) or any(m not in METRICS or not isinstance(v, (int, float)) for m, v in vals.items()):
                    bad(f"paper.{ds}.{r}.{c}", "must map metric names to numbers")
