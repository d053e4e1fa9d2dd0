"""LaTeX rendering: a standalone document, one booktabs tabular per dataset block.

Each tabular is written by pandas ``Styler.to_latex(hrules=True)`` (``\\toprule`` / ``\\midrule`` /
``\\bottomrule``, the ``\\multicolumn`` header of a two-axis table, the column spec, the rows).
Three things of the paper's layout Styler cannot produce, so they are done here by hand:

* ``\\cmidrule(lr){a-b}`` under each column group of a two-axis header: Styler writes the
  ``\\multicolumn`` cells but no rule under them (its ``clines`` option writes ``\\cline``, not
  booktabs, and only between index levels of the body);
* rules inside the body: ``\\addlinespace`` between one row's lines (ours, paper, Δ) and the next
  row's, and a ``\\midrule`` above the p-value row. Styler's only booktabs rules are the three fixed
  ones around header and body, and its template has no hook between body rows, so
  :func:`_insert_rules` adds these lines to Styler's output at known body-row positions;
* the bold (best) / underlined (second best) mark on the mean only: Styler's cell styles
  (``Styler.apply`` with ``textbf: --rwrap;`` / ``underline: --rwrap;``) wrap a cell's whole
  displayed value, but our cell is ``mean ± std (n)`` and only the mean is marked (as the paper
  bolds a number, and as the markdown does), so :func:`tex_cell` writes the mark.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tfbench.report.cells import Cell, Table
from tfbench.report.layout import AVG_DATASET, TableLayout, isnan, label
from tfbench.report.text import (
    block_heading, datasets_phrase, delta_parts, extra_notes, has_paper, marks_note, metrics_phrase, n_phrase, num, p_text,
    scale_phrase, shown_diff,
)

_TEX_ESCAPES = {
    "\\": r"$\backslash$", "&": r"\&", "%": r"\%", "$": r"{\char36}", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\~{}", "^": r"\^{}",
    "±": r"$\pm$", "×": r"$\times$", "—": "---", "–": "--", "−": "$-$", "Δ": r"$\Delta$",
    "≤": r"$\leq$", "≥": r"$\geq$", "α": r"$\alpha$", "γ": r"$\gamma$", "→": r"$\rightarrow$",
    "↓": r"$\downarrow$", "“": "``", "”": "''", "<": "$<$", ">": "$>$",
}
PREAMBLE = [
    r"\documentclass[10pt]{article}",
    r"\usepackage[utf8]{inputenc}",
    r"\usepackage[landscape,margin=1.5cm]{geometry}",
    r"\usepackage{booktabs}",
    r"\usepackage{graphicx}",
    r"\pagestyle{empty}",
    r"\begin{document}",
]


def latex_escape(text: Any) -> str:
    """Escape LaTeX special characters (and a few common symbols) in a plain-text label.

    Only glyphs of the default OT1 Computer Modern fonts or math mode are used (no ``\\$`` or
    ``\\textbullet``, which need TS1 fonts), so the document compiles on a minimal TeX install.
    """
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(text))


def small(text: str) -> str:
    return rf"{{\scriptsize {text}}}"


def tex_cell(c: Cell, decimals: int) -> str:
    """Our line of a cell: the mean (``\\textbf`` best, ``\\underline`` second) ± std and n."""
    if c.n == 0:
        return "---"
    mean = num(c.mean, decimals)
    if c.mark == "best":
        mean = rf"\textbf{{{mean}}}"
    elif c.mark == "second":
        mean = rf"\underline{{{mean}}}"
    if c.is_avg:
        return rf"{mean}\,{small(f'({datasets_phrase(c.n)})')}"
    std = "---" if isnan(c.std) else num(c.std, decimals)
    return rf"{mean}\,$\pm$\,{std}\,{{\scriptsize $n$={c.n}}}"


def tex_paper_cell(c: Cell, decimals: int) -> str:
    if isnan(c.paper):
        return ""
    text = num(c.paper, decimals)
    if c.is_avg and isnan(c.diff):
        text += f" ({datasets_phrase(c.paper_n)})"
    elif c.n > 0:
        text += f" (${shown_diff(c, decimals)}$)"
    return small(text)


def tex_delta_cell(c: Cell, layout: TableLayout) -> str:
    delta = delta_parts(c, layout)
    if not delta:
        return ""
    ours, count, paper = delta
    return small((f"${ours}$" if ours else "---") + count + (f" / ${paper}$" if paper else ""))


def _body(table: Table, block: str) -> tuple[list[tuple[str, list[str]]], dict[int, str]]:
    """The body rows (label, cells) of a block and the rules to put before some of them."""
    layout, d = table.layout, table.layout.decimals
    cells_of = table.block(block)
    block_has_paper = any(not isnan(c.paper) for c in cells_of)
    delta_head = (latex_escape(layout.delta_label)
                  + (" (ours / paper)" if any(not isnan(c.paper_delta) for c in cells_of) else " (ours)"))
    columns = [(ci, m) for ci in range(len(table.cols)) for m in layout.metrics]
    body: list[tuple[str, list[str]]] = []
    rules: dict[int, str] = {}
    spaced = False
    for ri, row in enumerate(table.rows):
        cells = [table.cell(block, ri, ci, m) for ci, m in columns]
        body.append((latex_escape(label(row)), [tex_cell(c, d) for c in cells]))
        theirs = [tex_paper_cell(c, d) for c in cells]
        if block_has_paper and any(theirs):
            body.append((small(r"paper ($\Delta$)"), theirs))
        deltas = [tex_delta_cell(c, layout) for c in cells]
        if any(deltas):
            body.append((small(delta_head), deltas))
            spaced = True
        if (block_has_paper or spaced) and ri < len(table.rows) - 1:
            rules[len(body)] = r"\addlinespace"
    if layout.test_row is not None and block != AVG_DATASET:
        rules[len(body)] = r"\midrule"
        body.append((small(latex_escape(layout.test_label)),
                     [small(latex_escape(p_text(table.cell(block, table.test_ri, ci, m)))) for ci, m in columns]))
    return body, rules


def _insert_rules(tex: str, cmidrules: str | None, rules: dict[int, str], n_body: int) -> str:
    """Styler's tabular plus the lines it cannot write (module docstring): ``cmidrules`` under
    the first header line, ``rules[i]`` before body row i."""
    lines = tex.rstrip("\n").split("\n")
    top, mid, bottom = lines.index(r"\toprule"), lines.index(r"\midrule"), lines.index(r"\bottomrule")
    body = lines[mid + 1:bottom]
    if len(body) != n_body or not all(ln.endswith(r"\\") for ln in body):
        raise AssertionError(f"unexpected Styler.to_latex output (want {n_body} body rows):\n{tex}")
    out = lines[:top + 2] + ([cmidrules] if cmidrules else []) + lines[top + 2:mid + 1]
    for i, ln in enumerate(body):
        if i in rules:
            out.append(rules[i])
        out.append(ln)
    return "\n".join(out + lines[bottom:])


def tabular(table: Table, block: str) -> str:
    """One block's ``tabular`` (booktabs) through ``Styler.to_latex``."""
    layout = table.layout
    metrics = [latex_escape(m) for m in layout.metrics]
    body, rules = _body(table, block)
    if layout.col_axis is None:
        header = pd.Index(metrics, name=latex_escape(layout.row_axis))
        cmidrules = None
    else:
        corner = latex_escape(layout.row_axis) + r" $\backslash$ " + latex_escape(layout.col_axis)
        header = pd.MultiIndex.from_tuples([(latex_escape(label(col)), m) for col in table.cols for m in metrics],
                                           names=[corner, None])
        k = len(metrics)
        cmidrules = " ".join(rf"\cmidrule(lr){{{2 + i * k}-{1 + (i + 1) * k}}}" for i in range(len(table.cols)))
    frame = pd.DataFrame([cells for _, cells in body], index=pd.Index([lab for lab, _ in body]), columns=header)
    tex = frame.style.to_latex(column_format="l" + "r" * len(header), hrules=True, multicol_align="c",
                               sparse_columns=True)
    return _insert_rules(tex, cmidrules, rules, len(body))


def render_latex(table: Table, notes: list[str]) -> str:
    layout = table.layout
    out = PREAMBLE + [rf"\section*{{{latex_escape(layout.title)}}}", ""]
    for block in table.blocks:
        name, pname, empty = block_heading(table, block)
        head = latex_escape(name) + (f" (paper: {latex_escape(pname)})" if pname else "")
        out += [rf"\subsection*{{{head + (' --- no finished runs' if empty else '')}}}",
                r"\begin{center}",
                r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
                tabular(table, block) + "}",          # closes \resizebox
                r"\end{center}", ""]
    default = [
        rf"Cells: mean $\pm$ sample std (ddof=1) over {latex_escape(n_phrase(table))}, "
        rf"{latex_escape(scale_phrase(layout))}, {layout.decimals} decimals; $\pm$--- = a single seed (no std); "
        r"--- = no finished run.",
        r"\textbf{Bold} = best, \underline{underlined} = second best in each column of a dataset "
        r"(by mean at the displayed precision; ties share the mark; "
        + latex_escape(metrics_phrase(layout)) + ").",
    ]
    if marks_note(table):
        default.append(latex_escape(marks_note(table)))
    if has_paper(table):
        default.append(r"Small print under each row: the value printed in the paper, with $\Delta$ = ours $-$ paper "
                       r"in parentheses.")
    default += [latex_escape(n) for n in extra_notes(layout)] + [latex_escape(n) for n in notes]
    out += [r"\noindent Notes:", r"\begin{itemize}"] + [rf"\item[--] {n}" for n in default]
    out += [r"\end{itemize}", r"\end{document}"]
    return "\n".join(out) + "\n"
