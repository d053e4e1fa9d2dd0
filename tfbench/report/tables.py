"""Paper-style result tables (markdown, LaTeX, CSV) from a DataFrame of finished runs.

``results`` has one row per finished run: ``dataset``, the layout's axis column(s), ``seed`` and
one column per metric holding raw fractions (AUC 0.9861). Each table cell is the mean ± sample
std over seeds, multiplied by ``layout.scale`` (the paper prints AUC × 100 with two decimals),
next to the paper's value and our difference to it. Nothing here touches the database.

Optional extras of the layout (Tables V, VII and VIII of the paper):

* ``delta_row`` / ``delta_column``: every other cell also gets its difference to the reference cell
  of the same column / row (ours from our unrounded means, the paper's from its printed numbers);
* ``test_row``: per dataset, column and metric, a two-tailed t-test of that row's per-seed values
  against the other row with the best mean (Welch's, or paired over shared seeds with ``paired``);
* ``average_datasets``: an extra block ``AVG_DATASET`` holding, per cell, the mean over datasets of
  the cell means (only datasets where the cell has runs), the paper's average and the average Δ.

The pieces: :mod:`~tfbench.report.layout` (what a table shows), :mod:`~tfbench.report.cells`
(the typed cells, computed with pandas), one renderer per format (:mod:`~tfbench.report.render_markdown`,
:mod:`~tfbench.report.render_latex`, :mod:`~tfbench.report.render_csv`). This module is the entry
point and keeps the names the rest of the code imports from it.
"""

from __future__ import annotations

import pandas as pd

from tfbench.report.cells import Cell, Table, build_table, rank_marks, table_cells
from tfbench.report.layout import (
    AVG_DATASET, CSV_COLUMNS, DELTA_COLUMNS, FORMATS, INTERNAL_COLUMNS, MISSING, NO_COL, PVALUE_COLUMNS,
    TableLayout, csv_columns,
)
from tfbench.report.render_csv import render_csv
from tfbench.report.render_latex import latex_escape, render_latex
from tfbench.report.render_markdown import render_markdown

__all__ = [
    "AVG_DATASET", "CSV_COLUMNS", "DELTA_COLUMNS", "FORMATS", "INTERNAL_COLUMNS", "MISSING", "NO_COL",
    "PVALUE_COLUMNS", "Cell", "Table", "TableLayout", "build_table", "csv_columns", "latex_escape",
    "rank_marks", "render_table", "table_cells",
]


def _empty_message(layout: TableLayout, datasets: list[str]) -> str:
    return (f"{layout.title}: no finished runs on {', '.join(datasets) or 'any dataset'}: "
            f"nothing has been run for this study yet.\n")


def render_table(results: pd.DataFrame, layout: TableLayout, *, datasets: list[str],
                 paper: dict | None = None, paper_names: dict[str, str] | None = None,
                 fmt: str = "markdown", notes: list[str] | None = None) -> str:
    """Render one study's table in ``fmt`` ("markdown", "latex" or "csv").

    The layout's extras (Δ, test row, averages) are described in :func:`table_cells`; CSV carries
    ``DELTA_COLUMNS`` / ``PVALUE_COLUMNS`` only when the layout has them.
    ``paper`` holds the paper's numbers in display units (percent for scale 100):
    ``{paper_dataset: {row_value: {col_value: {metric: value}}}}`` (col_value ``"-"`` for single-axis
    tables); ``paper_names`` maps our dataset names to the paper's. One block per dataset in
    ``datasets`` order; best/second per column as :func:`rank_marks`. When no dataset has a run,
    a one-line message saying so is returned instead of a table.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown table format {fmt!r}; choose one of {', '.join(FORMATS)}")
    datasets = list(datasets)
    if results is None or results.empty or "dataset" not in results.columns \
            or not results["dataset"].isin(datasets).any():
        return _empty_message(layout, datasets)
    table = build_table(results, layout, datasets=datasets, paper=paper, paper_names=paper_names)
    if fmt == "csv":
        return render_csv(table)
    if fmt == "latex":
        return render_latex(table, list(notes or []))
    return render_markdown(table, list(notes or []))
