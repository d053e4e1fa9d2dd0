"""Sweep figures in the paper's form (Figures 7-9 and the MLP structure figure).

One panel per dataset side by side; x = the swept value, y = metric × 100 with error bars = the
sample std over seeds; markers joined by a line; missing points are simply absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tfbench.report.figure_text import fit_suptitle  # noqa: E402
from tfbench.report.stats import summarize  # noqa: E402

SCALE = 100.0


def _is_numeric_axis(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _n_text(counts: Sequence[int]) -> str:
    counts = [int(c) for c in counts if c > 0]
    if not counts:
        return "no runs"
    lo, hi = min(counts), max(counts)
    return f"n={lo} seed{'s' if lo != 1 else ''}" if lo == hi else f"n={lo}–{hi} seeds"


def render_sweep(results: pd.DataFrame, *, axis: str, axis_label: str, metric: str, datasets: list[str],
                 title: str, out_base: Path, paper_names: dict[str, str] | None = None,
                 order: Sequence | None = None) -> list[Path]:
    """Draw one sweep figure and write ``out_base`` with suffix ``.png`` and ``.pdf``.

    ``results``: one row per finished run with ``dataset``, ``axis`` and ``metric`` (raw fractions).
    Numeric axes (alpha, c, gamma) are plotted as numbers with a tick at every swept value;
    other axes (MLP_s structures "A".."E") as categories, in ``order`` if given, else in order of
    first appearance (values not in ``order`` are appended). Returns ``[png_path, pdf_path]``.
    """
    out_base = Path(out_base)
    datasets = list(datasets)
    names = paper_names or {}
    res = results[results["dataset"].isin(datasets)] if len(results) and "dataset" in results else results.iloc[0:0]
    if len(res):
        for c in (axis, metric):
            if c not in res.columns:
                raise KeyError(f"render_sweep({title!r}): results lack column {c!r}")
    numeric = bool(len(res)) and _is_numeric_axis(res[axis])
    if len(res):
        summary = summarize(res, ["dataset", axis], [metric])
        summary = summary[summary[f"{metric}_n"] > 0]
    else:
        summary = pd.DataFrame(columns=["dataset", axis, f"{metric}_mean", f"{metric}_std", f"{metric}_n"])

    categories: list = []
    if not numeric:
        for v in list(order or []) + (list(pd.unique(res[axis])) if len(res) else []):
            if v not in categories:
                categories.append(v)

    fig, axes = plt.subplots(1, max(1, len(datasets)), figsize=(4.4 * max(1, len(datasets)), 3.8),
                             squeeze=False, layout="constrained")
    for ax, ds in zip(axes[0], datasets):
        part = summary[summary["dataset"] == ds]
        label = ds if names.get(ds, ds) == ds else f"{ds} ({names[ds]})"
        if numeric:
            part = part.sort_values(axis)
            x = part[axis].astype(float).to_numpy()
        else:
            part = part.assign(_pos=[categories.index(v) for v in part[axis]]).sort_values("_pos")
            x = part["_pos"].to_numpy(dtype=float)
        y = part[f"{metric}_mean"].astype(float).to_numpy() * SCALE
        err = np.nan_to_num(part[f"{metric}_std"].astype(float).to_numpy() * SCALE, nan=0.0)
        if len(part):
            ax.errorbar(x, y, yerr=err, marker="o", markersize=5, linewidth=1.5, capsize=3,
                        label=f"mean ± std ({_n_text(part[f'{metric}_n'])})")
            best = int(np.argmin(y) if metric.lower() == "logloss" else np.argmax(y))
            ax.annotate(f"{y[best]:.2f}", (x[best], y[best] + err[best]), textcoords="offset points",
                        xytext=(0, 4), ha="center", va="bottom", fontsize=8)
            ax.legend(fontsize=8, loc="best")
            ax.margins(x=0.08, y=0.2)
        else:
            ax.text(0.5, 0.5, "no finished runs", ha="center", va="center", transform=ax.transAxes,
                    color="gray")
        if numeric:
            ticks = sorted(set(summary[axis].astype(float))) if len(summary) else []
            if ticks:
                ax.set_xticks(ticks)
                ax.set_xticklabels([f"{t:g}" for t in ticks])
        else:
            ax.set_xticks(range(len(categories)))
            ax.set_xticklabels([str(c) for c in categories])
            if categories:
                ax.set_xlim(-0.5, len(categories) - 0.5)
        ax.set_title(label)
        ax.set_xlabel(axis_label)
        ax.set_ylabel(f"{metric} (×{SCALE:g})")
        ax.grid(True, alpha=0.3)
    fit_suptitle(fig, title)       # wrapped to the figure's width; the constrained layout makes room for it
    out_base.parent.mkdir(parents=True, exist_ok=True)
    paths = [out_base.with_suffix(".png"), out_base.with_suffix(".pdf")]
    try:
        fig.savefig(paths[0], dpi=150)
        fig.savefig(paths[1])
    finally:
        plt.close(fig)
    return paths
