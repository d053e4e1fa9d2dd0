"""Hyperparameter tuning with Optuna; every trial is a tfbench run in the same database.

* The objective is the validation monitor of the trial's run at its best epoch (AUC, gAUC or
  AUC+gAUC). Trial runs carry ``evaluate_test = False``: the test split is never evaluated while
  tuning, so selection cannot peek at it; the exported study then trains the best configuration
  with the test split, over five seeds.
* Pruning: every epoch reports the validation objective to the trial; a pruned trial's run is
  stored as ``pruned`` (not ``failed``) and its Optuna trial as PRUNED.
* The study is named, lives in the results database, and continues when the same command runs
  again (a study made with another dataset, model, space or objective is refused).
* ``jobs`` workers are spawned processes sharing the study through the database; the requested
  trials are shared out between them so that exactly ``trials`` trials run. A worker killed
  mid-trial is detected by Optuna's heartbeat; its trial becomes FAIL and is retried with the
  same parameters by the next worker that starts a trial.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from tfbench.config import RunConfig
from tfbench.errors import ConfigError
from tfbench.tune.export import BestTrial, best_trial, export_study  # re-exported: they were defined here
from tfbench.tune.space import SearchSpace, load_space

SAMPLERS = ("tpe", "grid", "random")
PRUNERS = ("median", "hyperband", "none")
OBJECTIVES = ("AUC", "gAUC", "AUC+gAUC")
# What must match for a `tune` command to continue an existing study.
IDENTITY_ATTRS = ("dataset", "model", "space_fingerprint", "objective", "base_key")


@dataclass(frozen=True)
class TuneRequest:
    name: str
    base: RunConfig                  # dataset, model and every fixed setting; trial parameters go on top
    space: SearchSpace
    trials: int = 20
    timeout: float | None = None     # seconds, per worker
    sampler: str = "tpe"
    pruner: str = "median"
    jobs: int = 1
    objective: str = "AUC"
    heartbeat_s: int = 60
    start_from_base: bool = False    # the first trial evaluates the base configuration itself
    db_url: str | None = None
    device: str = "auto"
    data_dir: str | None = None
    ray: Any = None                  # tfbench.cluster.RayOptions: the workers as tasks on a Ray cluster

    def validate(self) -> None:
        if self.trials < 1:
            raise ConfigError(f"--trials must be >= 1, got {self.trials}")
        if self.jobs < 1:
            raise ConfigError(f"--jobs must be >= 1, got {self.jobs}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"--sampler must be one of {', '.join(SAMPLERS)}, got '{self.sampler}'")
        if self.pruner not in PRUNERS:
            raise ConfigError(f"--pruner must be one of {', '.join(PRUNERS)}, got '{self.pruner}'")
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"--objective must be one of {', '.join(OBJECTIVES)}, got '{self.objective}'")
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError(f"--timeout must be > 0 seconds, got {self.timeout}")
        if self.heartbeat_s < 1:
            raise ConfigError(f"--heartbeat must be >= 1 second, got {self.heartbeat_s}")
        if self.space.models and self.base.model not in self.space.models:
            raise ConfigError(
                f"{self.space.path}: the space is for the models {', '.join(self.space.models)}, not '{self.base.model}'"
            )
        if self.sampler == "grid":
            self.space.grid()  # raises for a float range without a step
        if self.start_from_base:
            self.space.stored_params(self.base)  # raises when the base lies outside the space


@dataclass
class TuneSummary:
    name: str
    states: dict[str, int] = field(default_factory=dict)   # this command's trials by state
    total_trials: int = 0
    best_number: int | None = None
    best_value: float | None = None
    best_settings: dict[str, Any] | None = None
    seconds: float = 0.0


def trial_config(base: RunConfig, settings: dict[str, Any]) -> RunConfig:
    return base.replace(**settings)


def base_for_tuning(cfg: RunConfig) -> RunConfig:
    """The fixed part of every trial: never the test split."""
    return cfg.replace(evaluate_test=False)


def _study_attrs(req: TuneRequest) -> dict[str, Any]:
    from tfbench.config import run_key

    base = req.base.to_dict()
    return {
        "tfbench": 1,
        "dataset": req.base.dataset,
        "model": req.base.model,
        "space": str(req.space.path),
        "space_fingerprint": req.space.fingerprint,
        "objective": req.objective,
        "base": base,
        # the base's result-relevant settings (what a run key hashes), without the data
        "base_key": run_key("", req.base),
    }


def _sampler(req: TuneRequest):
    """The study's sampler. Every process sharing a study must agree on the seed: TPE and random
    draws are seeded per trial number (see ``TrialSeededSampler``); the grid sampler shuffles its
    grid once with the seed and gives trial n the n-th point, so workers that shuffled with
    different seeds (seed + worker, as before) could evaluate the same point twice."""
    import optuna

    from tfbench.tune.sampling import TrialSeededSampler

    if req.sampler == "grid":
        return optuna.samplers.GridSampler(req.space.grid(), seed=req.base.seed)
    if req.sampler == "random":
        return TrialSeededSampler(lambda s: optuna.samplers.RandomSampler(seed=s), req.base.seed)
    startup = min(10, max(3, req.trials // 3))
    return TrialSeededSampler(lambda s: optuna.samplers.TPESampler(seed=s, n_startup_trials=startup), req.base.seed)


def _pruner(req: TuneRequest):
    import optuna

    if req.pruner == "median":
        # Compare from the 4th finished trial on, and never on epoch 1 (too noisy to judge a trial).
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=2)
    if req.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=req.base.epochs, reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_study(req: TuneRequest, storage):
    """Create the study, or load it to continue; refuse one made for another setup."""
    import optuna

    study = optuna.create_study(
        study_name=req.name, storage=storage, direction="maximize", load_if_exists=True,
        sampler=_sampler(req), pruner=_pruner(req),
    )
    attrs = _study_attrs(req)
    have = study.user_attrs
    if not have:
        for k, v in attrs.items():
            if k != "tfbench":
                study.set_user_attr(k, v)
        study.set_user_attr("tfbench", attrs["tfbench"])  # last: the mark that the attributes are complete
        return study
    # Another command may have created the study a moment ago and still be writing its attributes
    # (one row each): wait for its completion mark rather than compare half of them.
    deadline = time.monotonic() + 15.0
    while "tfbench" not in have and time.monotonic() < deadline:
        time.sleep(0.2)
        have = study.user_attrs
    if "tfbench" not in have:
        raise ConfigError(f"Optuna study '{req.name}' in this database was not made by tfbench; choose another --name")
    for k in IDENTITY_ATTRS:
        if have.get(k) != attrs[k]:
            if k in ("dataset", "model", "objective"):
                why = f"for {k} '{have.get(k)}', not '{attrs[k]}'"
            else:
                why = "with a different " + {"space_fingerprint": "search space", "base_key": "set of fixed settings"}[k]
            raise ConfigError(
                f"Optuna study '{req.name}' was made {why}; run its original command to continue it, or choose another --name"
            )
    return study


def objective_value(valid: dict[str, float | None], objective: str) -> float:
    total = 0.0
    for name in objective.split("+"):
        v = valid.get(name)
        if v is None:
            raise ConfigError(f"the objective {objective} needs validation {name}, which this dataset does not provide")
        total += v
    return total


def make_objective(
    req: TuneRequest, store, dataset, on_trial: Callable[[str], None] | None = None
) -> Callable:
    import optuna

    from tfbench.config import run_key
    from tfbench.db import RunInProgress
    from tfbench.runner import RunPruned, execute_run

    def objective(trial: optuna.Trial) -> float:
        settings = req.space.suggest(trial)
        cfg = trial_config(req.base, settings)
        trial.set_user_attr("settings", json.loads(json.dumps(settings)))
        t0 = time.perf_counter()

        def on_epoch(record) -> None:
            value = objective_value(record.valid, req.objective)
            trial.report(value, record.epoch)
            # after the last epoch the run is complete: pruning it would only throw its result away
            if record.epoch < cfg.epochs and trial.should_prune():
                raise RunPruned(record.epoch, f"pruned by Optuna ({req.pruner}) after epoch {record.epoch}: "
                                              f"validation {req.objective} {value:.4f}")

        info = {"optuna_study": req.name, "optuna_trial": trial.number}
        while True:
            try:
                outcome = execute_run(cfg, store, device=req.device, data_dir=req.data_dir, dataset=dataset,
                                      on_epoch=on_epoch, run_info=info)
                break
            except RunInProgress:
                # Another worker is training this very configuration: wait for its result.
                time.sleep(2.0)
            except RunPruned as e:
                trial.set_user_attr("run_key", run_key(dataset.fingerprint, cfg))
                if on_trial:
                    on_trial(f"trial {trial.number} pruned after epoch {e.epoch} ({time.perf_counter() - t0:.1f}s) {_brief(settings)}")
                raise optuna.TrialPruned(str(e)) from None
        row = outcome.row
        trial.set_user_attr("run_key", row.key)
        trial.set_user_attr("run_id", row.id)
        trial.set_user_attr("reused_run", not outcome.trained)
        trial.set_user_attr("epochs", row.epochs_run)
        trial.set_user_attr("best_epoch", row.best_epoch)
        value = objective_value({"AUC": row.valid_auc, "gAUC": row.valid_gauc}, req.objective)
        if on_trial:
            on_trial(
                f"trial {trial.number} done: validation {req.objective} {value:.4f}, {row.epochs_run} epochs"
                f"{' (an identical run was already done)' if not outcome.trained else ''} "
                f"({time.perf_counter() - t0:.1f}s) {_brief(settings)}"
            )
        return value

    return objective


def _brief(settings: dict[str, Any]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, (list, tuple)):
            return ",".join(str(x) for x in v)
        return str(v)

    return " ".join(f"{k}={fmt(v)}" for k, v in settings.items())


def _worker(
    req: TuneRequest, n_trials: int, threads: int | None, prefix: str = "", dataset=None
) -> dict[str, int]:
    """Run ``n_trials`` trials of the study in this process; returns their states. ``dataset``:
    the already loaded data (in-process runs); spawned workers load it from the cache."""
    import optuna
    import torch

    from tfbench.db import ResultStore
    from tfbench.runner import load_for
    from tfbench.tune.storage import optuna_storage

    if threads:
        torch.set_num_threads(threads)
    store = ResultStore(req.db_url)
    storage = optuna_storage(store.url, req.heartbeat_s)
    study = open_study(req, storage)
    dataset = dataset or load_for(req.base, req.data_dir)

    def say(msg: str) -> None:
        print(f"{prefix}{msg}", file=sys.stderr, flush=True)

    states: dict[str, int] = {}

    def count(_study, trial: optuna.trial.FrozenTrial) -> None:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
        if trial.state == optuna.trial.TrialState.FAIL:
            say(f"trial {trial.number} failed: {trial.user_attrs.get('error', '')}")

    objective = make_objective(req, store, dataset, on_trial=say)

    def guarded(trial):
        try:
            return objective(trial)
        except (optuna.TrialPruned, KeyboardInterrupt):
            raise
        except Exception as e:  # the trial fails, the study goes on (as a failed run does in a study)
            trial.set_user_attr("error", f"{type(e).__name__}: {e}".splitlines()[0][:500])
            raise

    study.optimize(guarded, n_trials=n_trials, timeout=req.timeout, callbacks=[count], catch=(Exception,),
                   gc_after_trial=False)
    return states


def tune(req: TuneRequest, on_start: Callable[[], None] | None = None) -> TuneSummary:
    """Run ``req.trials`` more trials of the study ``req.name``; ``on_start`` is called once the
    request, the data and the study have been checked."""
    import optuna

    from tfbench.db import ResultStore
    from tfbench.runner import load_for
    from tfbench.tune.storage import optuna_storage
    from tfbench.workers import end_with_parent

    req.validate()
    t0 = time.perf_counter()
    store = ResultStore(req.db_url)
    req = replace(req, db_url=store.url, base=base_for_tuning(req.base))
    data = load_for(req.base, req.data_dir)  # build the dataset cache once, not in every worker
    if "gAUC" in req.objective and data.train.group is None:
        raise ConfigError(f"--objective {req.objective} needs gAUC, but {req.base.dataset} has no group (user) field")
    storage = optuna_storage(store.url, req.heartbeat_s)
    study = open_study(req, storage)       # create (or check) once, before any worker starts
    if req.start_from_base:
        # A reference point (e.g. the paper's settings) in the study: tuned vs default is then
        # read off the trials. Not enqueued twice when the same command runs again.
        study.enqueue_trial(req.space.stored_params(req.base), skip_if_exists=True)
    if on_start is not None:
        on_start()

    states: dict[str, int] = {}
    if req.ray is not None:
        from tfbench.cluster import tune_on_ray

        quotas = [q for q in (req.trials // req.jobs + (1 if i < req.trials % req.jobs else 0) for i in range(req.jobs)) if q]
        for got in tune_on_ray(_worker, req, quotas, req.ray):
            for k, v in got.items():
                states[k] = states.get(k, 0) + v
    elif req.jobs == 1:
        states = _worker(req, req.trials, None, dataset=data)
    else:
        quotas = [req.trials // req.jobs + (1 if i < req.trials % req.jobs else 0) for i in range(req.jobs)]
        quotas = [q for q in quotas if q > 0]
        threads = None if req.device.startswith("cuda") else max(1, (os.cpu_count() or 1) // len(quotas))
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=len(quotas), mp_context=ctx, initializer=end_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            futures = [pool.submit(_worker, req, q, threads, f"[worker {i}] ") for i, q in enumerate(quotas)]
            for fut in futures:
                for k, v in fut.result().items():
                    states[k] = states.get(k, 0) + v

    study = optuna.load_study(study_name=req.name, storage=storage)
    summary = TuneSummary(name=req.name, states=states, total_trials=len(study.trials), seconds=time.perf_counter() - t0)
    try:
        best = study.best_trial
        summary.best_number, summary.best_value = best.number, best.value
        summary.best_settings = best.user_attrs.get("settings")
    except ValueError:  # no finished trial yet
        pass
    return summary


def load_request_space(space: str | None, model: str) -> SearchSpace:
    from tfbench.tune.space import space_for_model

    return load_space(space) if space else space_for_model(model)
