"""Figure titles that fit their figure: a suptitle is one line of text centred on the figure, and
matplotlib neither wraps nor shrinks it, so a long title on a narrow (single-panel) figure runs off
both edges and is clipped in the PNG and PDF ("Figure 9:" cut off). :func:`fit_suptitle` wraps it at
word boundaries until every line, as the renderer measures it, fits inside the figure."""

from __future__ import annotations

import textwrap

MARGIN = 0.03      # of the figure width, kept free on each side of the title


def _wrap(title: str, width: int) -> str:
    # break_long_words=False: never split a word or a $math$ run (a split one would not parse)
    return "\n".join(textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False) or line
                     for line in title.split("\n"))


def fit_suptitle(fig, title: str, **kwargs):
    """``fig.suptitle(title, **kwargs)``, wrapped so that it lies inside the figure's width.

    The figure should use the constrained layout (it makes room above the panels for the extra
    lines). Returns the title's Text."""
    text = fig.suptitle(title, **kwargs)
    renderer = fig.canvas.get_renderer()
    room = fig.bbox.width * (1 - 2 * MARGIN)
    width = max(len(line) for line in title.split("\n"))
    while width > 8 and text.get_window_extent(renderer).width > room:
        width = int(width * 0.9)
        text.set_text(_wrap(title, width))
    return text
