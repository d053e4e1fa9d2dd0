"""CSV rendering: one line per cell, numbers at full precision (``repr``: shortest exact round-trip)."""

from __future__ import annotations

from tfbench.report.cells import Table
from tfbench.report.layout import csv_columns, isnan

FLOAT_COLUMNS = ("mean", "std", "paper", "diff", "scale", "delta", "paper_delta", "pvalue")


def render_csv(table: Table) -> str:
    columns = csv_columns(table.layout)
    out = table.frame()[columns].astype(object)
    for k in columns:
        if k in FLOAT_COLUMNS:
            out[k] = out[k].map(lambda v: "" if isnan(v) else repr(float(v)))
        elif k == "n":
            out[k] = out[k].map(lambda v: str(int(v)))
        elif k == "pvalue_vs":
            out[k] = out[k].map(lambda v: "" if isnan(v) else str(v))
        else:
            out[k] = out[k].map(lambda v: "" if v is None else str(v))
    return out.to_csv(index=False, lineterminator="\n")
