"""What a paper-style table shows: :class:`TableLayout`, the column names of its cells, and the
helpers that compare and label axis values (shared by the cell builder and the renderers)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from tfbench.report.stats import PAIRED, WELCH

MISSING = "—"          # shown for a cell without a finished run (never 0)
NO_COL = "-"           # column key for single-axis tables, also in the ``paper`` dict
FORMATS = ("markdown", "latex", "csv")
CSV_COLUMNS = ["dataset", "row", "col", "metric", "mean", "std", "n", "paper", "diff", "mark", "scale"]
DELTA_COLUMNS = ["delta", "paper_delta"]      # CSV, when the layout has a Δ reference
PVALUE_COLUMNS = ["pvalue", "pvalue_vs"]      # CSV, when the layout has a test_row
AVG_DATASET = "AVG over datasets"             # the ``dataset`` of the average block's cells
# table_cells' columns besides the CSV ones: paper_n (paper values averaged: 1/0 per dataset, the
# number of datasets in the average block), delta_n (datasets in an average Δ), is_ref (the Δ
# reference cell), is_avg (average block), pvalue_test / pvalue_n_a / pvalue_n_b (the t-test used
# and the values on each side, on the test row's cells)
INTERNAL_COLUMNS = ["paper_dataset", "paper_n", "delta_n", "is_ref", "is_avg", "pvalue_test",
                    "pvalue_n_a", "pvalue_n_b"]
CELL_COLUMNS = CSV_COLUMNS + DELTA_COLUMNS + PVALUE_COLUMNS + INTERNAL_COLUMNS


@dataclass(frozen=True)
class TableLayout:
    title: str                      # e.g. "Table VI: SSEM x DFM"
    row_axis: str                   # column name in results, e.g. "ssem"
    col_axis: str | None            # e.g. "dfm"; None for single-axis tables (rows only)
    row_order: list                 # display order of row values
    col_order: list                 # display order of column values ([] when col_axis is None)
    metrics: list[str]              # e.g. ["AUC", "gAUC"]
    scale: float = 100.0            # the paper prints AUC x 100 with two decimals
    higher_is_better: dict[str, bool] | None = None   # default True for every metric except "logloss"
    decimals: int = 2               # displayed decimals; best/second are decided at this precision
    delta_row: Any = None           # row value: every cell also gets Δ to this row's cell (same column)
    delta_column: Any = None        # column value: Δ to this column's cell (same row); not with delta_row
    test_row: Any = None            # row value: t-test against the best other row of each column
    average_datasets: bool = False  # extra block: per cell, the mean over datasets of the cell means
    paired: bool = False            # test_row: paired t-test over shared seeds instead of Welch's

    def is_higher_better(self, metric: str) -> bool:
        if self.higher_is_better and metric in self.higher_is_better:
            return bool(self.higher_is_better[metric])
        return metric.lower() != "logloss"

    @property
    def has_delta(self) -> bool:
        return self.delta_row is not None or self.delta_column is not None

    @property
    def delta_label(self) -> str:
        """ "Δ vs Log" (plain text) for the layout's Δ reference."""
        ref = self.delta_row if self.delta_row is not None else self.delta_column
        return f"Δ vs {label(ref)}"

    @property
    def test_label(self) -> str:
        return f"p vs best other ({label(self.test_row)})"

    @property
    def test_name(self) -> str:
        return PAIRED if self.paired else WELCH


def csv_columns(layout: TableLayout) -> list[str]:
    """The CSV header: ``CSV_COLUMNS`` plus the Δ and p-value columns when the layout has them."""
    return (CSV_COLUMNS + (DELTA_COLUMNS if layout.has_delta else [])
            + (PVALUE_COLUMNS if layout.test_row is not None else []))


# --------------------------------------------------------------------------- axis values

def isnan(x: Any) -> bool:
    """None or a float NaN (anything that is not a number is not NaN)."""
    try:
        return x is None or math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def same(a: Any, b: Any) -> bool:
    """Axis values compared NaN-safe (NaN equals NaN; 1 equals 1.0)."""
    if isnan(a) and isnan(b):
        return True
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - exotic types: fall back to text
        return str(a) == str(b)


def label(v: Any) -> str:
    """An axis value as printed: floats in ``%g`` form (0.25, not 0.25000000000000001)."""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    return str(v)


def display_order(order: list, present: list) -> list:
    """``order`` followed by any value present in the results but not listed (first appearance)."""
    out = list(order)
    for v in present:
        if not any(same(v, o) for o in out):
            out.append(v)
    return out


def index_of(value: Any, order: list) -> int:
    for i, o in enumerate(order):
        if same(value, o):
            return i
    raise KeyError(value)


def ref_index(value: Any, order: list, what: str) -> int:
    """Position of a layout's reference value (delta_row, delta_column, test_row) in ``order``."""
    try:
        return index_of(value, order)
    except KeyError:
        raise ValueError(f"{what} {value!r} is not one of {[label(o) for o in order]}") from None


def _lookup(mapping: Mapping | None, key: Any) -> Any:
    if not isinstance(mapping, Mapping):
        return None
    try:
        if key in mapping:
            return mapping[key]
    except TypeError:
        pass
    for k, v in mapping.items():
        if same(k, key) or str(k) == str(key):
            return v
    return None


def paper_value(paper: Mapping | None, name: str, row: Any, col: Any, metric: str) -> float:
    """``paper[name][row][col][metric]`` as a float (NaN when absent); keys match as :func:`same`
    or as text, so a YAML ``0.25`` or ``"0.25"`` finds the row value 0.25."""
    v = _lookup(_lookup(_lookup(_lookup(paper, name), row), col), metric)
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan
