"""Evaluation metrics computed on the device, vectorised (no Python loop over rows or users)."""

from tfbench.metrics.ranking import MetricInputError, auc, evaluate_logits, gauc, logloss

__all__ = ["MetricInputError", "auc", "gauc", "logloss", "evaluate_logits"]
