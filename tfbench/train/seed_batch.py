"""Training the seeds of one cell as one stacked model (``tfbench run --seed-batch K``).

:func:`fit_seed_batch` trains K models that differ only in their seed, as
:func:`tfbench.train.loop.fit` trains each of them, but in one process and one stacked model
(:class:`tfbench.train.stacked.StackedMembers`). Per member, as in its sequential run:

* its initial weights: the caller builds each member as the sequential run builds its model
  (``seed_everything(seed)`` then ``build_model``), and only then are they stacked;
* its batch order: its own ``torch.Generator`` seeded with its seed draws its permutations, so
  member k sees the same batches in the same order as its sequential run;
* its batch-norm statistics, gradient clipping, Adam state, learning-rate decay, patience and
  best weights (restored before its test evaluation, which runs on the member's own model
  exactly as in the sequential run).

What differs: dropout masks (and VF's Gumbel noise) are drawn per member from the global
generator under ``vmap(randomness="different")``, not from the stream the sequential run would
have used, so with dropout a member's losses match its sequential run's only in distribution.
Without random layers the first epoch's losses match to float rounding (tests/test_seed_batch.py).

The wall time of a batched epoch is shared among its members: each member's recorded seconds
are the batch's seconds divided by the number of members training in it, so that the members'
times add up to the wall time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from tfbench.data.types import EncodedDataset
from tfbench.losses import Objective
from tfbench.train.errors import TrainingError
from tfbench.train.loop import (
    EpochRecord,
    TrainResult,
    check_monitor_defined,
    final_metrics,
    finite_logits,
    monitor_value,
    score,
    seed_everything,
)
from tfbench.train.placement import DeviceSplit, HostSplit, place_splits
from tfbench.train.settings import TrainSettings
from tfbench.train.stacked import StackedMembers, load_member_state


@dataclass
class SeedBatchResult:
    """Per member (in the order given): its result, or the error that ended it alone."""

    results: list[TrainResult | TrainingError]
    members: int


def settings_reason(settings: list[TrainSettings]) -> str | None:
    """Why these runs cannot be trained as one stacked model (None: they can)."""
    first = settings[0].model_dump(exclude={"seed"})
    for s in settings[1:]:
        if s.model_dump(exclude={"seed"}) != first:
            return "the runs' training settings differ in more than the seed"
    if len({s.seed for s in settings}) != len(settings):
        return "two runs have the same seed"
    s = settings[0]
    if s.record_bands or s.record_grad_steps or s.time_inference_passes:
        return "runs that record bands, gradient steps or timings are trained one by one"
    return None


def probe_reason(models: list[nn.Module], objective: Objective, settings: TrainSettings,
                 train: DeviceSplit, device: torch.device) -> str | None:
    """Try one stacked training step on copies of the members (a few rows), and compare the
    stacked evaluation-mode predictions of fresh copies with each member's own; the reason this
    fails, or None. Catches models that vmap cannot map (data-dependent control flow, host syncs)
    or maps wrongly."""
    rows = min(len(train), 64)
    try:
        probe = StackedMembers(models, objective, learning_rate=settings.learning_rate,
                               embedding_regularizer=settings.embedding_regularizer,
                               net_regularizer=settings.net_regularizer, clip_norm=settings.clip_norm)
        k = probe.size
        idx = torch.arange(rows, device=device)
        probe.step(*(t[idx].unsqueeze(0).expand(k, *t[idx].shape) for t in (train.x_cat, train.x_num, train.y)))
        probe.predict(train.x_cat[idx], train.x_num[idx])
        fresh = StackedMembers(models, objective, learning_rate=settings.learning_rate, embedding_regularizer=0.0,
                               net_regularizer=0.0, clip_norm=settings.clip_norm)
        stacked = fresh.predict(train.x_cat[idx], train.x_num[idx])
        with torch.no_grad():
            for i, model in enumerate(models):   # the stacked model must compute each member's function
                was_training = model.training
                model.eval()
                own = model(train.x_cat[idx], train.x_num[idx]).logit
                model.train(was_training)
                if not torch.allclose(stacked[i], own, rtol=1e-4, atol=1e-5):
                    return "the stacked model's predictions differ from the member's own"
    except Exception as e:  # any failure means: train these one by one
        return f"the model cannot be trained stacked ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
    return None


@dataclass
class _Member:
    index: int                      # position in the caller's lists
    settings: TrainSettings
    generator: torch.Generator      # its permutation stream, as in its sequential run
    history: list[EpochRecord]
    best_value: float = -math.inf
    best_epoch: int = 0
    best_state: dict | None = None
    bad_epochs: int = 0
    lr: float = 0.0
    train_seconds: float = 0.0
    samples_seen: int = 0
    stopped_early: bool = False
    error: TrainingError | None = None


def fit_seed_batch(
    models: list[nn.Module],
    dataset: EncodedDataset,
    objective: Objective,
    settings: list[TrainSettings],
    device: torch.device,
    on_epoch: list[Callable[[EpochRecord], None] | None] | None = None,
    placed: dict | None = None,
) -> SeedBatchResult:
    """Train ``models[k]`` with ``settings[k]`` (the same but for the seed) as one stacked model.

    The caller checks :func:`settings_reason` and :func:`probe_reason` first. ``on_epoch[k]``
    receives member k's epoch records. Each model ends with its member's best weights."""
    k_total = len(models)
    s = settings[0]
    placed = placed or place_splits(dataset, s, device)
    train, valid, test = placed["train"], placed["valid"], placed.get("test")
    if isinstance(train, HostSplit):
        raise TrainingError("a seed batch needs the train split on the device")
    n = len(train)
    if n == 0:
        raise TrainingError("the train split is empty")
    check_monitor_defined(valid, s.monitor)
    for m in models:
        m.to(device)
    seed_everything(s.seed)   # dropout draws: from the global stream (see the module docstring)
    stack = StackedMembers(models, objective, learning_rate=s.learning_rate,
                           embedding_regularizer=s.embedding_regularizer, net_regularizer=s.net_regularizer,
                           clip_norm=s.clip_norm)
    members = [_Member(i, st, torch.Generator(device="cpu").manual_seed(st.seed), [], lr=st.learning_rate)
               for i, st in enumerate(settings)]
    hooks = on_epoch or [None] * k_total
    active = list(members)   # in stack order
    batches_per_pass = math.ceil(n / s.batch_size)
    n_batches = s.eval_steps or batches_per_pass
    perms: torch.Tensor | None = None
    pass_batch = batches_per_pass   # the next batch within the current pass (a new pass starts at once)

    for epoch in range(1, s.epochs + 1):
        t0 = time.perf_counter()
        loss_sum = torch.zeros(len(active), device=device)
        for _ in range(n_batches):
            if pass_batch == batches_per_pass:   # each member draws its next permutation
                perms = torch.stack([torch.randperm(n, generator=m.generator) for m in active]).to(device)
                pass_batch = 0
            idx = perms[:, pass_batch * s.batch_size: (pass_batch + 1) * s.batch_size]
            pass_batch += 1
            loss_sum += stack.step(train.x_cat[idx], train.x_num[idx], train.y[idx])
            for m in active:
                m.samples_seen += idx.shape[1]
        train_losses = [x / n_batches for x in loss_sum.tolist()]   # one host copy per epoch
        epoch_train_seconds = time.perf_counter() - t0
        logits = _predict(stack, valid, s.eval_batch_size)
        seconds = time.perf_counter() - t0
        keep = []
        for row, m in enumerate(active):
            m.train_seconds += epoch_train_seconds / len(active)
            try:
                if not math.isfinite(train_losses[row]):
                    raise TrainingError(f"the training loss became {train_losses[row]} in epoch {epoch}")
                metrics = score(valid, finite_logits(logits[row], "valid", epoch))
            except TrainingError as e:
                m.error = e
                continue
            value = monitor_value(metrics, s.monitor)
            improved = value > m.best_value + 1e-6   # FuxiCTR's rule, as in fit
            lr = m.lr
            if improved:
                m.best_value, m.best_epoch, m.bad_epochs = value, epoch, 0
                m.best_state = stack.member_state(row)
            else:
                m.bad_epochs += 1
                m.lr = max(m.lr * s.lr_decay, s.min_lr)
            record = EpochRecord(epoch, train_losses[row], metrics, value, lr, seconds / len(active), improved,
                                 epoch_train_seconds / len(active))
            m.history.append(record)
            if hooks[m.index] is not None:
                hooks[m.index](record)
            if m.bad_epochs >= s.patience:
                m.stopped_early = True
                if m.best_state is None:
                    m.best_state = stack.member_state(row)
            else:
                keep.append(row)
        if len(keep) < len(active):
            for row, m in enumerate(active):   # a leaving member keeps its last weights if none was best
                if row not in keep and m.best_state is None:
                    m.best_state = stack.member_state(row)
            stack.keep(keep)
            active = [active[row] for row in keep]
            perms = perms[keep] if keep else perms
        if not active:
            break
        stack.set_learning_rates([m.lr for m in active])
    for row, m in enumerate(active):   # the epoch budget ran out
        if m.best_state is None:
            m.best_state = stack.member_state(row)

    results: list[TrainResult | TrainingError] = []
    for m, model in zip(members, models):
        if m.error is not None:
            results.append(m.error)
            continue
        load_member_state(model, m.best_state)
        try:
            results.append(_finish(model, m, valid, test, s))
        except TrainingError as e:
            results.append(e)
    return SeedBatchResult(results, k_total)


def _predict(stack: StackedMembers, data: DeviceSplit, batch_size: int) -> torch.Tensor:
    parts = [stack.predict(data.x_cat[i: i + batch_size], data.x_num[i: i + batch_size])
             for i in range(0, len(data), batch_size)]
    return torch.cat(parts, dim=1) if parts else torch.empty(stack.size, 0, device=data.y.device)


def _finish(model: nn.Module, m: _Member, valid, test, s: TrainSettings) -> TrainResult:
    """The member's final metrics from its own model with its best weights, as fit computes them."""
    valid_metrics, test_metrics, inference_seconds = final_metrics(model, m.history, m.best_epoch, valid, test,
                                                                   s.eval_batch_size)
    return TrainResult(
        history=m.history, best_epoch=m.best_epoch, valid=valid_metrics, test=test_metrics,
        train_seconds=m.train_seconds, inference_seconds=inference_seconds,
        samples_per_second=m.samples_seen / m.train_seconds if m.train_seconds > 0 else float("nan"),
        stopped_early=m.stopped_early,
    )
