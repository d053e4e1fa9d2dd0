"""The printed tables of the band reporters (Figures 2 and 11): counts as markdown, LaTeX or CSV.

Each reporter builds its tables as frames of already-formatted text cells (one frame per dataset,
split, …, with a heading); markdown writes them as pipe tables, LaTeX as one standalone booktabs
document (the preamble and escapes of :mod:`tfbench.report.render_latex`, so it compiles like
the grid tables), CSV as one tidy frame with the numbers at full precision.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from tfbench.report.render_latex import PREAMBLE, latex_escape as escape
from tfbench.train.record import BAND_NAMES

SUFFIX = {"markdown": ".md", "latex": ".tex", "csv": ".csv"}


def count_text(mean: float, std: float = math.nan) -> str:
    """A count, or a mean over seeds with its std: '5,658' (one seed), '5,657.5 ± 3.2' (several)."""
    if math.isnan(mean):
        return "—"
    if math.isnan(std):
        return f"{mean:,.0f}" if float(mean).is_integer() else f"{mean:,.1f}"
    return f"{mean:,.1f} ± {std:,.1f}"


def tidy_counts(bands: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One CSV line per ``keys`` and band: the mean, std and n over seeds of its count."""
    return pd.DataFrame([{**{k: r[k] for k in keys}, "band": band, "mean": float(r[f"{band}_mean"]),
                          "std": float(r[f"{band}_std"]), "n": int(r[f"{band}_n"])}
                         for r in bands.to_dict("records") for band in BAND_NAMES])


def _markdown(title: str, tables: list[tuple[str, pd.DataFrame]], notes: list[str]) -> str:
    cell = lambda v: str(v).replace("|", r"\|")
    lines = [f"## {cell(title)}", ""]
    for heading, frame in tables:
        cols = list(frame.columns)
        lines += [f"### {cell(heading)}", "", "| " + " | ".join(cell(c) for c in cols) + " |",
                  "| " + " | ".join(":--" if i == 0 else "--:" for i in range(len(cols))) + " |"]
        lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
        lines.append("")
    lines += ["Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _tex(text) -> str:
    # latex_escape leaves "|", which the default OT1 text font draws as a dash
    return "".join("$|$" if ch == "|" else escape(ch) for ch in str(text))


def _latex(title: str, tables: list[tuple[str, pd.DataFrame]], notes: list[str]) -> str:
    out = PREAMBLE + [rf"\section*{{{_tex(title)}}}", ""]
    for heading, frame in tables:
        cols = list(frame.columns)
        out += [rf"\subsection*{{{_tex(heading)}}}", r"\begin{center}",
                rf"\begin{{tabular}}{{l{'r' * (len(cols) - 1)}}}", r"\toprule",
                " & ".join(_tex(c) for c in cols) + r" \\", r"\midrule"]
        out += [" & ".join(_tex(v) for v in row) + r" \\" for row in frame.itertuples(index=False)]
        out += [r"\bottomrule", r"\end{tabular}", r"\end{center}", ""]
    out += [r"\noindent Notes:", r"\begin{itemize}"] + [rf"\item {_tex(n)}" for n in notes]
    out += [r"\end{itemize}", r"\end{document}"]
    return "\n".join(out) + "\n"


def _csv(tidy: pd.DataFrame) -> str:
    def text(v) -> str:
        if isinstance(v, float):
            return "" if math.isnan(v) else repr(v)
        return str(v)

    return tidy.astype(object).map(text).to_csv(index=False, lineterminator="\n")


def write_band_tables(fmt: str, title: str, tables: list[tuple[str, pd.DataFrame]], notes: list[str],
                      tidy: pd.DataFrame, out_base: Path) -> tuple[str, Path]:
    """Render in ``fmt`` and write ``out_base`` + its suffix (through a temporary file, so that a
    reader never sees half a table). Returns (text, path)."""
    if fmt not in SUFFIX:
        raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(SUFFIX)}")
    text = {"markdown": lambda: _markdown(title, tables, notes), "latex": lambda: _latex(title, tables, notes),
            "csv": lambda: _csv(tidy)}[fmt]()
    path = out_base.with_name(out_base.name + SUFFIX[fmt])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return text, path
