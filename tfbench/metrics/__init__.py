"""Evaluation metrics computed on the device, vectorised (no Python loop over rows or users)."""

from tfbench.metrics.ranking import auc, gauc, logloss, evaluate_logits

__all__ = ["auc", "gauc", "logloss", "evaluate_logits"]
