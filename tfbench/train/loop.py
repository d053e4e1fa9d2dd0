"""Training loop (paper Algorithm 1, with FuxiCTR's schedule as in the authors' runs).

* Whole splits live as tensors on the device; each epoch draws one permutation and slices
  batches from it (no DataLoader, no per-sample Python).
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
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from tfbench.data.types import EncodedDataset, Split
from tfbench.losses import Objective
from tfbench.metrics import evaluate_logits
from tfbench.models import embedding_modules


class TrainingError(RuntimeError):
    """The run itself failed (e.g. a non-finite loss); recorded as a failed run."""


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 100
    batch_size: int = 10_000
    learning_rate: float = 1e-3
    embedding_regularizer: float = 0.0
    net_regularizer: float = 0.0
    clip_norm: float = 10.0
    patience: int = 2
    monitor: str = "AUC"
    lr_decay: float = 0.1
    min_lr: float = 1e-6
    seed: int = 2023
    eval_batch_size: int = 65_536
    evaluate_test: bool = True        # False while tuning: the test split is not touched


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    valid: dict[str, float]
    monitor: float
    learning_rate: float
    seconds: float
    improved: bool


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


@dataclass
class DeviceSplit:
    x_cat: torch.Tensor
    x_num: torch.Tensor
    y: torch.Tensor
    group: torch.Tensor | None

    def __len__(self) -> int:
        return int(self.y.shape[0])


def resolve_device(name: str | None = "auto") -> torch.device:
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def to_device(split: Split, device: torch.device) -> DeviceSplit:
    return DeviceSplit(
        x_cat=torch.as_tensor(split.x_cat, dtype=torch.int64).to(device),
        x_num=torch.as_tensor(split.x_num, dtype=torch.float32).to(device),
        y=torch.as_tensor(split.y, dtype=torch.float32).to(device),
        group=None if split.group is None else torch.as_tensor(split.group, dtype=torch.int64).to(device),
    )


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
def predict_logits(model: nn.Module, data: DeviceSplit, batch_size: int) -> torch.Tensor:
    was_training = model.training
    model.eval()
    out = [
        model(data.x_cat[i : i + batch_size], data.x_num[i : i + batch_size]).logit
        for i in range(0, len(data), batch_size)
    ]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, device=data.y.device)


def evaluate(model: nn.Module, data: DeviceSplit, batch_size: int = 65_536) -> dict[str, float]:
    logits = predict_logits(model, data, batch_size)
    return evaluate_logits(data.y, logits, data.group)


def _net_squared_norm(model: nn.Module) -> torch.Tensor:
    emb_params = {id(p) for m in embedding_modules(model) for p in m.parameters()}
    return sum(p.pow(2).sum() for p in model.parameters() if id(p) not in emb_params and p.dim() > 1)


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
    train = to_device(dataset.train, device)
    valid = to_device(dataset.valid, device)
    test = to_device(dataset.test, device) if settings.evaluate_test else None
    n = len(train)
    if n == 0:
        raise TrainingError("the train split is empty")

    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    embeddings = embedding_modules(model)
    generator = torch.Generator(device="cpu").manual_seed(settings.seed)
    n_batches = math.ceil(n / settings.batch_size)

    history: list[EpochRecord] = []
    best_value, best_epoch, best_state = -math.inf, 0, None
    bad_epochs = 0
    stopped_early = False
    train_seconds = 0.0
    samples_seen = 0

    for epoch in range(1, settings.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=generator).to(device)
        loss_sum = torch.zeros((), device=device)
        for b in range(n_batches):
            idx = perm[b * settings.batch_size : (b + 1) * settings.batch_size]
            out = model(train.x_cat[idx], train.x_num[idx])
            loss = objective(out, train.y[idx])
            if settings.embedding_regularizer > 0:
                loss = loss + settings.embedding_regularizer / 2 * sum(e.squared_norm() for e in embeddings)
            if settings.net_regularizer > 0:
                loss = loss + settings.net_regularizer / 2 * _net_squared_norm(model)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), settings.clip_norm)
            optimizer.step()
            loss_sum += loss.detach()
            if on_batch is not None:
                on_batch(epoch, b + 1, n_batches, float(loss.detach()))
        train_loss = float(loss_sum) / n_batches
        if not math.isfinite(train_loss):
            raise TrainingError(f"the training loss became {train_loss} in epoch {epoch}")
        samples_seen += n
        epoch_train_seconds = time.perf_counter() - t0
        train_seconds += epoch_train_seconds

        metrics = evaluate(model, valid, settings.eval_batch_size)
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
        record = EpochRecord(epoch, train_loss, metrics, value, lr, time.perf_counter() - t0, improved)
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if bad_epochs >= settings.patience:
            stopped_early = True
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    valid_metrics = history[best_epoch - 1].valid if best_epoch else evaluate(model, valid)
    test_metrics: dict[str, float] = {}
    inference_seconds = None
    if test is not None and len(test):
        t0 = time.perf_counter()
        test_metrics = evaluate(model, test, settings.eval_batch_size)
        inference_seconds = time.perf_counter() - t0
    return TrainResult(
        history=history,
        best_epoch=best_epoch,
        valid=valid_metrics,
        test=test_metrics,
        train_seconds=train_seconds,
        inference_seconds=inference_seconds,
        samples_per_second=samples_seen / train_seconds if train_seconds > 0 else float("nan"),
        stopped_early=stopped_early,
    )
