"""The training schedule's settings (read by ``tfbench.train.loop.fit``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator

from tfbench.schema import Settings, parse_units, setting

SPLITS = ("train", "valid", "test")


def _distinct_splits(splits: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(splits)) != len(splits):
        raise ValueError(f"names a split twice: {list(splits)}")
    return tuple(s for s in SPLITS if s in splits)   # one order, so that one choice has one key


def _band_thresholds(t: tuple[float, ...]) -> tuple[float, ...]:
    if len(t) != 2 or not 0 < t[0] < t[1] <= 1:
        raise ValueError(f"must be two distances 0 < a < b <= 1, got {list(t)}")
    return t


# '' / 'valid,test' on the command line, a list in YAML
SplitList = Annotated[tuple[Literal["train", "valid", "test"], ...], BeforeValidator(parse_units),
                      AfterValidator(_distinct_splits)]
BandThresholds = Annotated[tuple[float, ...], BeforeValidator(parse_units), AfterValidator(_band_thresholds)]


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
    # bf16: the forward pass under torch.autocast(bfloat16); weights, Adam state, the loss and
    # every metric stay fp32 (tfbench.train.precision). In the key only when not fp32.
    precision: Literal["fp32", "bf16"] = setting("fp32", "Training arithmetic: fp32, or bf16 autocast of the forward "
                                                 "pass (fp32 weights, optimizer state, loss and metrics)",
                                                 key_omit_default=True)
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

    # What a run records beyond its metrics (tfbench.train.record; for Figures 2, 6 and 11 and
    # Table IX). Recording never changes what is trained (no random numbers, no change to a
    # batch), but a run that records is another run: it is in the key, and only when on.
    record_bands: SplitList = setting((), "Record per evaluation, on these splits, the counts of misclassified / "
                                      "poorly / well classified samples per class and a histogram of predictions "
                                      "(train, valid, test; '' off)", key_omit_default=True)
    band_thresholds: BandThresholds = setting((0.3, 0.6), "Distances |y - p| that bound the well / poorly / "
                                              "misclassified bands", key_omit_default=True)
    histogram_bins: int = setting(50, "Bins of the recorded prediction histograms over [0, 1]", ge=1, le=1000,
                                  key_omit_default=True)
    record_grad_steps: int = setting(0, "Record the gradient norms of z_s and z_c for the first N optimizer steps "
                                     "(0 off)", ge=0, key_omit_default=True)
    time_inference_passes: int = setting(0, "After training, time this many inference passes over the validation "
                                         "split (0 off)", ge=0, key_omit_default=True)

    def key_settings(self) -> dict:
        d = super().key_settings()
        if not self.record_bands:
            d.pop("band_thresholds", None)   # they shape only what record_bands records
            d.pop("histogram_bins", None)
        if not self.quick:
            d.pop("quick")          # keeps the keys of full runs independent of this flag's existence
        if self.evaluate_test:
            d.pop("evaluate_test")  # likewise for every run that is not a tuning trial
        return d
