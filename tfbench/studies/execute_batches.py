"""``tfbench run --seed-batch K``: the planned runs of each cell, K seeds at a time, trained as
one stacked model (:mod:`tfbench.seed_batch_runs`), in this process or in ``jobs`` workers.

Claims, skipping of done runs and failures work per run as in :mod:`tfbench.studies.execute`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Callable

import torch

from tfbench.config import RunConfig
from tfbench.db import ResultStore
from tfbench.seed_batch_runs import MemberOutcome, execute_seed_batch
from tfbench.studies.plan import PlannedRun
from tfbench.workers import end_with_parent

KINDS = {"trained": "done", "skipped": "skipped", "elsewhere": "elsewhere", "failed": "failed"}


def _message(outcome: MemberOutcome) -> str:
    if outcome.kind in ("trained", "skipped"):
        r = outcome.row
        return f"test AUC {r.test_auc:.4f}" if r is not None and r.test_auc is not None else ""
    return outcome.message


def _run_batch(configs: list[dict], study: str, db_url: str, device: str, data_dir: str | None,
               threads: int | None) -> tuple[list[tuple[str, str]], str | None]:
    """Worker entry point: (outcome kind, message) per run, and the reason it was not batched."""
    if threads:
        torch.set_num_threads(threads)
    reasons: list[str] = []
    try:
        outcomes = execute_seed_batch([RunConfig.from_dict(c) for c in configs], ResultStore(db_url), study=study,
                                      device=device, data_dir=data_dir, on_fallback=reasons.append)
    except Exception as e:   # e.g. the dataset failed to load: every run of the batch failed
        return [("failed", f"{type(e).__name__}: {e}")] * len(configs), None
    return [(KINDS[o.kind], _message(o)) for o in outcomes], (reasons[0] if reasons else None)


def run_batches(
    batches: list[list[PlannedRun]],
    store: ResultStore,
    progress,
    *,
    jobs: int = 1,
    device: str = "auto",
    data_dir: str | None = None,
    on_update: Callable | None = None,
    on_epoch: Callable[[PlannedRun, object], None] | None = None,
    on_note: Callable[[str], None] | None = None,
):
    """Train each batch (runs of one cell that differ only in the seed); counts go to ``progress``."""

    def report(batch: list[PlannedRun], results: list[tuple[str, str]], reason: str | None) -> None:
        if reason and on_note:
            on_note(f"{batch[0].describe()}: trained one seed at a time: {reason}")
        for item, (kind, msg) in zip(batch, results):
            progress.counts[kind] += 1
            if on_update:
                on_update(progress, item, kind, msg)

    def started(batch):
        if on_update:
            for item in batch:
                on_update(progress, item, "running", "")

    if jobs <= 1:
        for batch in batches:
            started(batch)
            reasons: list[str] = []
            try:
                outcomes = execute_seed_batch(
                    [item.config for item in batch], store, study=batch[0].study, device=device,
                    data_dir=data_dir, on_fallback=reasons.append,
                    on_epoch=(lambda i, rec, b=batch: on_epoch(b[i], rec)) if on_epoch else None)
                results = [(KINDS[o.kind], _message(o)) for o in outcomes]
            except KeyboardInterrupt:
                raise
            except Exception as e:
                results = [("failed", f"{type(e).__name__}: {e}")] * len(batch)
            report(batch, results, reasons[0] if reasons else None)
        return progress

    threads = None if device.startswith("cuda") else max(1, (os.cpu_count() or 1) // jobs)
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"), initializer=end_with_parent,
                               initargs=(os.getpid(),))
    try:
        pending = {}
        queue = list(batches)
        while queue or pending:
            while queue and len(pending) < jobs:
                batch = queue.pop(0)
                fut = pool.submit(_run_batch, [item.config.to_dict() for item in batch], batch[0].study,
                                  store.url, device, data_dir, threads)
                pending[fut] = batch
                started(batch)
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                batch = pending.pop(fut)
                try:
                    results, reason = fut.result()
                except Exception as e:   # a worker died (e.g. out of memory)
                    results, reason = [("failed", f"worker died: {type(e).__name__}: {e}")] * len(batch), None
                report(batch, results, reason)
    except BaseException:
        from tfbench.studies.execute import _stop_workers
        _stop_workers(pool)
        raise
    pool.shutdown(wait=True)
    return progress
