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
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any, Hashable, Mapping

import numpy as np
import pandas as pd

from tfbench.report.stats import PAIRED, WELCH, paired_by_seed, summarize, ttest

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
        return f"Δ vs {_label(ref)}"

    @property
    def test_label(self) -> str:
        return f"p vs best other ({_label(self.test_row)})"

    @property
    def test_name(self) -> str:
        return PAIRED if self.paired else WELCH


def csv_columns(layout: TableLayout) -> list[str]:
    """The CSV header: ``CSV_COLUMNS`` plus the Δ and p-value columns when the layout has them."""
    return (CSV_COLUMNS + (DELTA_COLUMNS if layout.has_delta else [])
            + (PVALUE_COLUMNS if layout.test_row is not None else []))


# --------------------------------------------------------------------------- best / second

def _isnan(x: Any) -> bool:
    try:
        return x is None or math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def rank_marks(values: Mapping[Hashable, float], higher_is_better: bool = True, *,
               decimals: int | None = None) -> dict[Hashable, str | None]:
    """Best / second-best placement within one column.

    ``values`` maps a row key to its mean (NaN or None = missing cell). Returns, for every key,
    ``"best"``, ``"second"`` or ``None``. Rules: missing cells are never marked; ties share the
    mark (every row equal to the best value is "best"); "second" goes to the rows holding the
    next distinct value (dense ranking), so it exists only when at least two filled cells hold at
    least two distinct values. With ``decimals`` the values are compared after rounding to that many
    decimals (so two cells that print the same number get the same mark).
    """
    filled: dict[Hashable, float] = {}
    for k, v in values.items():
        if not _isnan(v):
            fv = float(v)
            filled[k] = round(fv, decimals) if decimals is not None else fv
    marks: dict[Hashable, str | None] = {k: None for k in values}
    if not filled:
        return marks
    distinct = sorted(set(filled.values()), reverse=higher_is_better)
    best = distinct[0]
    second = distinct[1] if len(filled) >= 2 and len(distinct) >= 2 else None
    for k, v in filled.items():
        if v == best:
            marks[k] = "best"
        elif second is not None and v == second:
            marks[k] = "second"
    return marks


# --------------------------------------------------------------------------- cells

def _same(a: Any, b: Any) -> bool:
    if _isnan(a) and _isnan(b):
        return True
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - exotic types: fall back to text
        return str(a) == str(b)


def _display_order(order: list, present: list) -> list:
    """``order`` followed by any value present in the results but not listed (first appearance)."""
    out = list(order)
    for v in present:
        if not any(_same(v, o) for o in out):
            out.append(v)
    return out


def _index_of(value: Any, order: list) -> int:
    for i, o in enumerate(order):
        if _same(value, o):
            return i
    raise KeyError(value)


def _lookup(mapping: Mapping | None, key: Any) -> Any:
    if not isinstance(mapping, Mapping):
        return None
    try:
        if key in mapping:
            return mapping[key]
    except TypeError:
        pass
    for k, v in mapping.items():
        if _same(k, key) or str(k) == str(key):
            return v
    return None


def _paper_value(paper: Mapping | None, name: str, row: Any, col: Any, metric: str) -> float:
    v = _lookup(_lookup(_lookup(_lookup(paper, name), row), col), metric)
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _check_columns(results: pd.DataFrame, layout: TableLayout) -> None:
    need = ["dataset", layout.row_axis] + ([layout.col_axis] if layout.col_axis else []) + list(layout.metrics)
    missing = [c for c in need if c not in results.columns]
    if missing:
        raise KeyError(f"render_table({layout.title!r}): results lack column(s) {missing}; "
                       f"have {list(results.columns)}")


def _empty_message(layout: TableLayout, datasets: list[str]) -> str:
    return (f"{layout.title}: no finished runs on {', '.join(datasets) or 'any dataset'}: "
            f"nothing has been run for this study yet.\n")


def table_cells(results: pd.DataFrame, layout: TableLayout, *, datasets: list[str],
                paper: dict | None = None, paper_names: dict[str, str] | None = None) -> pd.DataFrame:
    """The full grid as a long DataFrame, one row per (dataset, row, col, metric) cell.

    Columns: ``CSV_COLUMNS`` (mean/std/paper/diff in display units, i.e. × ``layout.scale``; ``n``
    = number of seeds with a value; ``mark`` = "best"/"second"/""), ``DELTA_COLUMNS`` and
    ``PVALUE_COLUMNS`` (NaN / None where the layout has no such extra), plus ``INTERNAL_COLUMNS``.
    Every cell of the grid is present, missing ones with NaN mean and ``n`` = 0.

    ``delta`` = mean − the reference cell's mean and ``paper_delta`` = paper − the reference cell's
    paper value (NaN on the reference cell itself and where a side is missing). ``pvalue`` and
    ``pvalue_vs`` (the best other row by our mean; ties: the first in display order) are set on the
    cells of ``test_row`` only. With ``average_datasets`` the cells of the block ``AVG_DATASET``
    follow those of the datasets: ``mean`` = mean over datasets of the cell means (datasets where
    the cell has runs), ``n`` = the number of those datasets, ``std`` NaN, ``paper`` = mean of the
    paper's values of the cell over ``datasets``, ``diff`` only when both averages cover the same
    datasets, ``delta``/``paper_delta`` = means over datasets of the per-dataset Δ.
    """
    _check_columns(results, layout)
    if layout.delta_row is not None and layout.delta_column is not None:
        raise ValueError(f"{layout.title!r}: set delta_row or delta_column, not both")
    if layout.delta_column is not None and layout.col_axis is None:
        raise ValueError(f"{layout.title!r}: delta_column needs a column axis")
    res = results[results["dataset"].isin(datasets)].copy()
    col_key = layout.col_axis or "__col__"
    if layout.col_axis is None:
        res[col_key] = NO_COL
    rows = _display_order(layout.row_order, list(pd.unique(res[layout.row_axis])) if len(res) else [])
    cols = ([NO_COL] if layout.col_axis is None else
            _display_order(layout.col_order, list(pd.unique(res[col_key])) if len(res) else []))
    metrics = list(layout.metrics)
    summary = summarize(res, ["dataset", layout.row_axis, col_key], metrics)

    stats: dict[tuple, dict[str, tuple[float, float, int]]] = {}
    for rec in summary.to_dict("records"):
        key = (rec["dataset"], _index_of(rec[layout.row_axis], rows), _index_of(rec[col_key], cols))
        stats[key] = {m: (float(rec[f"{m}_mean"]), float(rec[f"{m}_std"]), int(rec[f"{m}_n"])) for m in metrics}

    names = paper_names or {}
    out = []
    cell: dict[tuple, dict] = {}      # (dataset, row index, col index, metric) -> record
    for ds in datasets:
        pname = names.get(ds, ds)
        for ci, col in enumerate(cols):
            for m in metrics:
                column = []
                for ri, row in enumerate(rows):
                    mean, std, n = stats.get((ds, ri, ci), {}).get(m, (math.nan, math.nan, 0))
                    if n == 0:
                        mean = std = math.nan
                    mean_s, std_s = mean * layout.scale, std * layout.scale
                    p = _paper_value(paper, pname, row, col, m)
                    rec = _record(ds, row, col, m, mean_s, std_s, n, p, mean_s - p, layout.scale, pname)
                    rec["paper_n"] = 0 if _isnan(p) else 1
                    column.append(rec)
                    cell[(ds, ri, ci, m)] = rec
                marks = rank_marks({i: c["mean"] for i, c in enumerate(column)},
                                   layout.is_higher_better(m), decimals=layout.decimals)
                for i, c in enumerate(column):
                    c["mark"] = marks[i] or ""
                out.extend(column)
    if layout.has_delta:
        _add_deltas(cell, rows, cols, layout)
    if layout.test_row is not None:
        _add_pvalues(res, cell, rows, cols, col_key, layout, datasets, metrics)
    if layout.average_datasets:
        out.extend(_average_block(cell, rows, cols, layout, datasets, metrics))
    return pd.DataFrame(out, columns=CSV_COLUMNS + DELTA_COLUMNS + PVALUE_COLUMNS + INTERNAL_COLUMNS)


def _record(ds, row, col, m, mean, std, n, paper, diff, scale, pname) -> dict:
    return {
        "dataset": ds, "row": row, "col": col, "metric": m, "mean": mean, "std": std, "n": n,
        "paper": paper, "diff": diff, "mark": "", "scale": scale,
        "delta": math.nan, "paper_delta": math.nan, "pvalue": math.nan, "pvalue_vs": None,
        "paper_dataset": pname, "paper_n": 0, "delta_n": 0, "is_ref": False, "is_avg": False,
        "pvalue_test": "", "pvalue_n_a": 0, "pvalue_n_b": 0,
    }


def _ref_index(value: Any, order: list, what: str) -> int:
    try:
        return _index_of(value, order)
    except KeyError:
        raise ValueError(f"{what} {value!r} is not one of {[_label(o) for o in order]}") from None


def _add_deltas(cell: dict, rows: list, cols: list, layout: TableLayout) -> None:
    """``delta`` / ``paper_delta`` of every cell against the reference cell of its column (delta_row)
    or of its row (delta_column), same dataset and metric."""
    if layout.delta_row is not None:
        ref = _ref_index(layout.delta_row, rows, "delta_row")
        ref_of = lambda ri, ci: (ref, ci)    # noqa: E731
    else:
        ref = _ref_index(layout.delta_column, cols, "delta_column")
        ref_of = lambda ri, ci: (ri, ref)    # noqa: E731
    for (ds, ri, ci, m), c in cell.items():
        rri, rci = ref_of(ri, ci)
        if (rri, rci) == (ri, ci):
            c["is_ref"] = True
            continue
        r = cell[(ds, rri, rci, m)]
        c["delta"] = c["mean"] - r["mean"]            # NaN when either side has no run
        c["paper_delta"] = c["paper"] - r["paper"]


def _add_pvalues(res: pd.DataFrame, cell: dict, rows: list, cols: list, col_key: str,
                 layout: TableLayout, datasets: list[str], metrics: list[str]) -> None:
    """On the test row's cells: the two-tailed t-test against the other row with the best mean."""
    ti = _ref_index(layout.test_row, rows, "test_row")
    if layout.paired and "seed" not in res.columns:
        raise KeyError(f"render_table({layout.title!r}): a paired t-test needs a 'seed' column in results")
    groups: dict[tuple, pd.DataFrame] = {}
    if len(res):
        for key, part in res.groupby(["dataset", layout.row_axis, col_key], dropna=False, sort=False):
            groups[(key[0], _index_of(key[1], rows), _index_of(key[2], cols))] = part
    for ds in datasets:
        for ci in range(len(cols)):
            for m in metrics:
                t = cell[(ds, ti, ci, m)]
                t["pvalue_test"] = layout.test_name
                hi = layout.is_higher_better(m)
                best_ri, best = None, math.nan
                for ri in range(len(rows)):
                    c = cell[(ds, ri, ci, m)]
                    if ri == ti or c["n"] == 0:
                        continue
                    if best_ri is None or (c["mean"] > best if hi else c["mean"] < best):
                        best_ri, best = ri, c["mean"]
                if best_ri is None:
                    continue
                t["pvalue_vs"] = rows[best_ri]
                a, b = groups.get((ds, ti, ci)), groups[(ds, best_ri, ci)]
                values = lambda part: pd.to_numeric(part[m], errors="coerce")    # noqa: E731
                if a is None:
                    t["pvalue_n_b"] = int(values(b).notna().sum())
                    continue
                if layout.paired:
                    xa, xb = paired_by_seed(values(a).set_axis(a["seed"]), values(b).set_axis(b["seed"]))
                    r = ttest(xa, xb, paired=True)
                else:
                    r = ttest(values(a).to_numpy(), values(b).to_numpy())
                t.update(pvalue=r.pvalue, pvalue_n_a=r.n_a, pvalue_n_b=r.n_b)


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def _average_block(cell: dict, rows: list, cols: list, layout: TableLayout, datasets: list[str],
                   metrics: list[str]) -> list[dict]:
    """The block ``AVG_DATASET``: per cell, the mean over datasets (see :func:`table_cells`)."""
    out = []
    for ci, col in enumerate(cols):
        for m in metrics:
            column = []
            for ri, row in enumerate(rows):
                recs = [cell[(ds, ri, ci, m)] for ds in datasets]
                ours = [c for c in recs if c["n"] > 0]
                theirs = [c for c in recs if not _isnan(c["paper"])]
                mean = _mean([c["mean"] for c in ours])
                paper = _mean([c["paper"] for c in theirs])
                same = ours and {c["dataset"] for c in ours} == {c["dataset"] for c in theirs}
                rec = _record(AVG_DATASET, row, col, m, mean, math.nan, len(ours), paper,
                              mean - paper if same else math.nan, layout.scale, AVG_DATASET)
                deltas = [c["delta"] for c in recs if not _isnan(c["delta"])]
                rec.update(
                    paper_n=len(theirs), is_avg=True, is_ref=bool(recs and recs[0]["is_ref"]),
                    delta=_mean(deltas), delta_n=len(deltas),
                    paper_delta=_mean([c["paper_delta"] for c in recs if not _isnan(c["paper_delta"])]),
                )
                column.append(rec)
            marks = rank_marks({i: c["mean"] for i, c in enumerate(column)},
                               layout.is_higher_better(m), decimals=layout.decimals)
            for i, c in enumerate(column):
                c["mark"] = marks[i] or ""
            out.extend(column)
    return out


# --------------------------------------------------------------------------- formatting helpers

def _num(x: float, decimals: int) -> str:
    return MISSING if _isnan(x) else f"{x:.{decimals}f}"


def _signed(x: float, decimals: int) -> str:
    x = 0.0 if round(x, decimals) == 0 else x   # no "-0.00"
    return f"{x:+.{decimals}f}"


def _shown_diff(c: dict, decimals: int) -> str:
    """ours − paper as printed: the difference of the two displayed (rounded) numbers."""
    return _signed(round(c["mean"], decimals) - round(c["paper"], decimals), decimals)


def _label(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    return str(v)


def _metrics_phrase(layout: TableLayout) -> str:
    hi = [m for m in layout.metrics if layout.is_higher_better(m)]
    lo = [m for m in layout.metrics if not layout.is_higher_better(m)]
    parts = []
    if hi:
        parts.append(f"higher is better for {', '.join(hi)}")
    if lo:
        parts.append(f"lower is better for {', '.join(lo)}")
    return "; ".join(parts)


def _scale_phrase(layout: TableLayout) -> str:
    return "raw values" if layout.scale == 1 else f"values × {layout.scale:g}"


def _n_phrase(cells: pd.DataFrame) -> str:
    filled = cells[(cells["n"] > 0) & ~cells["is_avg"].astype(bool)]["n"]
    if filled.empty:
        return "n seeds"
    lo, hi = int(filled.min()), int(filled.max())
    return f"n = {lo} seeds" if lo == hi else f"n = {lo}–{hi} seeds"


def _datasets_phrase(n: int) -> str:
    return f"{n} dataset{'' if n == 1 else 's'}"


def _pnum(p: float) -> str:
    return MISSING if _isnan(p) else f"{p:.3g}"


def _delta_parts(c: dict, layout: TableLayout) -> tuple[str, str, str] | None:
    """The Δ texts of a cell: (ours or "" when missing, "(k datasets)" when an average Δ covers fewer
    datasets than the cell's mean, paper's or ""); None when there is nothing to show."""
    if not layout.has_delta or c["is_ref"] or (_isnan(c["delta"]) and _isnan(c["paper_delta"])):
        return None
    d = layout.decimals
    ours = "" if _isnan(c["delta"]) else _signed(c["delta"], d)
    count = f" ({_datasets_phrase(c['delta_n'])})" if c["is_avg"] and ours and c["delta_n"] != c["n"] else ""
    return ours, count, ("" if _isnan(c["paper_delta"]) else _signed(c["paper_delta"], d))


def _p_text(c: dict) -> str:
    """The test row's p-value against the best other row, plain text."""
    if _isnan(c["pvalue_vs"]):      # None, or NaN once in a DataFrame: no other row has runs
        return MISSING
    return f"p = {_pnum(c['pvalue'])} vs {_label(c['pvalue_vs'])} (n={c['pvalue_n_a']}/{c['pvalue_n_b']})"


def _extra_notes(layout: TableLayout) -> list[str]:
    """Plain-text notes explaining the layout's extras (Δ, p-values, averages)."""
    notes = []
    if layout.has_delta:
        by_row = layout.delta_row is not None
        ref = _label(layout.delta_row if by_row else layout.delta_column)
        notes.append(
            f"{layout.delta_label} = the cell − the {ref} {'row' if by_row else 'column'}'s cell of the same "
            f"{'column' if by_row else 'row'} and dataset: ours from our unrounded means, paper from the "
            f"paper's printed numbers.")
    if layout.test_row is not None:
        row = _label(layout.test_row)
        notes.append(
            f"{layout.test_label}: {layout.test_name} between the per-seed values of {row} and of the other row "
            f"with the best mean of the same column, dataset and metric"
            f"{' (seeds both have)' if layout.paired else ''}; n = values used on each side; "
            f"p = {MISSING} with fewer than two values on a side.")
    if layout.average_datasets:
        notes.append(
            f"{AVG_DATASET}: per cell, the mean over datasets of our per-dataset means, only over the datasets "
            f"where the cell has runs (their number in parentheses); paper = the mean of the paper's values "
            f"of the cell over the same report's datasets, Δ to it only when both cover the same datasets"
            + (f"; {layout.delta_label} = the mean over datasets of the per-dataset Δ" if layout.has_delta else "")
            + ".")
    return notes


def _blocks(cells: pd.DataFrame, datasets: list[str]) -> list[str]:
    return list(datasets) + ([AVG_DATASET] if cells["is_avg"].astype(bool).any() else [])


# --------------------------------------------------------------------------- markdown

def _md_escape(s: str) -> str:
    return s.replace("|", r"\|")


def _md_cell(c: dict, layout: TableLayout) -> str:
    decimals = layout.decimals
    if c["n"] == 0:
        text = MISSING
    else:
        mean = _num(c["mean"], decimals)
        if c["mark"] == "best":
            mean = f"**{mean}**"
        elif c["mark"] == "second":
            mean = f"<u>{mean}</u>"
        if c["is_avg"]:
            text = f"{mean} ({_datasets_phrase(c['n'])})"
        else:
            text = f"{mean} ± {_num(c['std'], decimals)} (n={c['n']})"
    if not _isnan(c["paper"]):
        text += f"<br>paper {_num(c['paper'], decimals)}"
        if c["is_avg"] and _isnan(c["diff"]):
            text += f" ({_datasets_phrase(c['paper_n'])})"
        elif c["n"] > 0:
            text += f" (Δ {_shown_diff(c, decimals)})"
    delta = _delta_parts(c, layout)
    if delta:
        ours, count, paper = delta
        text += f"<br>{_md_escape(layout.delta_label)}: ours {ours or MISSING}{count}"
        text += f" / paper {paper}" if paper else ""
    return text


def _render_markdown(cells: pd.DataFrame, layout: TableLayout, datasets: list[str],
                     notes: list[str]) -> str:
    d = layout.decimals
    lines = [f"## {_md_escape(layout.title)}", ""]
    has_paper = cells["paper"].notna().any()
    for ds in _blocks(cells, datasets):
        block = cells[cells["dataset"] == ds]
        pname = block["paper_dataset"].iloc[0] if len(block) else ds
        head = f"### {_md_escape(ds)}" + (f" (paper: {_md_escape(str(pname))})"
                                          if pname != ds and block["paper"].notna().any() else "")
        if (block["n"] == 0).all():
            head += " — no finished runs"
        lines += [head, ""]
        rows = list(dict.fromkeys(map(_Key, block["row"])))
        cols = list(dict.fromkeys(map(_Key, block["col"])))
        corner = layout.row_axis + (f" ↓ {layout.col_axis} →" if layout.col_axis else "")
        header = [corner]
        for col in cols:
            for m in layout.metrics:
                header.append(m if layout.col_axis is None else f"{_label(col.v)} · {m}")
        lines.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
        lines.append("| :-- | " + " | ".join("--:" for _ in header[1:]) + " |")
        recs = block.to_dict("records")
        for row in rows:
            out = [_md_escape(_label(row.v))]
            for col in cols:
                for m in layout.metrics:
                    c = next(r for r in recs if _Key(r["row"]) == row and _Key(r["col"]) == col
                             and r["metric"] == m)
                    out.append(_md_cell(c, layout))
            lines.append("| " + " | ".join(out) + " |")
        if layout.test_row is not None and ds != AVG_DATASET:
            out = [_md_escape(layout.test_label)]
            for col in cols:
                for m in layout.metrics:
                    c = next(r for r in recs if _same(r["row"], layout.test_row) and _Key(r["col"]) == col
                             and r["metric"] == m)
                    out.append(_md_escape(_p_text(c)))
            lines.append("| " + " | ".join(out) + " |")
        lines.append("")
    lines.append("Notes:")
    lines.append("")
    default = [
        f"Cells: mean ± sample std (ddof=1) over {_n_phrase(cells)}, {_scale_phrase(layout)}, "
        f"{d} decimals; “± —” = a single seed (no std); “{MISSING}” = no finished run.",
        f"**bold** = best, <u>underlined</u> = second best in each column of a dataset (by mean at the "
        f"displayed precision; ties share the mark; {_metrics_phrase(layout)}).",
    ]
    if has_paper:
        default.append("paper = the value printed in the paper; Δ = ours − paper.")
    default += _extra_notes(layout)
    for n in default + list(notes):
        lines.append(f"- {n}")
    return "\n".join(lines) + "\n"


class _Key:
    """Hashable wrapper comparing values with :func:`_same` (keeps display order, NaN-safe)."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and _same(self.v, other.v)

    def __hash__(self) -> int:
        if _isnan(self.v):
            return hash("nan")
        try:
            return hash(float(self.v))
        except (TypeError, ValueError):
            return hash(str(self.v))


# --------------------------------------------------------------------------- LaTeX

_TEX_ESCAPES = {
    "\\": r"$\backslash$", "&": r"\&", "%": r"\%", "$": r"{\char36}", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\~{}", "^": r"\^{}",
    "±": r"$\pm$", "×": r"$\times$", "—": "---", "–": "--", "−": "$-$", "Δ": r"$\Delta$",
    "≤": r"$\leq$", "≥": r"$\geq$", "α": r"$\alpha$", "γ": r"$\gamma$", "→": r"$\rightarrow$",
    "↓": r"$\downarrow$", "“": "``", "”": "''", "<": "$<$", ">": "$>$",
}


def latex_escape(text: Any) -> str:
    """Escape LaTeX special characters (and a few common symbols) in a plain-text label.

    Only glyphs of the default OT1 Computer Modern fonts or math mode are used (no ``\\$`` or
    ``\\textbullet``, which need TS1 fonts), so the document compiles on a minimal TeX install.
    """
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(text))


def _tex_cell(c: dict, decimals: int) -> str:
    if c["n"] == 0:
        return "---"
    mean = _num(c["mean"], decimals)
    if c["mark"] == "best":
        mean = rf"\textbf{{{mean}}}"
    elif c["mark"] == "second":
        mean = rf"\underline{{{mean}}}"
    if c["is_avg"]:
        return rf"{mean}\,{{\scriptsize ({_datasets_phrase(c['n'])})}}"
    std = "---" if _isnan(c["std"]) else _num(c["std"], decimals)
    return rf"{mean}\,$\pm$\,{std}\,{{\scriptsize $n$={c['n']}}}"


def _tex_paper_cell(c: dict, decimals: int) -> str:
    if _isnan(c["paper"]):
        return ""
    text = _num(c["paper"], decimals)
    if c["is_avg"] and _isnan(c["diff"]):
        text += f" ({_datasets_phrase(c['paper_n'])})"
    elif c["n"] > 0:
        text += f" (${_shown_diff(c, decimals)}$)"
    return rf"{{\scriptsize {text}}}"


def _tex_delta_cell(c: dict, layout: TableLayout) -> str:
    delta = _delta_parts(c, layout)
    if not delta:
        return ""
    ours, count, paper = delta
    text = (f"${ours}$" if ours else "---") + count + (f" / ${paper}$" if paper else "")
    return rf"{{\scriptsize {text}}}"


def _render_latex(cells: pd.DataFrame, layout: TableLayout, datasets: list[str], notes: list[str]) -> str:
    d = layout.decimals
    metrics = list(layout.metrics)
    out = [
        r"\documentclass[10pt]{article}",
        r"\usepackage[utf8]{inputenc}",
        r"\usepackage[landscape,margin=1.5cm]{geometry}",
        r"\usepackage{booktabs}",
        r"\usepackage{graphicx}",
        r"\pagestyle{empty}",
        r"\begin{document}",
        rf"\section*{{{latex_escape(layout.title)}}}",
        "",
    ]
    has_paper = cells["paper"].notna().any()
    for ds in _blocks(cells, datasets):
        block = cells[cells["dataset"] == ds]
        pname = block["paper_dataset"].iloc[0] if len(block) else ds
        head = latex_escape(ds)
        if pname != ds and block["paper"].notna().any():
            head += f" (paper: {latex_escape(pname)})"
        if (block["n"] == 0).all():
            head += " --- no finished runs"
        out.append(rf"\subsection*{{{head}}}")
        rows = list(dict.fromkeys(map(_Key, block["row"])))
        cols = list(dict.fromkeys(map(_Key, block["col"])))
        ncol = 1 + len(cols) * len(metrics)
        out.append(r"\begin{center}")
        out.append(r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%")
        out.append(r"\begin{tabular}{l" + "r" * (ncol - 1) + "}")
        out.append(r"\toprule")
        if layout.col_axis is None:
            out.append(" & ".join([latex_escape(layout.row_axis)] + [latex_escape(m) for m in metrics]) + r" \\")
        else:
            top = [latex_escape(layout.row_axis) + r" $\backslash$ " + latex_escape(layout.col_axis)]
            rules = []
            for i, col in enumerate(cols):
                first = 2 + i * len(metrics)
                last = first + len(metrics) - 1
                top.append(rf"\multicolumn{{{len(metrics)}}}{{c}}{{{latex_escape(_label(col.v))}}}")
                rules.append(rf"\cmidrule(lr){{{first}-{last}}}")
            out.append(" & ".join(top) + r" \\")
            out.append(" ".join(rules))
            out.append(" & ".join([""] + [latex_escape(m) for _ in cols for m in metrics]) + r" \\")
        out.append(r"\midrule")
        recs = block.to_dict("records")
        block_has_paper = block["paper"].notna().any()
        delta_head = latex_escape(layout.delta_label) + (" (ours / paper)" if block["paper_delta"].notna().any()
                                                         else " (ours)") if layout.has_delta else ""
        spaced = False
        for ri, row in enumerate(rows):
            ours, theirs = [latex_escape(_label(row.v))], [r"{\scriptsize paper ($\Delta$)}"]
            deltas = [rf"{{\scriptsize {delta_head}}}"]
            for col in cols:
                for m in metrics:
                    c = next(r for r in recs if _Key(r["row"]) == row and _Key(r["col"]) == col
                             and r["metric"] == m)
                    ours.append(_tex_cell(c, d))
                    theirs.append(_tex_paper_cell(c, d))
                    deltas.append(_tex_delta_cell(c, layout))
            out.append(" & ".join(ours) + r" \\")
            if block_has_paper and any(theirs[1:]):
                out.append(" & ".join(theirs) + r" \\")
            if any(deltas[1:]):
                out.append(" & ".join(deltas) + r" \\")
                spaced = True
            if (block_has_paper or spaced) and ri < len(rows) - 1:
                out.append(r"\addlinespace")
        if layout.test_row is not None and ds != AVG_DATASET:
            prow = [rf"{{\scriptsize {latex_escape(layout.test_label)}}}"]
            for col in cols:
                for m in metrics:
                    c = next(r for r in recs if _same(r["row"], layout.test_row) and _Key(r["col"]) == col
                             and r["metric"] == m)
                    prow.append(rf"{{\scriptsize {latex_escape(_p_text(c))}}}")
            out.append(r"\midrule")
            out.append(" & ".join(prow) + r" \\")
        out.append(r"\bottomrule")
        out.append(r"\end{tabular}}")
        out.append(r"\end{center}")
        out.append("")
    default = [
        rf"Cells: mean $\pm$ sample std (ddof=1) over {latex_escape(_n_phrase(cells))}, "
        rf"{latex_escape(_scale_phrase(layout))}, {d} decimals; $\pm$--- = a single seed (no std); "
        r"--- = no finished run.",
        r"\textbf{Bold} = best, \underline{underlined} = second best in each column of a dataset "
        r"(by mean at the displayed precision; ties share the mark; "
        + latex_escape(_metrics_phrase(layout)) + ").",
    ]
    if has_paper:
        default.append(r"Small print under each row: the value printed in the paper, with $\Delta$ = ours $-$ paper "
                       r"in parentheses.")
    default += [latex_escape(n) for n in _extra_notes(layout)]
    out.append(r"\noindent Notes:")
    out.append(r"\begin{itemize}")
    for n in default:
        out.append(rf"\item[--] {n}")
    for n in notes:
        out.append(rf"\item[--] {latex_escape(n)}")
    out.append(r"\end{itemize}")
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- CSV

def _render_csv(cells: pd.DataFrame, layout: TableLayout) -> str:
    columns = csv_columns(layout)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for rec in cells[columns].to_dict("records"):
        row = []
        for k in columns:
            v = rec[k]
            if k in ("mean", "std", "paper", "diff", "scale", "delta", "paper_delta", "pvalue"):
                row.append("" if _isnan(v) else repr(float(v)))   # repr: shortest exact round-trip
            elif k == "n":
                row.append(int(v))
            elif k == "pvalue_vs":
                row.append("" if _isnan(v) else v)
            else:
                row.append(v)
        w.writerow(row)
    return buf.getvalue()


# --------------------------------------------------------------------------- entry point

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
    cells = table_cells(results, layout, datasets=datasets, paper=paper, paper_names=paper_names)
    if fmt == "csv":
        return _render_csv(cells, layout)
    if fmt == "latex":
        return _render_latex(cells, layout, datasets, list(notes or []))
    return _render_markdown(cells, layout, datasets, list(notes or []))
