"""The training core: device-resident (or, when too large, host-kept) splits, permutation batching,
early stopping, evaluation."""

from tfbench.train.loop import (
    EpochRecord,
    HostSplit,
    TrainingError,
    TrainResult,
    TrainSettings,
    evaluate,
    fit,
    place_splits,
    resolve_device,
    seed_everything,
    to_device,
)

__all__ = [
    "EpochRecord", "HostSplit", "TrainingError", "TrainResult", "TrainSettings", "evaluate", "fit", "place_splits",
    "resolve_device", "seed_everything", "to_device",
]
