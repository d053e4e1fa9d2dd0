"""AUC, gAUC and logloss as tensor programs.

AUC uses the Mann-Whitney form with average ranks for tied scores, which is exactly what
``sklearn.metrics.roc_auc_score`` computes. gAUC follows FuxiCTR: the AUC of each group
(user), weighted by the group's number of samples, over the groups that have both classes.
All arithmetic on ranks is done in float64 so that sums over millions of rows stay exact.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from tfbench.errors import TfbenchError


class MetricInputError(TfbenchError, ValueError):
    """Scores or labels a metric cannot score: a NaN or infinite prediction ranks arbitrarily
    (sorting puts NaN last, so a diverged model scored AUC ≈ 0.5), and a label outside {0, 1}
    has no class. Refused instead of turned into a plausible number."""


def _check_inputs(metric: str, y: torch.Tensor, s: torch.Tensor, group: torch.Tensor | None = None) -> None:
    """Raise :class:`MetricInputError` for inputs the metric would score wrongly (one host sync)."""
    if y.numel() != s.numel() or (group is not None and group.numel() != y.numel()):
        sizes = f"{y.numel()} labels and {s.numel()} scores" + ("" if group is None else f" and {group.numel()} groups")
        raise MetricInputError(f"{metric}: {sizes}; they must have one value per row")
    counts = torch.stack([(~torch.isfinite(s)).sum(), ((y != 0) & (y != 1)).sum()]).tolist()
    if counts[0]:
        raise MetricInputError(f"{metric}: {counts[0]} of {s.numel()} predictions are NaN or infinite; "
                               f"a diverged model has no {metric}")
    if counts[1]:
        bad = y[(y != 0) & (y != 1)][:3].tolist()
        raise MetricInputError(f"{metric}: {counts[1]} of {y.numel()} labels are not 0 or 1 (e.g. {bad})")


def _tie_averaged_ranks(keys_sorted_change: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """1-based average ranks of rows already sorted; ``keys_sorted_change[i]`` is True where a new
    run of equal keys starts. ``positions`` is the 0-based rank each row would have without ties."""
    run_id = torch.cumsum(keys_sorted_change.to(torch.int64), dim=0) - 1
    n_runs = int(run_id[-1].item()) + 1
    first = torch.full((n_runs,), positions.numel(), dtype=torch.float64, device=positions.device)
    first = first.scatter_reduce(0, run_id, positions, reduce="amin")
    last = torch.zeros(n_runs, dtype=torch.float64, device=positions.device)
    last = last.scatter_reduce(0, run_id, positions, reduce="amax")
    return ((first + last) / 2.0 + 1.0)[run_id]


def auc(y_true: torch.Tensor, y_score: torch.Tensor) -> float:
    """Area under the ROC curve; NaN when only one class is present. Non-finite scores or labels
    outside {0, 1} raise :class:`MetricInputError`."""
    y = y_true.reshape(-1).to(torch.float64)
    s = y_score.reshape(-1)
    _check_inputs("AUC", y, s)
    n = y.numel()
    n_pos = float(y.sum().item())
    n_neg = n - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    s_sorted, order = torch.sort(s, stable=True)
    change = torch.ones(n, dtype=torch.bool, device=s.device)
    change[1:] = s_sorted[1:] != s_sorted[:-1]
    positions = torch.arange(n, dtype=torch.float64, device=s.device)
    ranks = _tie_averaged_ranks(change, positions)
    rank_sum_pos = float((ranks * y[order]).sum().item())
    return (rank_sum_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def gauc(y_true: torch.Tensor, y_score: torch.Tensor, group: torch.Tensor) -> float:
    """Group AUC: per-group AUC weighted by group size, single-class groups left out.

    NaN when no group has both classes. Bad inputs raise :class:`MetricInputError` as in :func:`auc`.
    """
    y = y_true.reshape(-1).to(torch.float64)
    s = y_score.reshape(-1)
    _check_inputs("gAUC", y, s, group)
    if y.numel() == 0:                     # no rows: no group has both classes
        return math.nan
    _, g = torch.unique(group.reshape(-1), return_inverse=True)
    n = y.numel()
    # Sort by (group, score): stable sort by score, then stable sort by group.
    order = torch.sort(s, stable=True).indices
    order = order[torch.sort(g[order], stable=True).indices]
    g_s, s_s, y_s = g[order], s[order], y[order]
    n_groups = int(g_s[-1].item()) + 1
    count = torch.bincount(g_s, minlength=n_groups).to(torch.float64)
    n_pos = torch.zeros(n_groups, dtype=torch.float64, device=s.device).index_add_(0, g_s, y_s)
    n_neg = count - n_pos
    group_start = torch.cumsum(count, 0) - count
    positions = torch.arange(n, dtype=torch.float64, device=s.device) - group_start[g_s]
    change = torch.ones(n, dtype=torch.bool, device=s.device)
    change[1:] = (g_s[1:] != g_s[:-1]) | (s_s[1:] != s_s[:-1])
    ranks = _tie_averaged_ranks(change, positions)
    rank_sum_pos = torch.zeros(n_groups, dtype=torch.float64, device=s.device).index_add_(0, g_s, ranks * y_s)
    valid = (n_pos > 0) & (n_neg > 0)
    if not bool(valid.any()):
        return math.nan
    group_auc = (rank_sum_pos[valid] - n_pos[valid] * (n_pos[valid] + 1) / 2.0) / (n_pos[valid] * n_neg[valid])
    weights = count[valid]
    return float((group_auc * weights).sum().item() / weights.sum().item())


# The reported logloss clips probabilities to [eps, 1 − eps] with eps = 1e-7, as the authors'
# FuxiCTR does (``log_loss(y_true, y_pred, eps=1e-7)``), so that the paper's logloss column and
# ours mean the same thing for saturated predictions.
LOGLOSS_EPS = 1e-7


def logloss(y_true: torch.Tensor, logits: torch.Tensor) -> float:
    """Mean binary cross-entropy of sigmoid(logits) in float64, probabilities clipped to [1e-7, 1 − 1e-7].
    Non-finite logits (an infinite logit would be clipped into a finite loss) or labels outside {0, 1}
    raise :class:`MetricInputError`."""
    y = y_true.reshape(-1).to(torch.float64)
    _check_inputs("logloss", y, logits.reshape(-1))
    p = torch.sigmoid(logits.reshape(-1).to(torch.float64)).clamp(LOGLOSS_EPS, 1.0 - LOGLOSS_EPS)
    return float(-(y * p.log() + (1.0 - y) * (1.0 - p).log()).mean().item())


def evaluate_logits(y_true: torch.Tensor, logits: torch.Tensor, group: torch.Tensor | None) -> dict[str, float]:
    """All metrics of one split. AUC is rank-based, so logits rank exactly like probabilities."""
    out = {"AUC": auc(y_true, logits), "logloss": logloss(y_true, logits)}
    if group is not None:
        out["gAUC"] = gauc(y_true, logits, group)
    return out
