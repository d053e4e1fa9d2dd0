"""Training loop (paper Algorithm 1, with FuxiCTR's schedule as in the authors' runs).

* Whole splits live as tensors on the device; each epoch draws one permutation and slices
  batches from it (no DataLoader, no per-sample Python).
* A split too large for the device (see :func:`tfbench.train.placement.place_splits`; e.g. Criteo's memory-mapped
  arrays) stays on the host as a :class:`HostSplit`: each epoch uses the SAME permutation, and
  moves it to the device in blocks of whole batches: the block's rows are gathered from the
  (memory-mapped) arrays in ascending row order, put back into permutation order, and copied
  to the device at once (pinned memory on CUDA), the next block being gathered in a background
  thread meanwhile. Every batch therefore holds the same rows in the same order as on the
  resident path, and gives the same losses and metrics. Evaluation streams contiguous blocks
  whose boundaries fall on the evaluation batches'.
* Adam; per batch: loss + (λ/2)·‖E‖² over every embedding table; gradient-norm clipping.
* After each epoch the validation monitor is computed; when it does not improve, the learning
  rate is multiplied by ``lr_decay`` (floor ``min_lr``) and a patience counter grows; an
  improvement resets it. Training stops at ``patience`` non-improving epochs in a row, and the
  best epoch's weights are restored before the test evaluation.
"""

from __future__ import annotations

import copy
import math
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from tfbench.data.types import EncodedDataset
from tfbench.losses import Objective
from tfbench.metrics import evaluate_logits
from tfbench.models import embedding_modules
from tfbench.train.errors import TrainingError
from tfbench.train.placement import (  # the placement names are re-exported here, where they were first defined
    HOST_SPLITS_CHOICES,
    HOST_SPLITS_ENV,
    DeviceSplit,
    HostSplit,
    _blocks,
    _host_batches,
    _resident_batches,
    free_device_memory,
    host_splits_mode,
    place_splits,
    split_bytes,
    to_device,
)
from tfbench.train.step import make_optimizer, net_squared_norm, train_step
from tfbench.train.record import (
    BandCounts, GradRecorder, GradStep, Timing, count_bands, synchronize, time_inference,
)
from tfbench.train.settings import TrainSettings


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    valid: dict[str, float]
    monitor: float
    learning_rate: float
    seconds: float
    improved: bool
    train_seconds: float = 0.0      # of ``seconds``, the training steps (the rest is evaluation)
    # recorded when the settings ask for it (tfbench.train.record)
    bands: list[BandCounts] = field(default_factory=list)
    grad_steps: list[GradStep] = field(default_factory=list)


@dataclass
class TrainResult:
    history: list[EpochRecord]
    best_epoch: int
    valid: dict[str, float]
    test: dict[str, float]
    train_seconds: float
    inference_seconds: float | None   # evaluation of the test split with the best weights (None: not evaluated)
    samples_per_second: float
    stopped_early: bool
    timings: list[Timing] = field(default_factory=list)   # recorded when time_inference_passes > 0


def resolve_device(name: str | None = "auto") -> torch.device:
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def monitor_value(metrics: dict[str, float], monitor: str) -> float:
    """Larger is better: AUC, gAUC, AUC+gAUC, or −logloss."""
    if monitor == "logloss":
        return -metrics["logloss"]
    total = 0.0
    for name in monitor.split("+"):
        if name not in metrics:
            raise TrainingError(f"monitor '{monitor}' needs {name}, which this dataset does not provide")
        total += metrics[name]
    return total


@torch.no_grad()
def predict_logits(model: nn.Module, data: DeviceSplit | HostSplit, batch_size: int) -> torch.Tensor:
    was_training = model.training
    model.eval()
    if isinstance(data, HostSplit):
        out = []
        for start, stop in _blocks(len(data), batch_size, data.block_rows):
            x_cat, x_num, _ = data.to_device(data.x_cat[start:stop], data.x_num[start:stop], data.y[start:stop])
            out.extend(model(x_cat[i : i + batch_size], x_num[i : i + batch_size]).logit
                       for i in range(0, stop - start, batch_size))
        device = data.device
    else:
        out = [
            model(data.x_cat[i : i + batch_size], data.x_num[i : i + batch_size]).logit
            for i in range(0, len(data), batch_size)
        ]
        device = data.y.device
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, device=device)


def check_monitor_defined(valid: DeviceSplit | HostSplit, monitor: str) -> None:
    """Refuse, before any training, a validation split on which the monitor has no value: every
    epoch would score NaN, no epoch would be best, and the run would end on its last weights."""
    if monitor == "logloss":
        return
    y = split_labels(valid)
    n_pos = int((y > 0.5).sum())
    if len(y) == 0 or n_pos in (0, len(y)):
        only = "no rows" if len(y) == 0 else f"only {'positives' if n_pos else 'negatives'} ({len(y)} rows)"
        raise TrainingError(f"the valid split has {only}: the monitor {monitor} (an AUC) is undefined on it")
    if "gAUC" in monitor.split("+"):
        group = valid.groups() if isinstance(valid, HostSplit) else valid.group
        if group is None:
            raise TrainingError(f"the monitor {monitor} needs a user field for gAUC, which this dataset does not have; "
                                "use --monitor AUC")
        # a group counts for gAUC only when it holds both classes (FuxiCTR's rule)
        g = torch.unique(group, return_inverse=True)[1]
        pos = torch.zeros(int(g.max()) + 1, device=g.device).index_add_(0, g, (y > 0.5).float())
        size = torch.bincount(g).float()
        if not bool(((pos > 0) & (pos < size)).any()):
            raise TrainingError(f"no user of the valid split has both classes: the monitor {monitor} (gAUC) is "
                                "undefined on it; use --monitor AUC")


def finite_logits(logits: torch.Tensor, split: str, epoch: int | None) -> torch.Tensor:
    """The logits, or a one-line TrainingError when some are NaN or infinite (a diverged model)."""
    bad = int((~torch.isfinite(logits)).sum())
    if bad:
        when = f"after epoch {epoch}" if epoch is not None else "with the best weights"
        raise TrainingError(f"{bad} of {logits.numel()} predictions on the {split} split are not finite {when} "
                            "(the model diverged; try a lower learning rate)")
    return logits


def split_labels(data: DeviceSplit | HostSplit) -> torch.Tensor:
    return data.labels() if isinstance(data, HostSplit) else data.y


def score(data: DeviceSplit | HostSplit, logits: torch.Tensor) -> dict[str, float]:
    if isinstance(data, HostSplit):
        return evaluate_logits(data.labels(), logits, data.groups())
    return evaluate_logits(data.y, logits, data.group)


def evaluate(model: nn.Module, data: DeviceSplit | HostSplit, batch_size: int = 65_536) -> dict[str, float]:
    return score(data, predict_logits(model, data, batch_size))


_net_squared_norm = net_squared_norm   # its first name, kept for importers


def final_metrics(model: nn.Module, history: list[EpochRecord], best_epoch: int, valid, test,
                  eval_batch_size: int) -> tuple[dict[str, float], dict[str, float], float | None]:
    """A run's final (valid metrics, test metrics, test inference seconds) from ``model`` holding
    its best weights: the best epoch's validation metrics (evaluated afresh if no epoch was best)."""
    valid_metrics = history[best_epoch - 1].valid if best_epoch else evaluate(model, valid, eval_batch_size)
    test_metrics: dict[str, float] = {}
    inference_seconds = None
    if test is not None and len(test):
        t0 = time.perf_counter()
        test_metrics = score(test, finite_logits(predict_logits(model, test, eval_batch_size), "test", None))
        inference_seconds = time.perf_counter() - t0
    return valid_metrics, test_metrics, inference_seconds


def fit(
    model: nn.Module,
    dataset: EncodedDataset,
    objective: Objective,
    settings: TrainSettings,
    device: torch.device,
    on_batch: Callable[[int, int, int, float], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``dataset.train``, select on ``dataset.valid``, report on ``dataset.test``.

    ``on_batch(epoch, batch, n_batches, loss)`` and ``on_epoch(record)`` are progress hooks.
    """
    seed_everything(settings.seed)
    model.to(device)
    placed = place_splits(dataset, settings, device)
    train, valid, test = placed["train"], placed["valid"], placed.get("test")
    host_train = isinstance(train, HostSplit)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tfbench-gather") if host_train else None
    try:
        return _fit(model, train, valid, test, objective, settings, device, on_batch, on_epoch, pool)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _fit(model, train, valid, test, objective, settings, device, on_batch, on_epoch, pool) -> TrainResult:
    n = len(train)
    if n == 0:
        raise TrainingError("the train split is empty")

    optimizer = make_optimizer(model, settings.learning_rate, device)
    embeddings = embedding_modules(model)
    generator = torch.Generator(device="cpu").manual_seed(settings.seed)
    # An "epoch" below is one round between two evaluations: a pass over the train split, or
    # ``eval_steps`` optimizer steps (FuxiCTR's eval_steps), which may span passes. Everything
    # counted in epochs (the maximum, patience, the learning-rate decay, the records) counts rounds.
    batches_per_pass = math.ceil(n / settings.batch_size)
    n_batches = settings.eval_steps or batches_per_pass

    def batch_stream():
        while True:   # one fresh permutation per pass, as many passes as the rounds need
            perm = torch.randperm(n, generator=generator)
            if isinstance(train, HostSplit):
                yield from _host_batches(train, perm.numpy(), settings.batch_size, settings.host_block_rows, pool)
            else:
                if device.type == "cuda":   # one permutation per pass, copied while the last batch trains
                    perm = perm.pin_memory().to(device, non_blocking=True)
                yield from _resident_batches(train, perm.to(device), settings.batch_size, batches_per_pass)

    check_monitor_defined(valid, settings.monitor)
    stream = batch_stream()
    splits = {"train": train, "valid": valid, "test": test}
    if "test" in settings.record_bands and test is None:
        raise TrainingError("record_bands names the test split, which this run does not evaluate")
    grads = GradRecorder(settings.record_grad_steps, device) if settings.record_grad_steps else None
    timings: list[Timing] = []
    history: list[EpochRecord] = []
    best_value, best_epoch, best_state = -math.inf, 0, None
    bad_epochs = 0
    stopped_early = False
    train_seconds = 0.0
    samples_seen = 0

    for epoch in range(1, settings.epochs + 1):
        model.train()
        if epoch == 1 and settings.time_inference_passes:
            synchronize(device)   # the timed first epoch starts with the splits' copies to the device done
        t0 = time.perf_counter()
        seen_before = samples_seen
        loss_sum = torch.zeros((), device=device)
        for b in range(n_batches):
            x_cat, x_num, y = next(stream)
            watched = grads is not None and grads.active
            loss = train_step(model, optimizer, objective, embeddings, settings, device, x_cat, x_num, y,
                              (lambda out: grads.watch(out, epoch)) if watched else None)
            if watched:
                grads.after_step(loss)
            loss_sum += loss.detach()
            samples_seen += len(y)
            if on_batch is not None:
                on_batch(epoch, b + 1, n_batches, float(loss.detach()))
        train_loss = float(loss_sum) / n_batches
        if not math.isfinite(train_loss):
            raise TrainingError(f"the training loss became {train_loss} in epoch {epoch}")
        epoch_train_seconds = time.perf_counter() - t0   # float(loss_sum) above waited for the device
        train_seconds += epoch_train_seconds
        if epoch == 1 and settings.time_inference_passes:
            timings.append(Timing("train_first_epoch", 1, epoch_train_seconds, samples_seen - seen_before))

        valid_logits = finite_logits(predict_logits(model, valid, settings.eval_batch_size), "valid", epoch)
        metrics = score(valid, valid_logits)
        bands = []
        for name in settings.record_bands:
            logits = valid_logits if name == "valid" else finite_logits(
                predict_logits(model, splits[name], settings.eval_batch_size), name, epoch)
            bands += count_bands(epoch, name, logits, split_labels(splits[name]), settings.band_thresholds,
                                 settings.histogram_bins)
        value = monitor_value(metrics, settings.monitor)
        lr = optimizer.param_groups[0]["lr"]
        # FuxiCTR's rule: an improvement must exceed 1e-6.
        improved = value > best_value + 1e-6
        if improved:
            best_value, best_epoch, bad_epochs = value, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
            for group in optimizer.param_groups:
                group["lr"] = max(group["lr"] * settings.lr_decay, settings.min_lr)
        record = EpochRecord(epoch, train_loss, metrics, value, lr, time.perf_counter() - t0, improved,
                             epoch_train_seconds, bands, grads.flush() if grads is not None else [])
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if bad_epochs >= settings.patience:
            stopped_early = True
            break

    stream.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    valid_metrics, test_metrics, inference_seconds = final_metrics(model, history, best_epoch, valid, test,
                                                                   settings.eval_batch_size)
    if settings.time_inference_passes:
        timings += time_inference(lambda: predict_logits(model, valid, settings.eval_batch_size), len(valid),
                                  settings.time_inference_passes, device)
    return TrainResult(
        history=history,
        best_epoch=best_epoch,
        valid=valid_metrics,
        test=test_metrics,
        train_seconds=train_seconds,
        inference_seconds=inference_seconds,
        samples_per_second=samples_seen / train_seconds if train_seconds > 0 else float("nan"),
        stopped_early=stopped_early,
        timings=timings,
    )
