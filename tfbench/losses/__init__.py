"""Training objectives: functions of logits and 0/1 labels (no knowledge of models, files or the CLI)."""

from tfbench.losses.core import (
    LOSSES,
    FocalLoss,
    LogLoss,
    Objective,
    ReweightedCE,
    TwinFocusLoss,
    add_aux,
    make_objective,
    twin_focus_terms,
)

__all__ = [
    "LOSSES", "FocalLoss", "LogLoss", "ReweightedCE", "Objective", "TwinFocusLoss", "add_aux", "make_objective", "twin_focus_terms",
]
