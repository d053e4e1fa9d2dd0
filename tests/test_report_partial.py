"""Reports on partial data (issue #17): a t-test that cannot run says "n = 1, no test" (never
"p = nan"), and best / second-best marks go only to complete cells (the column's most seeds;
in the average block, the most datasets), with a note when some filled cells are left unmarked.
Small hand-built frames of made-up values; nothing trains."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
from scipy import stats as sps

from tfbench.report import AVG_DATASET, TableLayout, build_table, rank_marks, render_table
from tfbench.report.study_report import best_vs_runner_up

# (dataset, row) -> per-seed AUC; "C" has the best mean but one seed, "D" two seeds of three
RUNS = {("d1", "A"): [0.90, 0.91, 0.92], ("d1", "B"): [0.88, 0.89, 0.87], ("d1", "C"): [0.97],
        ("d1", "D"): [0.93, 0.95], ("d2", "A"): [0.80, 0.81, 0.79], ("d2", "B"): [0.82, 0.83, 0.81]}


def _frame(runs: dict) -> pd.DataFrame:
    return pd.DataFrame([{"dataset": d, "r": r, "seed": s, "AUC": v}
                         for (d, r), vals in runs.items() for s, v in enumerate(vals, start=1)])


def _layout(**kw) -> TableLayout:
    return TableLayout("partial", "r", None, ["A", "B", "C", "D"], [], ["AUC"], **kw)


def test_marks_go_only_to_complete_cells():
    table = build_table(_frame(RUNS), _layout(average_datasets=True), datasets=["d1", "d2"])
    marks = {r: table.cell("d1", i, 0, "AUC").mark for i, r in enumerate("ABCD")}
    # by mean C > D > A > B; only A and B have all three seeds, so they alone compete
    assert marks == {"A": "best", "B": "second", "C": "", "D": ""}
    assert [table.cell("d2", i, 0, "AUC").mark for i in range(2)] == ["second", "best"]
    # average block: A and B cover both datasets, C and D only d1 (their averages are d1's means)
    avg = {r: table.cell(AVG_DATASET, i, 0, "AUC") for i, r in enumerate("ABCD")}
    assert [avg[r].n for r in "ABCD"] == [2, 2, 1, 1]
    assert avg["A"].mean == pytest.approx(100 * (0.91 + 0.80) / 2)
    assert {r: c.mark for r, c in avg.items()} == {"A": "best", "B": "second", "C": "", "D": ""}


def test_a_column_with_one_complete_cell_has_no_marks():
    runs = {("d1", "A"): [0.90, 0.91, 0.92], ("d1", "C"): [0.97]}
    table = build_table(_frame(runs), _layout(), datasets=["d1"])
    assert [c.mark for c in table.block("d1")] == ["", "", "", ""]


def test_the_notes_say_why_filled_cells_are_unmarked():
    md = render_table(_frame(RUNS), _layout(average_datasets=True), datasets=["d1", "d2"])
    assert "| C | 97.00 ± — (n=1) |" in md and "| A | **91.00** ± 1.00 (n=3) |" in md
    assert ("- Marks compare complete cells only: 4 cells with fewer seeds than the best-covered cell of their "
            "column (in the average block: fewer datasets) are not marked.") in md
    tex = render_table(_frame(RUNS), _layout(), datasets=["d1", "d2"], fmt="latex")
    assert r"\item[--] Marks compare complete cells only: 2 cells with fewer seeds" in tex
    complete = {k: v for k, v in RUNS.items() if k[1] in "AB"}
    assert "Marks compare" not in render_table(_frame(complete), _layout(), datasets=["d1", "d2"])


def test_rank_marks_with_counts_compares_complete_cells_only():
    means = {"A": 0.91, "B": 0.89, "C": 0.97}
    assert rank_marks(means) == {"A": "second", "B": None, "C": "best"}           # without counts: as before
    assert rank_marks(means, counts={"A": 3, "B": 3, "C": 1}) == {"A": "best", "B": "second", "C": None}
    assert rank_marks({"A": 0.91, "C": 0.97}, counts={"A": 3, "C": 1}) == {"A": None, "C": None}


def test_test_row_with_one_seed_says_no_test():
    md = render_table(_frame(RUNS), _layout(test_row="C"), datasets=["d1", "d2"])
    row = next(ln for ln in md.splitlines() if ln.startswith("| p vs best other"))
    assert row == "| p vs best other (C) | n = 1, no test vs D (n=1/2) |"
    assert "nan" not in md and "“n = 1, no test” (or n = 0) where a side has fewer than two values" in md
    tex = render_table(_frame(RUNS), _layout(test_row="C"), datasets=["d1", "d2"], fmt="latex")
    assert r"{\scriptsize n = 1, no test vs D (n=1/2)}" in tex and "nan" not in tex


def test_test_row_with_enough_seeds_still_prints_p():
    md = render_table(_frame(RUNS), _layout(test_row="A"), datasets=["d2"])
    ref = sps.ttest_ind(RUNS[("d2", "A")], RUNS[("d2", "B")], equal_var=False)
    assert f"| p vs best other (A) | p = {ref.pvalue:.3g} vs B (n=3/3) |" in md


def test_best_vs_runner_up_notes_say_no_test_instead_of_p_nan():
    study = SimpleNamespace(rows="r", columns=None)
    one_seed = _frame({("d1", "A"): [0.90], ("d1", "B"): [0.88, 0.87]})
    notes = best_vs_runner_up(one_seed, study, ["AUC"], paired=False)
    assert notes == ["d1 AUC: best A vs runner-up B: n = 1, no test (Welch two-tailed t-test, n = 1 and 2)"]
    paired = best_vs_runner_up(_frame({("d1", "A"): [0.90, 0.91], ("d1", "B"): [0.88]}), study, ["AUC"], paired=True)
    assert paired == ["d1 AUC: best A vs runner-up B: n = 1, no test (paired two-tailed t-test, n = 1 and 1)"]
    two = best_vs_runner_up(_frame({("d1", "A"): [0.90, 0.93], ("d1", "B"): [0.88, 0.87]}), study, ["AUC"], False)
    p = sps.ttest_ind([0.90, 0.93], [0.88, 0.87], equal_var=False).pvalue
    assert two == [f"d1 AUC: best A vs runner-up B: p = {p:.3g} (Welch two-tailed t-test, n = 2 and 2)"]


def test_p_phrase():
    from tfbench.report.text import p_phrase      # new in #17 (imported here so the rest runs on older code)

    assert p_phrase(float("nan"), 1, 5) == "n = 1, no test"
    assert p_phrase(float("nan"), 3, 0) == "n = 0, no test"
    assert p_phrase(float("nan"), 3, 3) == "no test (no variance)"
    assert p_phrase(0.012345, 3, 3) == "p = 0.0123"
