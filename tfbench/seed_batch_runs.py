"""Several runs that differ only in their seed, trained as one stacked model and stored as
separate runs (``tfbench run --seed-batch K``; see :mod:`tfbench.train.seed_batch`).

Each member is claimed, recorded (epochs, final metrics) and finished under its own key, exactly
as :func:`tfbench.runner.execute_run` stores a sequential run; nothing in the key says how it
was trained (the row's ``metrics`` JSON notes the batch). When the runs cannot be batched (see
``settings_reason``, ``probe_reason``), they are trained one by one with ``execute_run``, and
the reason is passed to ``on_fallback``.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Callable

import torch

from tfbench.config import RunConfig, run_key
from tfbench.data.types import EncodedDataset
from tfbench.db import ResultStore, RunInProgress, RunRow
from tfbench.db.store import RunIdentity
from tfbench.losses import make_objective
from tfbench.models import count_parameters
from tfbench.runner import build_for, execute_run, load_for, train_settings
from tfbench.train import TrainingError, resolve_device, seed_everything
from tfbench.train.placement import HostSplit, place_splits
from tfbench.train.seed_batch import fit_seed_batch, probe_reason, settings_reason


@dataclass
class MemberOutcome:
    """One run of the batch: ``trained`` (here), ``skipped`` (already done), ``elsewhere``
    (another live process holds it) or ``failed`` (with its error)."""

    kind: str
    row: RunRow | None
    message: str = ""


def seed_batch_key(cfg: RunConfig) -> tuple:
    """Runs with equal keys here differ at most in their seed (and can share a batch)."""
    d = cfg.to_dict()
    d.pop("seed")
    return tuple(sorted((k, repr(v)) for k, v in d.items()))


def execute_seed_batch(
    cfgs: list[RunConfig],
    store: ResultStore,
    *,
    study: str | None = None,
    device: str | None = "auto",
    data_dir: str | None = None,
    cache_dir: str | None = None,
    on_fallback: Callable[[str], None] | None = None,
    on_epoch: Callable[[int, object], None] | None = None,
) -> list[MemberOutcome]:
    """Train the runs ``cfgs`` (the same but for the seed) together; one outcome per config.

    ``on_epoch(i, record)`` receives run i's epoch records."""
    if len({seed_batch_key(c) for c in cfgs}) != 1:
        raise ValueError("a seed batch takes runs that differ only in their seed")
    dataset = load_for(cfgs[0], data_dir, cache_dir)
    dev = resolve_device(device)
    reason = settings_reason([train_settings(c) for c in cfgs]) if len(cfgs) > 1 else "one run"
    placed = models = objective = None
    if reason is None:
        objective = make_objective(cfgs[0].resolved_loss, **cfgs[0].loss_hyperparameters())
        models = _build_members(cfgs, dataset, dev)
        placed = place_splits(dataset, train_settings(cfgs[0]), dev)
        if isinstance(placed["train"], HostSplit):
            reason = "the train split does not fit on the device"
        else:
            reason = probe_reason(models, objective, train_settings(cfgs[0]), placed["train"], dev)
    if reason is not None:
        if on_fallback is not None and len(cfgs) > 1:
            on_fallback(reason)
        return [_sequential(c, i, store, study, device, data_dir, cache_dir, dataset, on_epoch)
                for i, c in enumerate(cfgs)]
    return _batched(cfgs, models, objective, dataset, placed, dev, store, study, on_epoch)


def _build_members(cfgs: list[RunConfig], dataset: EncodedDataset, dev: torch.device) -> list[torch.nn.Module]:
    models = []
    for c in cfgs:
        seed_everything(c.seed)   # as execute_run: the same seed gives the same initial weights
        models.append(build_for(c, dataset).to(dev))
    return models


def _sequential(cfg, i, store, study, device, data_dir, cache_dir, dataset, on_epoch) -> MemberOutcome:
    try:
        outcome = execute_run(cfg, store, study=study, device=device, data_dir=data_dir, cache_dir=cache_dir,
                              dataset=dataset, on_epoch=(lambda rec: on_epoch(i, rec)) if on_epoch else None)
    except RunInProgress as e:
        return MemberOutcome("elsewhere", None, str(e))
    except KeyboardInterrupt:
        raise
    except Exception as e:   # recorded as failed by execute_run
        return MemberOutcome("failed", None, f"{type(e).__name__}: {e}")
    return MemberOutcome("trained" if outcome.trained else "skipped", outcome.row)


def _batched(cfgs, models, objective, dataset, placed, dev, store, study, on_epoch) -> list[MemberOutcome]:
    outcomes: list[MemberOutcome | None] = [None] * len(cfgs)
    claimed: list[int] = []
    rows: dict[int, RunRow] = {}
    for i, c in enumerate(cfgs):
        key = run_key(dataset.fingerprint, c)
        existing = store.get_by_key(key)
        if existing is not None and existing.status == "done":
            outcomes[i] = MemberOutcome("skipped", existing)
            continue
        ident = RunIdentity(key=key, study=study, dataset=c.dataset, dataset_fingerprint=dataset.fingerprint,
                            model=c.model, loss=c.resolved_loss, seed=c.seed, config=c.to_dict())
        try:
            row = store.claim(ident)
        except RunInProgress as e:
            outcomes[i] = MemberOutcome("elsewhere", None, str(e))
            continue
        if row is None:   # finished by someone else in the meantime
            outcomes[i] = MemberOutcome("skipped", store.get_by_key(key))
            continue
        claimed.append(i)
        rows[i] = row
    if not claimed:
        return outcomes

    members = [models[i] for i in claimed]
    try:
        for i in claimed:
            store.set_info(rows[i].id, device=str(dev), torch_version=torch.__version__,
                           num_params=count_parameters(models[i]), threads=torch.get_num_threads())

        def hook(i):
            def record(rec):
                store.add_epoch(rows[i].id, rec)
                if on_epoch is not None:
                    on_epoch(i, rec)
            return record

        batch = fit_seed_batch(members, dataset, objective, [train_settings(cfgs[i]) for i in claimed], dev,
                               on_epoch=[hook(i) for i in claimed], placed=placed)
    except KeyboardInterrupt:   # resumable, as a sequential run
        for i in claimed:
            store.interrupt(rows[i].id)
        raise
    except Exception as e:   # the whole batch failed: each member is recorded as failed
        error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=5)}"
        for i in claimed:
            store.fail(rows[i].id, error)
            outcomes[i] = MemberOutcome("failed", None, f"{type(e).__name__}: {e}")
        return outcomes
    seeds = [cfgs[i].seed for i in claimed]
    for i, result in zip(claimed, batch.results):
        if isinstance(result, TrainingError):
            store.fail(rows[i].id, f"TrainingError: {result}")
            outcomes[i] = MemberOutcome("failed", None, f"TrainingError: {result}")
            continue
        result.seed_batch = {"members": batch.members, "seeds": seeds}
        outcomes[i] = MemberOutcome("trained", store.finish(rows[i].id, result))
    return outcomes
