"""Figure titles fit their figure (issue #17): on a single-panel sweep figure the suptitle ran off
both edges ("Figure 9:" clipped). The title's extent, as the canvas renderer measures it after the
figure is saved, must lie inside the figure's bounding box. Made-up values; nothing trains."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from tfbench.report import figures  # noqa: E402

LONG = "Figure 9: influence of gamma in the Twin Focus loss on the test AUC [quick smoke runs]"


def _saved_figures(monkeypatch) -> list:
    """The figures the code under test closes (kept open instead, to measure them)."""
    kept: list = []
    monkeypatch.setattr(plt, "close", lambda fig=None: kept.append(fig))
    return kept


def _inside(fig, text) -> bool:
    box, page = text.get_window_extent(fig.canvas.get_renderer()), fig.bbox
    return page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1


def _suptitle(fig):
    return fig._suptitle


def test_long_title_of_a_single_panel_sweep_lies_inside_the_figure(monkeypatch, tmp_path):
    kept = _saved_figures(monkeypatch)
    runs = pd.DataFrame([{"dataset": "synthetic", "gamma": g, "seed": s, "AUC": 0.7 + 0.01 * g + 0.001 * s}
                         for g in (0.5, 1.0, 2.0) for s in (1, 2)])
    figures.render_sweep(runs, axis="gamma", axis_label="γ", metric="AUC", datasets=["synthetic"], title=LONG,
                         out_base=tmp_path / "fig9_AUC")
    (fig,) = kept
    title = _suptitle(fig)
    assert _inside(fig, title), (title.get_window_extent(fig.canvas.get_renderer()), fig.bbox)
    assert title.get_text().replace("\n", " ") == LONG              # wrapped at spaces, no word lost
    for ax in fig.axes:                                              # and it does not cover a panel
        assert title.get_window_extent(fig.canvas.get_renderer()).y0 >= ax.get_tightbbox().y1 - 1
    plt.close("all")


def test_fit_suptitle_keeps_a_short_title_on_one_line_and_wraps_a_long_one():
    from tfbench.report.figure_text import fit_suptitle

    fig = plt.figure(figsize=(4.4, 3.8), layout="constrained")
    assert fit_suptitle(fig, "Figure 7: α").get_text() == "Figure 7: α"
    text = fit_suptitle(fig, LONG + "\nsecond line with $\\gamma^{2}$ math kept whole")
    assert text.get_text().count("\n") >= 2 and "$\\gamma^{2}$" in text.get_text() and _inside(fig, text)
    matplotlib.pyplot.close(fig)
