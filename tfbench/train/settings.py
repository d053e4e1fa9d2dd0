"""The training schedule's settings (read by ``tfbench.train.loop.fit``)."""

from __future__ import annotations

from typing import Literal

from tfbench.schema import Settings, setting


class TrainSettings(Settings):
    epochs: int = setting(100, "Maximum epochs", ge=1)
    batch_size: int = setting(10_000, "Batch size", ge=1)
    learning_rate: float = setting(1e-3, "Adam learning rate", gt=0.0)
    embedding_regularizer: float = setting(0.01, "λ of (λ/2)·‖E‖² on every embedding table", ge=0.0)
    net_regularizer: float = setting(0.0, "λ of (λ/2)·‖θ‖² on every non-embedding parameter", ge=0.0)
    clip_norm: float = setting(10.0, "Gradient-norm clipping threshold", gt=0.0)
    patience: int = setting(2, "Early-stopping patience in evaluation rounds", ge=1)
    # evaluate (and apply patience and the lr decay) every this many optimizer steps instead of
    # after every pass over the train split (0); every count in epochs then counts these rounds
    eval_steps: int = setting(0, "Evaluate every N optimizer steps instead of after every pass (0); epochs, "
                              "patience and the lr decay then count these rounds", ge=0, key_omit_default=True)
    monitor: Literal["AUC", "gAUC", "AUC+gAUC", "logloss"] = setting("AUC", "Validation monitor")
    lr_decay: float = setting(0.1, "Learning-rate factor after a non-improving evaluation", gt=0.0, le=1.0)
    min_lr: float = setting(1e-6, "Floor of the learning rate", ge=0.0)
    seed: int = setting(2023, "Training seed (initial weights, permutations, dropout)")
    # a shrunken smoke run (`tfbench run --quick`): part of the key, never mixed with full runs in reports
    quick: bool = setting(False, "A shrunken smoke run (recorded as quick)")
    # False for tuning runs: the test split is never evaluated, so model selection cannot peek at it
    # (part of the key when False, so a tuning run is never reused as a reported run)
    evaluate_test: bool = setting(True, "Evaluate the test split (off while tuning)")
    # Where the splits live and how evaluation is batched never changes a result: not in the key.
    # host_splits "auto" keeps a split on the host when its arrays exceed device_memory_fraction of
    # the free device memory (what is left after the splits placed before it), "host" always,
    # "device" never; None: $TFBENCH_HOST_SPLITS, else "auto". host_block_rows: rows per block
    # moved to the device (rounded down to whole batches, at least one).
    eval_batch_size: int = setting(65_536, "Rows per evaluation batch", ge=1, in_key=False)
    host_splits: Literal["auto", "host", "device"] | None = setting(None, "Where splits live", in_key=False)
    device_memory_fraction: float = setting(0.5, "Device memory share for resident splits", gt=0.0, le=1.0, in_key=False)
    host_block_rows: int = setting(1 << 20, "Rows per block moved to the device", ge=1, in_key=False)

    def key_settings(self) -> dict:
        d = super().key_settings()
        if not self.quick:
            d.pop("quick")          # keeps the keys of full runs independent of this flag's existence
        if self.evaluate_test:
            d.pop("evaluate_test")  # likewise for every run that is not a tuning trial
        return d
