"""Drawing Figure 5 (see :mod:`tfbench.report.loss_gradients` for what the curves are).

Two panels as in the paper, L_simple on z_s and L_complex on z_c; x = the confidence p_t, y = the
per-sample gradient norm; one curve per (c, γ), colour by γ and line style by c, the log loss
(Eq. 13) dotted in black; the three regions shaded in Figure 2's colours (red misclassified, blue
poorly, green well classified). Where a gradient points away from the label, × marks sit on it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from tfbench.report.figure_text import fit_suptitle  # noqa: E402
from tfbench.report.loss_gradients import BANDS, Curves, GradientSettings, band_spans  # noqa: E402

REGION_COLOURS = dict(zip(BANDS, ("#d62728", "#1f77b4", "#2ca02c")))   # Figure 2: red, blue, green
GAMMA_COLOURS = ("#7b3294", "#e66101", "#008080", "#a6611a", "#404040")
C_STYLES = ("-", "--", "-.", ":")
MARK_EVERY = 25          # × marks on every 25th sampled point of a reversed stretch


def _gamma_colour(settings: GradientSettings, g: float) -> str:
    return GAMMA_COLOURS[settings.gamma.index(g) % len(GAMMA_COLOURS)]


def _c_style(settings: GradientSettings, c: float) -> str:
    # the log loss is dotted, so the c styles skip ":" while there are few enough of them
    return C_STYLES[settings.c.index(c) % (len(C_STYLES) - (1 if len(settings.c) < len(C_STYLES) else 0))]


def _shade(ax, settings: GradientSettings) -> None:
    for band, lo, hi in band_spans(settings.band_thresholds):
        ax.axvspan(lo, hi, color=REGION_COLOURS[band], alpha=0.10, lw=0)
        ax.text((lo + hi) / 2, 0.985, band.replace(" ", "\n"), transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=8.5, color=REGION_COLOURS[band])


def _legend_handles(curves: Curves, settings: GradientSettings) -> list[Line2D]:
    """Legend entries in columns (matplotlib fills a legend column by column): the log loss and the
    × mark first, then one column per γ with a row per c."""
    rows = max(len(settings.c), 2)
    blank = Line2D([], [], ls="none", label=" ")
    first = [Line2D([], [], color="black", ls=":", lw=1.8, label=r"log loss, $1-p_t$ (Eq. 13)")]
    if any(curves.away_from_label(t, c, g).any() for t in ("simple", "complex") for c, g in settings.pairs):
        first.append(Line2D([], [], color="gray", ls="none", marker="x", ms=6, mew=1.4,
                            label="gradient points away from the label"))
    handles = first + [blank] * (rows - len(first))
    for g in settings.gamma:
        column = [Line2D([], [], color=_gamma_colour(settings, g), ls=_c_style(settings, c), lw=1.6,
                         label=rf"$c$={c:g} ($m$={2 - c:g}), $\gamma$={g:g}") for c in settings.c]
        handles += column + [blank] * (rows - len(column))
    return handles


def draw_gradient_figure(curves: Curves, settings: GradientSettings, *, title: str, out_base: Path) -> list[Path]:
    """Write ``out_base`` + ``.png`` and ``.pdf``; returns both paths."""
    fig, axes = plt.subplots(1, 2, figsize=(12.0, 5.0), layout="constrained")
    p = curves.p_t
    panels = (("simple", r"$\|\nabla_{z_s}\mathcal{L}_{simple}\|$", r"(a) $\mathcal{L}_{simple}$ on the simple encoder"),
              ("complex", r"$\|\nabla_{z_c}\mathcal{L}_{complex}\|$", r"(b) $\mathcal{L}_{complex}$ on the complex encoder"))
    for ax, (term, ylabel, panel_title) in zip(axes, panels):
        ax.plot(p, np.abs(curves.log_loss), color="black", ls=":", lw=1.8)
        top = float(np.abs(curves.log_loss).max())
        for c, g in settings.pairs:
            norm = curves.norm(term, c, g)
            top = max(top, float(norm.max()))
            colour = _gamma_colour(settings, g)
            ax.plot(p, norm, color=colour, ls=_c_style(settings, c), lw=1.6)
            away = np.flatnonzero(curves.away_from_label(term, c, g))
            if away.size:
                marks = away[::MARK_EVERY]
                ax.plot(p[marks], norm[marks], ls="none", marker="x", ms=6, mew=1.4, color=colour)
        ax.set_title(panel_title, fontsize=11)
        ax.set_xlabel(r"prediction confidence $p_t$ (probability of the true class)")
        ax.set_ylabel(ylabel + " per sample")
        ax.set_xlim(0.0, 1.0)
        ax.set_xticks(np.linspace(0.0, 1.0, 11))
        ax.grid(True, alpha=0.25)
        ax.set_ylim(0.0, top * 1.22)   # each panel its own scale; headroom for the region labels
        _shade(ax, settings)
    fig.legend(handles=_legend_handles(curves, settings), loc="outside lower center", ncol=len(settings.gamma) + 1,
               fontsize=9, frameon=False)
    fit_suptitle(fig, title + "\nexact per-sample gradients by autograd of tfbench's loss (y = 1; y = 0 is the same); "
                 "Eqs. 14–15 keep only the $(c+\\sigma)^\\gamma(1-\\sigma)$ term", fontsize=11)
    out_base = Path(out_base)
    out_base.parent.mkdir(parents=True, exist_ok=True)
    paths = [out_base.with_suffix(".png"), out_base.with_suffix(".pdf")]
    try:
        fig.savefig(paths[0], dpi=150)
        fig.savefig(paths[1])
    finally:
        plt.close(fig)
    return paths
