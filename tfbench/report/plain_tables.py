"""Plain tables for the reporters of :mod:`tfbench.report.special`: already-formatted text cells
written as markdown pipe tables or a standalone LaTeX document (booktabs), and tidy CSV.

The grid renderers (``render_markdown`` / ``render_latex``) are built around mean ± std cells of a
study's runs; a statistics table (Table III) or a sampled curve (Figure 5) has plain values, so
these few lines write them with the same conventions: the LaTeX preamble and escapes of
``render_latex``, notes as a list under the tables, files replaced atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tfbench import atomic
from tfbench.report.render_latex import PREAMBLE, latex_escape

FORMATS = {"markdown": ".md", "latex": ".tex", "csv": ".csv"}
# glyphs the reporters use that latex_escape leaves as they are (math mode of the default fonts)
_MORE_TEX = {"‖": r"$\|$", "∇": r"$\nabla$", "σ": r"$\sigma$", "·": r"$\cdot$", "≈": r"$\approx$",
             "∂": r"$\partial$", "µ": r"$\mu$", "∝": r"$\propto$", "…": r"\ldots{}",
             "|": r"$|$"}   # the default OT1 text font draws a bare "|" as a dash (|y − p| in the band notes)


def tex(text: object) -> str:
    return "".join(_MORE_TEX.get(ch) or latex_escape(ch) for ch in str(text))


@dataclass(frozen=True)
class TextTable:
    """One table: a heading and a frame of text cells (its columns are the header; no index)."""

    heading: str
    frame: pd.DataFrame
    right_aligned: tuple[str, ...] = ()   # columns holding numbers


def _md(text: object) -> str:
    return str(text).replace("|", r"\|")


def render_markdown_tables(title: str, tables: list[TextTable], notes: list[str]) -> str:
    lines = [f"## {_md(title)}", ""]
    for t in tables:
        cols = list(t.frame.columns)
        lines += [f"### {_md(t.heading)}", "",
                  "| " + " | ".join(_md(c) for c in cols) + " |",
                  "| " + " | ".join("--:" if c in t.right_aligned else ":--" for c in cols) + " |"]
        for row in t.frame.itertuples(index=False):
            lines.append("| " + " | ".join(_md(v) for v in row) + " |")
        lines.append("")
    if notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def render_latex_tables(title: str, tables: list[TextTable], notes: list[str]) -> str:
    out = PREAMBLE + [rf"\section*{{{tex(title)}}}", ""]
    for t in tables:
        cols = list(t.frame.columns)
        spec = "".join("r" if c in t.right_aligned else "l" for c in cols)
        out += [rf"\subsection*{{{tex(t.heading)}}}", r"\begin{center}",
                r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
                rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(tex(c) for c in cols) + r" \\", r"\midrule"]
        out += [" & ".join(tex(v) for v in row) + r" \\" for row in t.frame.itertuples(index=False)]
        out += [r"\bottomrule", r"\end{tabular}}", r"\end{center}", ""]
    if notes:
        out += [r"\noindent Notes:", r"\begin{itemize}"] + [rf"\item[--] {tex(n)}" for n in notes] + [r"\end{itemize}"]
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


def render_csv_frame(frame: pd.DataFrame) -> str:
    """Tidy CSV; floats at full precision (``repr``, the shortest exact round trip), missing values empty."""
    def text(v: object) -> str:
        if v is None or (not isinstance(v, str) and pd.isna(v)):     # None, NaN, pd.NA (Int64 gaps)
            return ""
        if isinstance(v, (float, np.floating)):
            return repr(float(v))        # not repr(np.float64), which NumPy 2 writes as "np.float64(...)"
        return str(v)

    return frame.astype(object).map(text).to_csv(index=False, lineterminator="\n")


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file, so a reader never sees half a report."""
    return atomic.write_text(path, text)


def render_document(fmt: str, title: str, tables: list[TextTable], notes: list[str], csv: pd.DataFrame) -> str:
    """The report text in ``fmt``: the tables (markdown, latex) or the tidy frame ``csv``."""
    if fmt == "csv":
        return render_csv_frame(csv)
    if fmt == "latex":
        return render_latex_tables(title, tables, notes)
    if fmt == "markdown":
        return render_markdown_tables(title, tables, notes)
    raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
