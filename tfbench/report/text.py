"""Plain-text pieces shared by the markdown and LaTeX renderers: numbers as printed, the Δ and
p-value texts of a cell, block headings and the notes under a table."""

from __future__ import annotations

from tfbench.report.cells import Cell, Table
from tfbench.report.layout import AVG_DATASET, MISSING, TableLayout, isnan, label


def num(x: float, decimals: int) -> str:
    return MISSING if isnan(x) else f"{x:.{decimals}f}"


def signed(x: float, decimals: int) -> str:
    x = 0.0 if round(x, decimals) == 0 else x   # no "-0.00"
    return f"{x:+.{decimals}f}"


def shown_diff(c: Cell, decimals: int) -> str:
    """ours − paper as printed: the difference of the two displayed (rounded) numbers."""
    return signed(round(c.mean, decimals) - round(c.paper, decimals), decimals)


def datasets_phrase(n: int) -> str:
    return f"{n} dataset{'' if n == 1 else 's'}"


def delta_parts(c: Cell, layout: TableLayout) -> tuple[str, str, str] | None:
    """The Δ texts of a cell: (ours or "" when missing, "(k datasets)" when an average Δ covers fewer
    datasets than the cell's mean, paper's or ""); None when there is nothing to show."""
    if not layout.has_delta or c.is_ref or (isnan(c.delta) and isnan(c.paper_delta)):
        return None
    d = layout.decimals
    ours = "" if isnan(c.delta) else signed(c.delta, d)
    count = f" ({datasets_phrase(c.delta_n)})" if c.is_avg and ours and c.delta_n != c.n else ""
    return ours, count, ("" if isnan(c.paper_delta) else signed(c.paper_delta, d))


def p_phrase(pvalue: float, n_a: int, n_b: int) -> str:
    """A t-test's result as printed: "p = 0.0123", or why there is none. A side with fewer than
    two values has no test ("n = 1, no test"); two sides without any variance give no p either."""
    if min(n_a, n_b) < 2:
        return f"n = {min(n_a, n_b)}, no test"
    return "no test (no variance)" if isnan(pvalue) else f"p = {pvalue:.3g}"


def p_text(c: Cell) -> str:
    """The test row's p-value against the best other row, plain text."""
    if isnan(c.pvalue_vs):      # None: no other row has runs
        return MISSING
    return f"{p_phrase(c.pvalue, c.pvalue_n_a, c.pvalue_n_b)} vs {label(c.pvalue_vs)} (n={c.pvalue_n_a}/{c.pvalue_n_b})"


def marks_note(table: Table) -> str | None:
    """Why some filled cells carry no mark (marks go only to complete cells; see ``cells._dense_marks``),
    or None when every column's filled cells are complete and at least two."""
    columns: dict[tuple, list[int]] = {}
    for c in table.cells:
        if c.n > 0:
            columns.setdefault((c.dataset, c.ci, c.metric), []).append(c.n)
    fewer = sum(sum(n < max(ns) for n in ns) for ns in columns.values())
    lone = sum(ns.count(max(ns)) == 1 for ns in columns.values())
    if not fewer and not lone:
        return None
    parts = []
    if fewer:
        parts.append(f"{fewer} cell{'' if fewer == 1 else 's'} with fewer seeds than the best-covered cell of "
                     f"{'its' if fewer == 1 else 'their'} column (in the average block: fewer datasets) "
                     f"{'is' if fewer == 1 else 'are'} not marked")
    if lone:
        parts.append(f"{lone} column{'' if lone == 1 else 's'} with a single complete cell "
                     f"{'has' if lone == 1 else 'have'} no marks")
    return "Marks compare complete cells only: " + "; ".join(parts) + "."


def block_heading(table: Table, block: str) -> tuple[str, str | None, bool]:
    """(block name, the paper's name when it differs and the block has paper values, no runs at all)."""
    cells = table.block(block)
    pname = cells[0].paper_dataset if cells else block
    has_paper = any(not isnan(c.paper) for c in cells)
    return block, (str(pname) if pname != block and has_paper else None), all(c.n == 0 for c in cells)


def has_paper(table: Table) -> bool:
    return any(not isnan(c.paper) for c in table.cells)


def metrics_phrase(layout: TableLayout) -> str:
    hi = [m for m in layout.metrics if layout.is_higher_better(m)]
    lo = [m for m in layout.metrics if not layout.is_higher_better(m)]
    parts = []
    if hi:
        parts.append(f"higher is better for {', '.join(hi)}")
    if lo:
        parts.append(f"lower is better for {', '.join(lo)}")
    return "; ".join(parts)


def scale_phrase(layout: TableLayout) -> str:
    return "raw values" if layout.scale == 1 else f"values × {layout.scale:g}"


def n_phrase(table: Table) -> str:
    filled = [c.n for c in table.cells if c.n > 0 and not c.is_avg]
    if not filled:
        return "n seeds"
    lo, hi = min(filled), max(filled)
    return f"n = {lo} seeds" if lo == hi else f"n = {lo}–{hi} seeds"


def extra_notes(layout: TableLayout) -> list[str]:
    """Plain-text notes explaining the layout's extras (Δ, p-values, averages)."""
    notes = []
    if layout.has_delta:
        by_row = layout.delta_row is not None
        ref = label(layout.delta_row if by_row else layout.delta_column)
        notes.append(
            f"{layout.delta_label} = the cell − the {ref} {'row' if by_row else 'column'}'s cell of the same "
            f"{'column' if by_row else 'row'} and dataset: ours from our unrounded means, paper from the "
            f"paper's printed numbers.")
    if layout.test_row is not None:
        row = label(layout.test_row)
        notes.append(
            f"{layout.test_label}: {layout.test_name} between the per-seed values of {row} and of the other row "
            f"with the best mean of the same column, dataset and metric"
            f"{' (seeds both have)' if layout.paired else ''}; n = values used on each side; "
            f"“n = 1, no test” (or n = 0) where a side has fewer than two values.")
    if layout.average_datasets:
        notes.append(
            f"{AVG_DATASET}: per cell, the mean over datasets of our per-dataset means, only over the datasets "
            f"where the cell has runs (their number in parentheses); paper = the mean of the paper's values "
            f"of the cell over the same report's datasets, Δ to it only when both cover the same datasets"
            + (f"; {layout.delta_label} = the mean over datasets of the per-dataset Δ" if layout.has_delta else "")
            + ".")
    return notes
