"""Running a planned study: skip what is done, run the rest, survive failures and interruptions.

Resumability and concurrency come from the results database: each run is claimed atomically by
its content key (see ``ResultStore.claim``), so a second ``tfbench run`` on the same database, or
a rerun after Ctrl-C / SIGKILL, never trains a run twice and never loses one. ``jobs > 1`` runs
that many runs at once in worker processes, each claiming runs the same way.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable

import torch

from tfbench.config import RunConfig, run_key
from tfbench.data.types import EncodedDataset
from tfbench.db import ResultStore, RunInProgress
from tfbench.runner import execute_run, load_for
from tfbench.studies.plan import PlannedRun
from tfbench.workers import end_with_parent

# outcome kinds
DONE, SKIPPED, FAILED, ELSEWHERE = "done", "skipped", "failed", "elsewhere"


@dataclass
class StudyProgress:
    total: int
    counts: Counter = field(default_factory=Counter)

    @property
    def left(self) -> int:
        return self.total - sum(self.counts.values())


def plan_keys(plan: list[PlannedRun], data_dir: str | None = None) -> list[str]:
    """Content keys of every planned run (loads each dataset once, through the cache)."""
    datasets: dict[tuple, EncodedDataset] = {}
    keys = []
    for item in plan:
        c = item.config
        dkey = (c.dataset, c.min_count, c.split_seed, c.synthetic_rows if c.dataset == "synthetic" else None)
        if dkey not in datasets:
            datasets[dkey] = load_for(c, data_dir)
        keys.append(run_key(datasets[dkey].fingerprint, c))
    return keys


def register(store: ResultStore, plan: list[PlannedRun], keys: list[str]) -> None:
    by_study: dict[str, list[dict]] = {}
    for item, key in zip(plan, keys):
        by_study.setdefault(item.study, []).append(
            dict(key=key, dataset=item.dataset, cell=item.cell_dict, seed=item.seed, quick=item.config.quick)
        )
    for study, entries in by_study.items():
        store.link_study(study, entries)


def _run_one(config: dict, study: str, db_url: str, device: str, data_dir: str | None, threads: int | None) -> tuple[str, str]:
    """Worker entry point: returns (outcome, message)."""
    if threads:
        torch.set_num_threads(threads)
    store = ResultStore(db_url)
    cfg = RunConfig.from_dict(config)
    try:
        outcome = execute_run(cfg, store, study=study, device=device, data_dir=data_dir)
    except RunInProgress as e:
        return ELSEWHERE, str(e)
    except Exception as e:  # recorded as failed by execute_run
        return FAILED, f"{type(e).__name__}: {e}"
    r = outcome.row
    return (DONE if outcome.trained else SKIPPED), f"test AUC {r.test_auc:.4f}" if r.test_auc is not None else ""


def _stop_workers(pool: ProcessPoolExecutor) -> list[int]:
    """Kill the pool's workers now and wait for them (none is left behind); returns their pids."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for proc in procs:
        if proc.is_alive():
            proc.kill()
    for proc in procs:
        proc.join(timeout=10)
    pool.shutdown(wait=False, cancel_futures=True)
    return [p.pid for p in procs if p.pid is not None]


def run_plan(
    plan: list[PlannedRun],
    keys: list[str],
    store: ResultStore,
    *,
    jobs: int = 1,
    device: str = "auto",
    data_dir: str | None = None,
    on_update: Callable[[StudyProgress, PlannedRun | None, str, str], None] | None = None,
    on_epoch: Callable[[PlannedRun, object], None] | None = None,
    seed_batch: int = 1,
    on_note: Callable[[str], None] | None = None,
    ray=None,
) -> StudyProgress:
    """Run every planned run whose key is not yet done. Failures are recorded and counted, not raised.

    ``seed_batch`` > 1 trains the runs of each cell that differ only in the seed that many at a
    time as one stacked model (tfbench.studies.execute_batches); ``on_note`` hears why a cell
    was trained one seed at a time instead. ``ray`` (tfbench.cluster.RayOptions): run them as
    tasks on that Ray cluster instead of here (one run per task; not with ``seed_batch``)."""
    progress = StudyProgress(total=len(plan))
    done = store.done_keys(keys)
    todo, todo_keys = [], []
    for item, key in zip(plan, keys):
        if key in done:
            progress.counts[SKIPPED] += 1
        else:
            todo.append(item)
            todo_keys.append(key)
    if on_update:
        on_update(progress, None, "", "")

    if ray is not None:
        from tfbench.cluster import run_todo_on_ray

        def report(item, kind, msg):
            if kind != "running":
                progress.counts[kind] += 1
            if on_update:
                on_update(progress, item, kind, msg)

        run_todo_on_ray(todo, store.url, ray, device, data_dir, report)
        return progress

    if seed_batch > 1:
        from tfbench.studies.execute_batches import run_batches
        from tfbench.studies.plan import seed_batches

        return run_batches(seed_batches(todo, seed_batch), store, progress, jobs=jobs, device=device,
                           data_dir=data_dir, on_update=on_update, on_epoch=on_epoch, on_note=on_note)
    if jobs <= 1:
        for item in todo:
            if on_update:
                on_update(progress, item, "running", "")
            try:
                outcome = execute_run(
                    item.config, store, study=item.study, device=device, data_dir=data_dir,
                    on_epoch=(lambda rec, it=item: on_epoch(it, rec)) if on_epoch else None,
                )
                kind = DONE if outcome.trained else SKIPPED
                msg = f"test AUC {outcome.row.test_auc:.4f}" if outcome.row.test_auc is not None else ""
            except RunInProgress as e:
                kind, msg = ELSEWHERE, str(e)
            except KeyboardInterrupt:
                raise
            except Exception as e:
                kind, msg = FAILED, f"{type(e).__name__}: {e}"
            progress.counts[kind] += 1
            if on_update:
                on_update(progress, item, kind, msg)
        return progress

    # Several runs at once in spawned workers; the CPU threads are shared out between them.
    threads = None if device.startswith("cuda") else max(1, (os.cpu_count() or 1) // jobs)
    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=end_with_parent, initargs=(os.getpid(),))
    pending: dict = {}
    try:
        queue = list(zip(todo, todo_keys))
        while queue or pending:
            while queue and len(pending) < jobs:
                item, key = queue.pop(0)
                fut = pool.submit(_run_one, item.config.to_dict(), item.study, store.url, device, data_dir, threads)
                pending[fut] = (item, key)
                if on_update:
                    on_update(progress, item, "running", "")
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                item, _key = pending.pop(fut)
                try:
                    kind, msg = fut.result()
                except Exception as e:  # a worker died (e.g. out of memory)
                    kind, msg = FAILED, f"worker died: {type(e).__name__}: {e}"
                progress.counts[kind] += 1
                if on_update:
                    on_update(progress, item, kind, msg)
    except BaseException as e:
        # Interrupted (Ctrl-C, SIGTERM, an error here): stop the workers now rather than wait for
        # their runs to end. On an interruption their runs are stored as interrupted (resumable);
        # otherwise they stay claimed by dead processes, which the next `tfbench run` takes over,
        # as after a SIGKILL.
        pids = _stop_workers(pool)
        if isinstance(e, KeyboardInterrupt):
            e.run_keys = store.interrupt_abandoned([key for _item, key in pending.values()], pids)
        raise
    pool.shutdown(wait=True)
    return progress
