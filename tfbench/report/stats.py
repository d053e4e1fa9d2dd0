"""Summary statistics over seeds and two-tailed t-tests.

Pure functions on pandas/numpy values: nothing here reads the results database.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

WELCH = "Welch two-tailed t-test"
PAIRED = "paired two-tailed t-test"


def summarize(results: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """One row per cell (distinct combination of the ``by`` columns).

    For every metric ``m`` the columns ``f"{m}_mean"``, ``f"{m}_std"`` (sample standard deviation,
    ddof=1, NaN when fewer than two values) and ``f"{m}_n"`` (number of non-NaN values) are added.
    NaN metric values (e.g. a gAUC that could not be computed) are left out of all three.
    Cells keep NaN keys (``dropna=False``); rows are in sorted key order (order of first appearance
    when the keys cannot be ordered).
    """
    by = list(by)
    metrics = list(metrics)
    missing = [c for c in by + metrics if c not in results.columns]
    if missing:
        raise KeyError(f"summarize: column(s) {missing} not in results (have {list(results.columns)})")
    out_cols = by + [f"{m}_{s}" for m in metrics for s in ("mean", "std", "n")]
    if results.empty:
        return pd.DataFrame(columns=out_cols)
    values = results[by + metrics].copy()
    for m in metrics:
        values[m] = pd.to_numeric(values[m], errors="coerce").astype(float)

    def _stats(sort: bool) -> pd.DataFrame:
        grouped = values.groupby(by, dropna=False, sort=sort)
        parts = []
        for m in metrics:
            g = grouped[m]
            parts.append(pd.DataFrame({
                f"{m}_mean": g.mean(),
                f"{m}_std": g.std(ddof=1),
                f"{m}_n": g.count().astype(int),
            }))
        return pd.concat(parts, axis=1).reset_index()

    try:
        out = _stats(sort=True)
    except TypeError:          # keys of mixed types that cannot be ordered: keep first appearance
        out = _stats(sort=False)
    return out[out_cols]


@dataclass(frozen=True)
class TTest:
    statistic: float
    pvalue: float
    test: str        # WELCH or PAIRED
    n_a: int         # values used on each side (NaN dropped; for paired, complete pairs)
    n_b: int
    mean_diff: float  # mean(a) - mean(b) over the values used


def _as_float_array(x: Iterable[float]) -> np.ndarray:
    return np.asarray(list(x) if not isinstance(x, (np.ndarray, pd.Series)) else x, dtype=float).ravel()


def ttest(a, b, *, paired: bool = False) -> TTest:
    """Two-tailed t-test of ``a`` against ``b``.

    Default: Welch's test (``scipy.stats.ttest_ind(equal_var=False)``) on the non-NaN values.
    ``paired=True``: ``scipy.stats.ttest_rel`` on values aligned by position (use
    :func:`paired_by_seed` to align by seed first); pairs with a NaN on either side are dropped;
    ``a`` and ``b`` must have the same length.
    Fewer than two values on a side gives ``statistic``/``pvalue`` NaN instead of an exception.
    Zero variance follows scipy (NaN or ±inf statistic).
    """
    xa = _as_float_array(a)
    xb = _as_float_array(b)
    if paired:
        if xa.shape != xb.shape:
            raise ValueError(f"paired t-test needs equal lengths, got {xa.size} and {xb.size}")
        keep = ~(np.isnan(xa) | np.isnan(xb))
        xa, xb = xa[keep], xb[keep]
        test = PAIRED
    else:
        xa, xb = xa[~np.isnan(xa)], xb[~np.isnan(xb)]
        test = WELCH
    n_a, n_b = int(xa.size), int(xb.size)
    mean_diff = float(xa.mean() - xb.mean()) if n_a and n_b else math.nan
    if n_a < 2 or n_b < 2:
        return TTest(math.nan, math.nan, test, n_a, n_b, mean_diff)
    from scipy import stats as _sps   # imported here: scipy.stats is slow to import

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # zero variance: scipy warns and returns nan/inf
        if paired:
            res = _sps.ttest_rel(xa, xb)
        else:
            res = _sps.ttest_ind(xa, xb, equal_var=False)
    return TTest(float(res.statistic), float(res.pvalue), test, n_a, n_b, mean_diff)


def paired_by_seed(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Align two seed-indexed Series on the seeds they share (sorted by seed).

    Seeds present on only one side, and pairs where either value is NaN, are dropped.
    A seed that appears twice on one side is an error (the pairing would be ambiguous).
    """
    for name, s in (("a", a), ("b", b)):
        if s.index.has_duplicates:
            dup = sorted(set(s.index[s.index.duplicated()].tolist()))
            raise ValueError(f"paired_by_seed: series {name} has duplicate seed(s) {dup}")
    shared = a.index.intersection(b.index)
    try:
        shared = shared.sort_values()
    except TypeError:
        pass
    xa = pd.to_numeric(a.loc[shared], errors="coerce").to_numpy(dtype=float)
    xb = pd.to_numeric(b.loc[shared], errors="coerce").to_numpy(dtype=float)
    keep = ~(np.isnan(xa) | np.isnan(xb))
    return xa[keep], xb[keep]
