"""The training core's error type: a run that itself failed."""

from __future__ import annotations


class TrainingError(RuntimeError):
    """The run itself failed (e.g. a non-finite loss); recorded as a failed run."""
