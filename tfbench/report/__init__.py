"""Report layer: tables and figures from DataFrames of finished runs (never the database)."""

from tfbench.report.stats import PAIRED, WELCH, TTest, paired_by_seed, summarize, ttest
from tfbench.report.tables import (
    AVG_DATASET, MISSING, Cell, Table, TableLayout, build_table, csv_columns, latex_escape, rank_marks, render_table,
    table_cells,
)

__all__ = [
    "summarize", "ttest", "TTest", "paired_by_seed", "WELCH", "PAIRED",
    "TableLayout", "render_table", "rank_marks", "table_cells", "latex_escape", "MISSING", "AVG_DATASET",
    "csv_columns", "Cell", "Table", "build_table",
    "render_sweep",
]


def __getattr__(name):  # figures import matplotlib: load it only when asked for
    if name == "render_sweep":
        from tfbench.report.figures import render_sweep
        return render_sweep
    raise AttributeError(name)
