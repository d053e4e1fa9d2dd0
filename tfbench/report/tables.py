"""Paper-style result tables (markdown, LaTeX, CSV) from a DataFrame of finished runs.

``results`` has one row per finished run: ``dataset``, the layout's axis column(s), ``seed`` and
one column per metric holding raw fractions (AUC 0.9861). Each table cell is the mean ± sample
std over seeds, multiplied by ``layout.scale`` (the paper prints AUC × 100 with two decimals),
next to the paper's value and our difference to it. Nothing here touches the database.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any, Hashable, Mapping

import numpy as np
import pandas as pd

from tfbench.report.stats import summarize

MISSING = "—"          # shown for a cell without a finished run (never 0)
NO_COL = "-"           # column key for single-axis tables, also in the ``paper`` dict
FORMATS = ("markdown", "latex", "csv")
CSV_COLUMNS = ["dataset", "row", "col", "metric", "mean", "std", "n", "paper", "diff", "mark", "scale"]


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

    def is_higher_better(self, metric: str) -> bool:
        if self.higher_is_better and metric in self.higher_is_better:
            return bool(self.higher_is_better[metric])
        return metric.lower() != "logloss"


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
    = number of seeds with a value; ``mark`` = "best"/"second"/""), plus ``paper_dataset``.
    Every cell of the grid is present, missing ones with NaN mean and ``n`` = 0.
    """
    _check_columns(results, layout)
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
                    column.append({
                        "dataset": ds, "row": row, "col": col, "metric": m, "mean": mean_s, "std": std_s,
                        "n": n, "paper": p, "diff": mean_s - p, "mark": "", "scale": layout.scale,
                        "paper_dataset": pname,
                    })
                marks = rank_marks({i: c["mean"] for i, c in enumerate(column)},
                                   layout.is_higher_better(m), decimals=layout.decimals)
                for i, c in enumerate(column):
                    c["mark"] = marks[i] or ""
                out.extend(column)
    return pd.DataFrame(out, columns=CSV_COLUMNS + ["paper_dataset"])


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
    filled = cells[cells["n"] > 0]["n"]
    if filled.empty:
        return "n seeds"
    lo, hi = int(filled.min()), int(filled.max())
    return f"n = {lo} seeds" if lo == hi else f"n = {lo}–{hi} seeds"


# --------------------------------------------------------------------------- markdown

def _md_escape(s: str) -> str:
    return s.replace("|", r"\|")


def _md_cell(c: dict, decimals: int) -> str:
    if c["n"] == 0:
        text = MISSING
    else:
        mean = _num(c["mean"], decimals)
        if c["mark"] == "best":
            mean = f"**{mean}**"
        elif c["mark"] == "second":
            mean = f"<u>{mean}</u>"
        text = f"{mean} ± {_num(c['std'], decimals)} (n={c['n']})"
    if not _isnan(c["paper"]):
        text += f"<br>paper {_num(c['paper'], decimals)}"
        if c["n"] > 0:
            text += f" (Δ {_shown_diff(c, decimals)})"
    return text


def _render_markdown(cells: pd.DataFrame, layout: TableLayout, datasets: list[str],
                     notes: list[str]) -> str:
    d = layout.decimals
    lines = [f"## {_md_escape(layout.title)}", ""]
    has_paper = cells["paper"].notna().any()
    for ds in datasets:
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
                    out.append(_md_cell(c, d))
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
    std = "---" if _isnan(c["std"]) else _num(c["std"], decimals)
    return rf"{mean}\,$\pm$\,{std}\,{{\scriptsize $n$={c['n']}}}"


def _tex_paper_cell(c: dict, decimals: int) -> str:
    if _isnan(c["paper"]):
        return ""
    text = _num(c["paper"], decimals)
    if c["n"] > 0:
        text += f" (${_shown_diff(c, decimals)}$)"
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
    for ds in datasets:
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
        for ri, row in enumerate(rows):
            ours, theirs = [latex_escape(_label(row.v))], [r"{\scriptsize paper ($\Delta$)}"]
            for col in cols:
                for m in metrics:
                    c = next(r for r in recs if _Key(r["row"]) == row and _Key(r["col"]) == col
                             and r["metric"] == m)
                    ours.append(_tex_cell(c, d))
                    theirs.append(_tex_paper_cell(c, d))
            out.append(" & ".join(ours) + r" \\")
            if block_has_paper and any(theirs[1:]):
                out.append(" & ".join(theirs) + r" \\")
            if block_has_paper and ri < len(rows) - 1:
                out.append(r"\addlinespace")
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

def _render_csv(cells: pd.DataFrame) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for rec in cells[CSV_COLUMNS].to_dict("records"):
        row = []
        for k in CSV_COLUMNS:
            v = rec[k]
            if k in ("mean", "std", "paper", "diff", "scale"):
                row.append("" if _isnan(v) else repr(float(v)))   # repr: shortest exact round-trip
            elif k == "n":
                row.append(int(v))
            else:
                row.append(v)
        w.writerow(row)
    return buf.getvalue()


# --------------------------------------------------------------------------- entry point

def render_table(results: pd.DataFrame, layout: TableLayout, *, datasets: list[str],
                 paper: dict | None = None, paper_names: dict[str, str] | None = None,
                 fmt: str = "markdown", notes: list[str] | None = None) -> str:
    """Render one study's table in ``fmt`` ("markdown", "latex" or "csv").

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
        return _render_csv(cells)
    if fmt == "latex":
        return _render_latex(cells, layout, datasets, list(notes or []))
    return _render_markdown(cells, layout, datasets, list(notes or []))
