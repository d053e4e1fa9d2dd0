"""The printed tables of the band reporters (Figures 2 and 11): counts as markdown, LaTeX or CSV.

Each reporter builds its tables as frames of already-formatted text cells (one per dataset,
split, …, with a heading) and a tidy frame of the numbers for CSV; :mod:`tfbench.report.plain_tables`
writes them with the conventions of the other reports.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from tfbench.report.plain_tables import FORMATS, TextTable, render_document, write_text
from tfbench.train.record import BAND_NAMES


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


def text_table(heading: str, lines: list[dict], text_columns: int) -> TextTable:
    """A table of ``lines`` (one dict per line); all but its first ``text_columns`` columns are numbers."""
    frame = pd.DataFrame(lines)
    return TextTable(heading, frame, right_aligned=tuple(frame.columns[text_columns:]))


def write_band_tables(fmt: str, title: str, tables: list[TextTable], notes: list[str], tidy: pd.DataFrame,
                      out_base: Path) -> tuple[str, Path]:
    """Render in ``fmt`` and write ``out_base`` + its suffix. Returns (text, path)."""
    text = render_document(fmt, title, tables, notes, tidy)
    return text, write_text(out_base.with_name(out_base.name + FORMATS[fmt]), text)
