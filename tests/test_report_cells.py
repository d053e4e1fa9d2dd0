"""The typed layer under the tables: frozen cells, the Table that holds them, and the LaTeX path
through pandas' Styler. Hand-made DataFrames; nothing trains."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from pandas.io.formats.style import Styler

from tfbench.report import AVG_DATASET, Cell, Table, TableLayout, build_table, render_table, table_cells
from tfbench.report.layout import CELL_COLUMNS
from tfbench.report.render_latex import _insert_rules

RUNS = {("d1", "A", "x"): [0.90, 0.92, 0.91], ("d1", "B", "x"): [0.95], ("d1", "A", "y"): [0.80, 0.82],
        ("d2", "A", "x"): [0.70, 0.72], ("d2", "B", "y"): [0.60, 0.61, 0.65]}
LAYOUT = TableLayout("t", "r", "c", ["A", "B"], ["x", "y"], ["AUC"], delta_row="A", test_row="B",
                     average_datasets=True)


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return pd.DataFrame([{"dataset": d, "r": r, "c": c, "seed": s, "AUC": v}
                         for (d, r, c), vals in RUNS.items() for s, v in enumerate(vals, start=1)])


@pytest.fixture(scope="module")
def table(results) -> Table:
    return build_table(results, LAYOUT, datasets=["d1", "d2"])


def test_cells_are_frozen_and_typed(table):
    c = table.cell("d1", 0, 0, "AUC")
    assert isinstance(c, Cell) and (c.dataset, c.row, c.col, c.metric) == ("d1", "A", "x", "AUC")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.mean = 0.0
    for cell in table.cells:
        assert isinstance(cell.n, int) and isinstance(cell.mean, float) and isinstance(cell.is_ref, bool)
        assert cell.mark in ("best", "second", "")
    assert len(table.cells) == 3 * 2 * 2                     # two datasets and the average block
    assert table.blocks == ["d1", "d2", AVG_DATASET] and table.test_ri == 1


def test_stats_are_mean_sample_std_and_n_over_seeds(table):
    for (d, r, c), vals in RUNS.items():
        cell = table.cell(d, ["A", "B"].index(r), ["x", "y"].index(c), "AUC")
        assert cell.mean == pytest.approx(100 * np.mean(vals), rel=1e-13) and cell.n == len(vals)
        if len(vals) > 1:
            assert cell.std == pytest.approx(100 * np.std(vals, ddof=1), rel=1e-10)
        else:
            assert math.isnan(cell.std)
    never = table.cell("d2", 1, 0, "AUC")                  # d2 B x never ran
    assert never.n == 0 and math.isnan(never.mean) and never.mark == ""


def test_extras_on_the_cells(table):
    b = table.cell("d1", 1, 0, "AUC")
    # B (one seed) is not comparable with A (three): neither is marked though B's mean is higher
    assert b.mark == "" and table.cell("d1", 0, 0, "AUC").mark == ""
    assert b.delta == pytest.approx(95 - 91, abs=1e-9) and not b.is_ref
    assert table.cell("d1", 0, 0, "AUC").is_ref
    assert b.pvalue_vs == "A" and b.pvalue_n_a == 1 and math.isnan(b.pvalue)     # one seed: no p-value
    avg = table.cell(AVG_DATASET, 0, 0, "AUC")
    assert avg.is_avg and avg.n == 2 and avg.mean == pytest.approx((91 + 71) / 2, abs=1e-9)
    assert table.cell(AVG_DATASET, 1, 1, "AUC").n == 1


def test_frame_is_table_cells(results, table):
    frame = table.frame()
    assert list(frame.columns) == CELL_COLUMNS
    pd.testing.assert_frame_equal(frame, table_cells(results, LAYOUT, datasets=["d1", "d2"]))
    assert frame.iloc[0].to_dict()["mean"] == table.cells[0].mean


def test_latex_tabulars_come_from_styler(results, monkeypatch):
    calls = []
    original = Styler.to_latex

    def spy(self, *args, **kwargs):
        calls.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Styler, "to_latex", spy)
    tex = render_table(results, LAYOUT, datasets=["d1", "d2"], fmt="latex")
    assert len(calls) == 3 and all(k["hrules"] for k in calls)            # one per block, booktabs rules
    assert tex.count(r"\toprule") == tex.count(r"\bottomrule") == 3
    assert tex.count(r"\cmidrule(lr){2-2} \cmidrule(lr){3-3}") == 3
    assert tex.count(r"\midrule") == 3 + 2                 # under each header, above the p-value rows


def test_insert_rules_puts_lines_before_body_rows_and_refuses_unexpected_output():
    tex = "\\begin{tabular}{lr}\n\\toprule\n & AUC \\\\\n\\midrule\nA & 1 \\\\\n\\bottomrule\n\\end{tabular}\n"
    assert r"\midrule" + "\n" + r"\addlinespace" in _insert_rules(tex, None, {0: r"\addlinespace"}, 1)
    with pytest.raises(AssertionError, match="unexpected Styler"):
        _insert_rules(tex, None, {}, 2)
