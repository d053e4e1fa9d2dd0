"""The training core: device-resident splits, permutation batching, early stopping, evaluation."""

from tfbench.train.loop import (
    EpochRecord,
    TrainingError,
    TrainResult,
    TrainSettings,
    evaluate,
    fit,
    resolve_device,
    seed_everything,
    to_device,
)

__all__ = [
    "EpochRecord", "TrainingError", "TrainResult", "TrainSettings", "evaluate", "fit",
    "resolve_device", "seed_everything", "to_device",
]
