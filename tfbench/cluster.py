"""Runs and tuning trials as tasks on a Ray cluster (``--executor ray``; ``pip install tfbench[ray]``).

Ray only places work: each task opens the study's database URL and claims its run key exactly as
a local worker does (``tfbench.studies.execute._run_one``, ``ResultStore.claim``), so a run is
never trained twice, whether a task is retried after its worker died (``max_retries``; the retry
takes the dead claim over), or a local command works on the same database at the same time. Ray
is imported here only, when the Ray executor is asked for; the local executor needs nothing new.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from tfbench.errors import ConfigError

EXECUTORS = ("local", "ray")
# A task whose worker process died (killed, out of memory, a node lost) is run again this often.
MAX_RETRIES = 3
# Environment every task must share with the driver: the liveness limits (tfbench/db/liveness.py).
SHARED_ENV = ("TFBENCH_HEARTBEAT_SECONDS", "TFBENCH_STALE_BEATS")


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None     # None: start a Ray instance on this machine; "auto": join the local cluster
    gpus_per_run: float = 0.0
    cpus_per_run: int = 1

    def __post_init__(self):
        if self.gpus_per_run < 0:
            raise ConfigError(f"--gpus-per-run must be >= 0, got {self.gpus_per_run}")
        if self.cpus_per_run < 1:
            raise ConfigError(f"--cpus-per-run must be >= 1, got {self.cpus_per_run}")


def check_executor(executor: str, db_url: str) -> None:
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}, got '{executor}'")
    if executor == "ray" and db_url.startswith("sqlite") and ":memory:" in db_url:
        raise ConfigError("--executor ray needs a database the tasks can open: not an in-memory SQLite")


def connect(opts: RayOptions):
    """The ``ray`` module, connected to the cluster of ``opts.address``."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'tfbench[ray]'") from None
    if not ray.is_initialized():
        env = {k: os.environ[k] for k in SHARED_ENV if k in os.environ}
        ray.init(address=opts.address, include_dashboard=False, configure_logging=False,
                 runtime_env={"env_vars": env} if env else None)
    return ray


def _task_resources(opts: RayOptions, device: str, retries: int = MAX_RETRIES) -> tuple[dict, int | None]:
    gpus = opts.gpus_per_run if device != "cpu" else 0.0
    threads = None if gpus > 0 else opts.cpus_per_run
    return dict(num_cpus=opts.cpus_per_run, num_gpus=gpus, max_retries=retries), threads


def run_todo_on_ray(todo, db_url: str, opts: RayOptions, device: str, data_dir: str | None,
                    report: Callable[[object, str, str], None]) -> None:
    """Submit every run of ``todo`` (PlannedRun) as a task; ``report(item, kind, msg)`` as each
    ends, with the same kinds as the local executor. Ctrl-C cancels the tasks: a run in training
    is interrupted (resumable), the others never start."""
    from tfbench.studies.execute import FAILED, _run_one

    ray = connect(opts)
    resources, threads = _task_resources(opts, device)
    # On a GPU task Ray sets CUDA_VISIBLE_DEVICES; "auto" then picks that GPU.
    task = ray.remote(**resources)(_run_one)
    pending = {}
    for item in todo:
        pending[task.remote(item.config.to_dict(), item.study, db_url, device, data_dir, threads)] = item
        report(item, "running", "")
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                item = pending.pop(ref)
                try:
                    kind, msg = ray.get(ref)
                except ray.exceptions.RayError as e:  # the worker died more than MAX_RETRIES times
                    kind, msg = FAILED, f"worker died: {type(e).__name__}: {str(e).splitlines()[0]}"
                report(item, kind, msg)
    except BaseException:
        for ref in pending:
            ray.cancel(ref)  # KeyboardInterrupt inside a running task: its run is stored as interrupted
        ray.wait(list(pending), num_returns=len(pending), timeout=30)
        raise


def tune_on_ray(worker: Callable, req, quotas: list[int], opts: RayOptions) -> list[dict]:
    """Run ``worker(req, n_trials, threads, prefix)`` (the tuner's worker) as one task per quota;
    all of them share the study in the RDB storage. Returns each task's trial states. Not retried:
    a retried task would run its whole quota again; the trial of a dead task is failed by Optuna's
    heartbeat and retried by the study's failed-trial callback instead (tfbench/tune/storage.py)."""
    ray = connect(opts)
    resources, threads = _task_resources(opts, req.device, retries=0)
    task = ray.remote(**resources)(worker)
    refs = [task.remote(req, q, threads, f"[ray task {i}] ") for i, q in enumerate(quotas)]
    try:
        return ray.get(refs)
    except BaseException:
        for ref in refs:
            ray.cancel(ref)
        raise
