"""Markdown rendering of a :class:`~tfbench.report.cells.Table`: one pipe table per dataset block."""

from __future__ import annotations

from tfbench.report.cells import Cell, Table
from tfbench.report.layout import AVG_DATASET, MISSING, TableLayout, isnan, label
from tfbench.report.text import (
    block_heading, datasets_phrase, delta_parts, extra_notes, has_paper, marks_note, metrics_phrase, n_phrase, num, p_text,
    scale_phrase, shown_diff,
)


def md_escape(s: str) -> str:
    return s.replace("|", r"\|")


def md_cell(c: Cell, layout: TableLayout) -> str:
    """``mean ± std (n=k)`` (the mean bold / underlined when best / second), then the paper's value
    with Δ to it, then Δ to the layout's reference; one ``<br>`` line each."""
    d = layout.decimals
    if c.n == 0:
        text = MISSING
    else:
        mean = num(c.mean, d)
        if c.mark == "best":
            mean = f"**{mean}**"
        elif c.mark == "second":
            mean = f"<u>{mean}</u>"
        text = f"{mean} ({datasets_phrase(c.n)})" if c.is_avg else f"{mean} ± {num(c.std, d)} (n={c.n})"
    if not isnan(c.paper):
        text += f"<br>paper {num(c.paper, d)}"
        if c.is_avg and isnan(c.diff):
            text += f" ({datasets_phrase(c.paper_n)})"
        elif c.n > 0:
            text += f" (Δ {shown_diff(c, d)})"
    delta = delta_parts(c, layout)
    if delta:
        ours, count, paper = delta
        text += f"<br>{md_escape(layout.delta_label)}: ours {ours or MISSING}{count}"
        text += f" / paper {paper}" if paper else ""
    return text


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render_markdown(table: Table, notes: list[str]) -> str:
    layout = table.layout
    metrics = list(layout.metrics)
    columns = [(ci, m) for ci in range(len(table.cols)) for m in metrics]
    lines = [f"## {md_escape(layout.title)}", ""]
    for block in table.blocks:
        name, pname, empty = block_heading(table, block)
        head = f"### {md_escape(name)}" + (f" (paper: {md_escape(pname)})" if pname else "")
        lines += [head + (" — no finished runs" if empty else ""), ""]
        corner = layout.row_axis + (f" ↓ {layout.col_axis} →" if layout.col_axis else "")
        header = [corner] + [m if layout.col_axis is None else f"{label(table.cols[ci])} · {m}" for ci, m in columns]
        lines.append(_row([md_escape(h) for h in header]))
        lines.append("| :-- | " + " | ".join("--:" for _ in columns) + " |")
        for ri, row in enumerate(table.rows):
            lines.append(_row([md_escape(label(row))]
                              + [md_cell(table.cell(block, ri, ci, m), layout) for ci, m in columns]))
        if layout.test_row is not None and block != AVG_DATASET:
            lines.append(_row([md_escape(layout.test_label)]
                              + [md_escape(p_text(table.cell(block, table.test_ri, ci, m))) for ci, m in columns]))
        lines.append("")
    lines += ["Notes:", ""]
    default = [
        f"Cells: mean ± sample std (ddof=1) over {n_phrase(table)}, {scale_phrase(layout)}, "
        f"{layout.decimals} decimals; “± —” = a single seed (no std); “{MISSING}” = no finished run.",
        f"**bold** = best, <u>underlined</u> = second best in each column of a dataset (by mean at the "
        f"displayed precision; ties share the mark; {metrics_phrase(layout)}).",
    ]
    if marks_note(table):
        default.append(marks_note(table))
    if has_paper(table):
        default.append("paper = the value printed in the paper; Δ = ours − paper.")
    default += extra_notes(layout)
    lines += [f"- {n}" for n in default + list(notes)]
    return "\n".join(lines) + "\n"
