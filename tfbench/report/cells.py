"""The cells of a paper-style table, computed with pandas from a DataFrame of finished runs.

``results`` has one row per finished run: ``dataset``, the layout's axis column(s), ``seed`` and
one column per metric holding raw fractions (AUC 0.9861). A cell is the mean ± sample std over
seeds (:func:`tfbench.report.stats.summarize`, a pandas groupby), × ``layout.scale``, next to the
paper's value. The grid is one long DataFrame, one row per (dataset, column, metric, row); marks,
Δ, p-values and the average block are computed on it by group, then frozen into :class:`Cell`\\ s.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any, Hashable, Mapping

import numpy as np
import pandas as pd

from tfbench.report.layout import (
    AVG_DATASET, CELL_COLUMNS, NO_COL, TableLayout, display_order, index_of, isnan, paper_value, ref_index,
)
from tfbench.report.stats import paired_by_seed, summarize, ttest

KEY = ["dataset", "ci", "metric", "ri"]      # a cell's position; also the order of the cells


@dataclass(frozen=True)
class Cell:
    """One (dataset, row, column, metric) cell. Numbers are in display units (× ``scale``)."""

    dataset: str              # or AVG_DATASET for the average block
    row: Any
    col: Any                  # NO_COL for single-axis tables
    metric: str
    mean: float               # NaN without runs; average block: mean over datasets of the cell means
    std: float                # sample std over seeds (ddof=1); NaN with one value and in the average block
    n: int                    # seeds with a value; average block: datasets with runs
    paper: float              # the paper's value (NaN: none); average block: mean over the datasets
    diff: float               # mean − paper (average block: only when both cover the same datasets)
    mark: str                 # "best", "second" or "" within its column of its block
    scale: float
    delta: float              # mean − the Δ reference cell's mean (NaN on the reference itself)
    paper_delta: float        # the same for the paper's values
    pvalue: float             # test row only: the t-test against pvalue_vs
    pvalue_vs: Any            # the best other row by mean (None: no other row has runs)
    paper_dataset: str        # the paper's name of the dataset
    paper_n: int              # paper values in ``paper`` (1/0; average block: datasets)
    delta_n: int              # average block: datasets in the average Δ
    is_ref: bool              # the Δ reference cell
    is_avg: bool              # a cell of the average block
    pvalue_test: str          # test row only: WELCH or PAIRED
    pvalue_n_a: int           # values used on the test row's side / the other side
    pvalue_n_b: int
    ri: int                   # position in the display order of rows / columns
    ci: int

    @property
    def has_runs(self) -> bool:
        return self.n > 0


@dataclass(frozen=True, eq=False)
class Table:
    """All cells of one table, in display order, with the axis values they belong to."""

    layout: TableLayout
    datasets: tuple
    rows: tuple
    cols: tuple
    cells: tuple[Cell, ...]

    @cached_property
    def _index(self) -> dict[tuple, Cell]:
        return {(c.dataset, c.ri, c.ci, c.metric): c for c in self.cells}

    def cell(self, block: str, ri: int, ci: int, metric: str) -> Cell:
        return self._index[(block, ri, ci, metric)]

    @property
    def blocks(self) -> list[str]:
        """The datasets, then AVG_DATASET when the table has an average block."""
        return list(self.datasets) + ([AVG_DATASET] if any(c.is_avg for c in self.cells) else [])

    @property
    def test_ri(self) -> int | None:
        """Position of the layout's test_row among the rows (None without one)."""
        return None if self.layout.test_row is None else index_of(self.layout.test_row, list(self.rows))

    def block(self, name: str) -> list[Cell]:
        return [c for c in self.cells if c.dataset == name]

    def frame(self) -> pd.DataFrame:
        """One row per cell with the columns ``CELL_COLUMNS`` (what :func:`table_cells` returns)."""
        return pd.DataFrame([asdict(c) for c in self.cells], columns=CELL_COLUMNS)


# --------------------------------------------------------------------------- best / second

def _dense_marks(values: pd.Series, by: list[pd.Series] | None = None,
                 counts: pd.Series | None = None) -> np.ndarray:
    """"best" for the highest value of each group, "second" for the next distinct one (dense rank).

    With ``counts`` (values per cell, e.g. seeds) only the group's complete cells compete: those
    with the group's largest count, and only when at least two of them hold a value. A cell with
    fewer seeds than the others of its column is not comparable with them (its mean is noisier and
    may miss the seeds that went badly), and a lone cell is "best" of nothing."""
    if counts is not None:
        counts = counts.where(values.notna(), 0)
        most = counts.groupby(by, sort=False).transform("max") if by else pd.Series(counts.max(), index=counts.index)
        complete = (counts == most) & (counts > 0)
        rivals = complete.groupby(by, sort=False).transform("sum") if by else pd.Series(complete.sum(), index=complete.index)
        values = values.where(complete & (rivals >= 2))
    rank = (values.groupby(by, sort=False) if by else values).rank(method="dense", ascending=False)
    return np.select([rank == 1, rank == 2], ["best", "second"], "").astype(object)


def rank_marks(values: Mapping[Hashable, float], higher_is_better: bool = True, *,
               decimals: int | None = None, counts: Mapping[Hashable, int] | None = None) -> dict[Hashable, str | None]:
    """Best / second-best placement within one column.

    ``values`` maps a row key to its mean (NaN or None = missing cell). Returns, for every key,
    ``"best"``, ``"second"`` or ``None``. Rules: missing cells are never marked; ties share the
    mark (every row equal to the best value is "best"); "second" goes to the rows holding the
    next distinct value (dense ranking), so it exists only when at least two filled cells hold at
    least two distinct values. With ``decimals`` the values are compared after rounding to that many
    decimals (so two cells that print the same number get the same mark). With ``counts`` (key →
    number of seeds) only complete cells compete, as in the tables (:func:`_dense_marks`).
    """
    keys = list(values)
    series = pd.Series([math.nan if isnan(v) else float(v) for v in values.values()], dtype=float)
    if decimals is not None:
        series = series.map(lambda v: round(float(v), decimals))
    n = None if counts is None else pd.Series([int(counts.get(k, 0)) for k in keys], dtype=int)
    marks = _dense_marks(series if higher_is_better else -series, counts=n)
    return {k: (m or None) for k, m in zip(keys, marks)}


def _direction(metric: pd.Series, layout: TableLayout) -> pd.Series:
    """+1 where higher is better, -1 where lower is (so "best" is always the largest signed value)."""
    return metric.map(lambda m: 1.0 if layout.is_higher_better(m) else -1.0)


def _marks(grid: pd.DataFrame, layout: TableLayout, by: list[str]) -> np.ndarray:
    """Marks per column of a block, on the means rounded as printed (Python's round, like f"{x:.2f}"),
    among the column's complete cells only (most seeds; in the average block, most datasets)."""
    shown = grid["mean"].map(lambda v: round(float(v), layout.decimals))
    return _dense_marks(shown * _direction(grid["metric"], layout), [grid[k] for k in by], grid["n"])


# --------------------------------------------------------------------------- the grid

def _check_columns(results: pd.DataFrame, layout: TableLayout) -> None:
    need = ["dataset", layout.row_axis] + ([layout.col_axis] if layout.col_axis else []) + list(layout.metrics)
    missing = [c for c in need if c not in results.columns]
    if missing:
        raise KeyError(f"render_table({layout.title!r}): results lack column(s) {missing}; "
                       f"have {list(results.columns)}")


def _positions(values: pd.Series, order: list) -> np.ndarray:
    """The position in ``order`` of every value (compared as :func:`same`, NaN-safe)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return np.array([index_of(u, order) for u in uniques], dtype=int)[codes]


def _seed_stats(res: pd.DataFrame, metrics: list[str], datasets: list, n_rows: int, n_cols: int) -> pd.DataFrame:
    """mean / std (ddof=1) / n over seeds of every cell of the grid, in ``KEY`` order (n = 0: no run)."""
    by = ["dataset", "_ri", "_ci"]
    wide = summarize(res, by, metrics)
    long = pd.concat({m: wide[by + [f"{m}_mean", f"{m}_std", f"{m}_n"]]
                      .set_axis(["dataset", "ri", "ci", "mean", "std", "n"], axis=1)
                      for m in metrics}, names=["metric", None]).reset_index(level="metric")
    grid = pd.MultiIndex.from_product([datasets, range(n_cols), metrics, range(n_rows)], names=KEY)
    out = long.set_index(KEY).reindex(grid).reset_index()
    out["n"] = out["n"].fillna(0).astype(int)
    for c in ("mean", "std"):
        out[c] = out[c].astype(float).where(out["n"] > 0)
    return out


def build_table(results: pd.DataFrame, layout: TableLayout, *, datasets: list[str],
                paper: dict | None = None, paper_names: dict[str, str] | None = None) -> Table:
    """All cells of the table (see :func:`table_cells` for what each holds)."""
    _check_columns(results, layout)
    if layout.delta_row is not None and layout.delta_column is not None:
        raise ValueError(f"{layout.title!r}: set delta_row or delta_column, not both")
    if layout.delta_column is not None and layout.col_axis is None:
        raise ValueError(f"{layout.title!r}: delta_column needs a column axis")
    datasets = list(datasets)
    res = results[results["dataset"].isin(datasets)].copy()
    col_key = layout.col_axis or "__col__"
    if layout.col_axis is None:
        res[col_key] = NO_COL
    rows = display_order(layout.row_order, list(pd.unique(res[layout.row_axis])) if len(res) else [])
    cols = ([NO_COL] if layout.col_axis is None else
            display_order(layout.col_order, list(pd.unique(res[col_key])) if len(res) else []))
    res["_ri"] = _positions(res[layout.row_axis], rows)
    res["_ci"] = _positions(res[col_key], cols)
    metrics = list(layout.metrics)

    grid = _seed_stats(res, metrics, datasets, len(rows), len(cols))
    grid["row"] = pd.Series([rows[i] for i in grid["ri"]], index=grid.index, dtype=object)
    grid["col"] = pd.Series([cols[i] for i in grid["ci"]], index=grid.index, dtype=object)
    grid["mean"] *= layout.scale
    grid["std"] *= layout.scale
    names = paper_names or {}
    grid["paper_dataset"] = [names.get(ds, ds) for ds in grid["dataset"]]
    grid["paper"] = [paper_value(paper, p, rows[ri], cols[ci], m)
                     for p, ri, ci, m in zip(grid["paper_dataset"], grid["ri"], grid["ci"], grid["metric"])]
    grid["paper"] = grid["paper"].astype(float)
    grid["diff"] = grid["mean"] - grid["paper"]
    grid = grid.assign(mark=_marks(grid, layout, ["dataset", "ci", "metric"]), scale=float(layout.scale),
                       delta=math.nan, paper_delta=math.nan, pvalue=math.nan,
                       pvalue_vs=pd.Series(None, index=grid.index, dtype=object),
                       paper_n=grid["paper"].notna().astype(int), delta_n=0, is_ref=False, is_avg=False,
                       pvalue_test="", pvalue_n_a=0, pvalue_n_b=0)
    if layout.has_delta:
        _add_deltas(grid, layout, rows, cols)
    if layout.test_row is not None:
        _add_pvalues(grid, res, layout, rows)
    if layout.average_datasets:
        grid = pd.concat([grid, _average_block(grid, layout, datasets, rows, cols)], ignore_index=True)
    fields = CELL_COLUMNS + ["ri", "ci"]
    cells = tuple(Cell(**rec) for rec in grid[fields].to_dict("records"))
    return Table(layout, tuple(datasets), tuple(rows), tuple(cols), cells)


def _add_deltas(grid: pd.DataFrame, layout: TableLayout, rows: list, cols: list) -> None:
    """``delta`` / ``paper_delta``: the cell − the reference cell of its column (delta_row) or of
    its row (delta_column), same dataset and metric; NaN on the reference and where a side is missing."""
    if layout.delta_row is not None:
        pos, ref, same_as = "ri", ref_index(layout.delta_row, rows, "delta_row"), ["dataset", "ci", "metric"]
    else:
        pos, ref, same_as = "ci", ref_index(layout.delta_column, cols, "delta_column"), ["dataset", "ri", "metric"]
    is_ref = grid[pos] == ref
    groups = [grid[k] for k in same_as]
    for value, out in (("mean", "delta"), ("paper", "paper_delta")):
        reference = grid[value].where(is_ref).groupby(groups, sort=False).transform("first")
        grid[out] = (grid[value] - reference).where(~is_ref)
    grid["is_ref"] = is_ref


def _add_pvalues(grid: pd.DataFrame, res: pd.DataFrame, layout: TableLayout, rows: list) -> None:
    """On the test row's cells: the two-tailed t-test against the other row with the best mean of
    the same dataset, column and metric (ties: the first in display order)."""
    ti = ref_index(layout.test_row, rows, "test_row")
    if layout.paired and "seed" not in res.columns:
        raise KeyError(f"render_table({layout.title!r}): a paired t-test needs a 'seed' column in results")
    test = grid["ri"] == ti
    grid.loc[test, "pvalue_test"] = layout.test_name
    others = grid[~test & (grid["n"] > 0)]
    signed = others["mean"] * _direction(others["metric"], layout)
    best = signed.groupby([others["dataset"], others["ci"], others["metric"]], sort=False).idxmax()
    runs = dict(iter(res.groupby(["dataset", "_ri", "_ci"], sort=False))) if len(res) else {}
    for i, t in grid[test].iterrows():
        j = best.get((t["dataset"], t["ci"], t["metric"]))
        if j is None:
            continue                                   # no other row has runs
        bri = int(grid.at[j, "ri"])
        grid.at[i, "pvalue_vs"] = rows[bri]
        a, b = runs.get((t["dataset"], ti, t["ci"])), runs[(t["dataset"], bri, t["ci"])]
        values = lambda part: pd.to_numeric(part[t["metric"]], errors="coerce")    # noqa: E731
        if a is None:                                  # the test row never ran here
            grid.at[i, "pvalue_n_b"] = int(values(b).notna().sum())
            continue
        if layout.paired:
            xa, xb = paired_by_seed(values(a).set_axis(a["seed"]), values(b).set_axis(b["seed"]))
            r = ttest(xa, xb, paired=True)
        else:
            r = ttest(values(a).to_numpy(), values(b).to_numpy())
        grid.at[i, "pvalue"], grid.at[i, "pvalue_n_a"], grid.at[i, "pvalue_n_b"] = r.pvalue, r.n_a, r.n_b


def _average_block(grid: pd.DataFrame, layout: TableLayout, datasets: list, rows: list, cols: list) -> pd.DataFrame:
    """The block ``AVG_DATASET``: per (column, metric, row), the mean over datasets of the cell
    means (datasets where the cell has runs), of the paper's values and of the per-dataset Δ.

    A pivot with one column per dataset and a row-wise mean: it adds up the datasets in their order
    (as ``np.mean`` does), where a groupby mean would use compensated summation and could differ
    in the last digit from the numbers this report has always printed."""
    keys = ["ci", "metric", "ri"]
    order = pd.MultiIndex.from_product([range(len(cols)), list(layout.metrics), range(len(rows))], names=keys)
    wide = grid.pivot(index=keys, columns="dataset", values=["mean", "n", "paper", "delta", "paper_delta"])
    per = {v: wide[v].reindex(index=order, columns=datasets) for v in ("mean", "n", "paper", "delta", "paper_delta")}
    has_ours, has_paper = per["n"] > 0, per["paper"].notna()
    avg = pd.DataFrame({
        "mean": per["mean"].where(has_ours).mean(axis=1), "n": has_ours.sum(axis=1),
        "paper": per["paper"].mean(axis=1), "paper_n": has_paper.sum(axis=1),
        "delta": per["delta"].mean(axis=1), "delta_n": per["delta"].notna().sum(axis=1),
        "paper_delta": per["paper_delta"].mean(axis=1),
        "is_ref": grid.groupby(keys)["is_ref"].first().reindex(order),
    })
    same = (has_ours == has_paper).all(axis=1) & (avg["n"] > 0)
    avg["diff"] = (avg["mean"] - avg["paper"]).where(same)
    avg = avg.reset_index()
    avg = avg.assign(dataset=AVG_DATASET, paper_dataset=AVG_DATASET, std=math.nan, scale=float(layout.scale),
                     row=pd.Series([rows[i] for i in avg["ri"]], dtype=object),
                     col=pd.Series([cols[i] for i in avg["ci"]], dtype=object),
                     n=avg["n"].astype(int), paper_n=avg["paper_n"].astype(int), delta_n=avg["delta_n"].astype(int),
                     is_ref=avg["is_ref"].astype(bool), is_avg=True, pvalue=math.nan,
                     pvalue_vs=pd.Series(None, index=avg.index, dtype=object),
                     pvalue_test="", pvalue_n_a=0, pvalue_n_b=0)
    avg["mark"] = _marks(avg, layout, ["ci", "metric"])
    return avg


def table_cells(results: pd.DataFrame, layout: TableLayout, *, datasets: list[str],
                paper: dict | None = None, paper_names: dict[str, str] | None = None) -> pd.DataFrame:
    """The full grid as a long DataFrame, one row per (dataset, row, col, metric) cell.

    Columns: ``CSV_COLUMNS`` (mean/std/paper/diff in display units, i.e. × ``layout.scale``; ``n``
    = number of seeds with a value; ``mark`` = "best"/"second"/""), ``DELTA_COLUMNS`` and
    ``PVALUE_COLUMNS`` (NaN / None where the layout has no such extra), plus ``INTERNAL_COLUMNS``.
    Every cell of the grid is present, missing ones with NaN mean and ``n`` = 0.

    ``delta`` = mean − the reference cell's mean and ``paper_delta`` = paper − the reference cell's
    paper value (NaN on the reference cell itself and where a side is missing). ``pvalue`` and
    ``pvalue_vs`` (the best other row by our mean; ties: the first in display order) are set on the
    cells of ``test_row`` only. With ``average_datasets`` the cells of the block ``AVG_DATASET``
    follow those of the datasets: ``mean`` = mean over datasets of the cell means (datasets where
    the cell has runs), ``n`` = the number of those datasets, ``std`` NaN, ``paper`` = mean of the
    paper's values of the cell over ``datasets``, ``diff`` only when both averages cover the same
    datasets, ``delta``/``paper_delta`` = means over datasets of the per-dataset Δ.
    """
    return build_table(results, layout, datasets=datasets, paper=paper, paper_names=paper_names).frame()
