"""One run, end to end: config → dataset → model → fit → results database.

This is the only place where the stages meet; the CLI (and later the study runner and the
tuner) call ``execute_run``.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Callable

import torch

from tfbench.config import RunConfig, run_key
from tfbench.data import load_dataset
from tfbench.data.types import EncodedDataset
from tfbench.db import ResultStore, RunRow
from tfbench.db.store import RunIdentity
from tfbench.losses import make_objective
from tfbench.models import build_model, count_parameters
from tfbench.train import EpochRecord, TrainSettings, fit, resolve_device, seed_everything
from tfbench.train.record import describe_device


class RunPruned(Exception):
    """Raised by an ``on_epoch`` hook (the tuner's pruner) to stop a run early; the run is
    recorded as ``pruned``, not ``failed``."""

    def __init__(self, epoch: int, reason: str = ""):
        super().__init__(reason or f"pruned after epoch {epoch}")
        self.epoch = epoch


@dataclass
class RunOutcome:
    row: RunRow
    trained: bool           # False when an identical done run was found and reused
    dataset: EncodedDataset


def train_settings(cfg: RunConfig) -> TrainSettings:
    return cfg.train


def load_for(cfg: RunConfig, data_dir: str | None = None, cache_dir: str | None = None) -> EncodedDataset:
    return load_dataset(
        cfg.dataset, data_dir=data_dir, cache_dir=cache_dir, min_count=cfg.min_count,
        split_seed=cfg.split_seed, synthetic_rows=cfg.synthetic_rows,
    )


def build_for(cfg: RunConfig, dataset: EncodedDataset) -> torch.nn.Module:
    layout = dataset.field_layout() if dataset.has_sequences else None
    return build_model(
        cfg.model, dataset.vocab_sizes, len(dataset.numeric_fields), layout=layout,
        settings=cfg.model_settings, plugin=cfg.plugin,
    )


def execute_run(
    cfg: RunConfig,
    store: ResultStore,
    *,
    study: str | None = None,
    force: bool = False,
    device: str | None = "auto",
    data_dir: str | None = None,
    cache_dir: str | None = None,
    dataset: EncodedDataset | None = None,
    on_start: Callable[[RunRow, int], None] | None = None,
    on_batch: Callable[[int, int, int, float], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    run_info: dict | None = None,
) -> RunOutcome:
    """Train ``cfg`` unless an identical run is already ``done``; record everything in ``store``.

    ``run_info`` adds columns to the run's row when it is trained here (the tuner's Optuna study
    and trial number)."""
    dataset = dataset or load_for(cfg, data_dir, cache_dir)
    key = run_key(dataset.fingerprint, cfg)
    ident = RunIdentity(
        key=key, study=study, dataset=cfg.dataset, dataset_fingerprint=dataset.fingerprint,
        model=cfg.model, loss=cfg.resolved_loss, seed=cfg.seed, config=cfg.to_dict(),
    )
    if not force:
        existing = store.get_by_key(key)
        if existing is not None and existing.status == "done":
            return RunOutcome(existing, trained=False, dataset=dataset)
    row = store.claim(ident, force=force)
    if row is None:  # finished by someone else in the meantime
        return RunOutcome(store.get_by_key(key), trained=False, dataset=dataset)

    try:
        dev = resolve_device(device)
        seed_everything(cfg.seed)  # the same seed gives the same initial weights
        model = build_for(cfg, dataset)
        objective = make_objective(cfg.resolved_loss, **cfg.loss_hyperparameters())
        n_params = count_parameters(model)
        # a run that records timings names the CPU model or CUDA device they were taken on (Table IX)
        named = describe_device(dev) if cfg.train.time_inference_passes else str(dev)
        store.set_info(row.id, device=named, torch_version=torch.__version__, num_params=n_params,
                       threads=torch.get_num_threads(), **(run_info or {}))
        if on_start is not None:
            on_start(row, n_params)

        def epoch_hook(record: EpochRecord) -> None:
            store.add_epoch(row.id, record)
            if on_epoch is not None:
                on_epoch(record)

        with store.beating(row.id):  # alive however long an epoch takes (tfbench/db/liveness.py)
            result = fit(model, dataset, objective, train_settings(cfg), dev, on_batch=on_batch, on_epoch=epoch_hook)
    except KeyboardInterrupt as e:   # Ctrl-C, or SIGTERM turned into it by the CLI: resumable, not failed
        store.interrupt(row.id)
        e.run_keys = [key]  # for the CLI's one line
        raise
    except RunPruned as e:
        store.prune(row.id, str(e))
        raise
    except Exception as e:  # recorded, then re-raised for the caller to report
        store.fail(row.id, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=5)}")
        e.run_key = key  # for the CLI's one line
        raise
    return RunOutcome(store.finish(row.id, result), trained=True, dataset=dataset)
