"""A finished tuning study's best trial, read back, and its export as a five-seed study file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfbench.atomic import write_text
from tfbench.config import RunConfig
from tfbench.errors import ConfigError


@dataclass
class BestTrial:
    study: str
    number: int
    value: float
    objective: str
    config: RunConfig              # the full configuration of the best trial (test evaluation back on)
    settings: dict[str, Any]       # the searched parameters
    run_key: str | None
    n_trials: int
    n_complete: int
    n_pruned: int
    n_failed: int


def best_trial(name: str, db_url: str | None = None) -> BestTrial:
    import optuna

    from tfbench.db.store import default_db_url
    from tfbench.tune.storage import optuna_storage

    import sqlalchemy as sa

    from tfbench.db.connect import shown
    from tfbench.db.store import ResultStore

    url = db_url or default_db_url()
    store = ResultStore(url, read_only=True)  # a missing database is an error, never created
    with store.engine.connect() as conn:
        tuned = sa.inspect(conn).has_table("studies")
    store.engine.dispose()
    if not tuned:
        raise ConfigError(f"no tuning study named '{name}': the results database {shown(url)} holds no tuning studies")
    storage = optuna_storage(url, heartbeat_s=None, read_only=True)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = ", ".join(s.study_name for s in optuna.get_all_study_summaries(storage)) or "none"
        raise ConfigError(f"no tuning study named '{name}' in this database (studies: {names})") from None
    attrs = study.user_attrs
    if "base" not in attrs:
        raise ConfigError(f"Optuna study '{name}' was not made by tfbench")
    states = [t.state for t in study.trials]
    TS = optuna.trial.TrialState
    try:
        best = study.best_trial
    except ValueError:
        raise ConfigError(f"tuning study '{name}' has no finished trial yet") from None
    settings = best.user_attrs.get("settings") or {}
    config = RunConfig.from_dict({**attrs["base"], **settings, "evaluate_test": True})
    return BestTrial(
        study=name, number=best.number, value=best.value, objective=attrs.get("objective", "AUC"), config=config,
        settings=settings, run_key=best.user_attrs.get("run_key"), n_trials=len(states),
        n_complete=states.count(TS.COMPLETE), n_pruned=states.count(TS.PRUNED), n_failed=states.count(TS.FAIL),
    )


def export_study(best: BestTrial, path, seeds=(2023, 2024, 2025, 2026, 2027), metrics=("AUC", "gAUC")) -> str:
    """Write the best configuration as a study file that ``tfbench run`` trains over five seeds."""
    from pathlib import Path

    import yaml

    path = Path(path)
    cfg = best.config.effective_dict()  # only the settings that matter for this model and loss
    for k in ("dataset", "seed", "quick", "evaluate_test"):
        cfg.pop(k, None)
    model = cfg.pop("model")
    study = {
        "name": path.stem,
        "title": f"Tuned {model} on {best.config.dataset} (Optuna study {best.study}, trial {best.number})",
        "description": (
            f"Exported by `tfbench tune best {best.study} --export`: the best of {best.n_trials} trials "
            f"({best.n_complete} complete, {best.n_pruned} pruned, {best.n_failed} failed), validation "
            f"{best.objective} {best.value:.6f}. Searched: {', '.join(sorted(best.settings)) or 'nothing'}. "
            "The test split was not evaluated while tuning."
        ),
        "kind": "table",
        "datasets": [best.config.dataset],
        "seeds": list(seeds),
        "base": cfg,
        "grid": {"model": {best.study: model}},
        "layout": {"rows": "model", "metrics": list(metrics)},
        "quick": {"epochs": 2},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(study, sort_keys=False, default_flow_style=None, width=120)
    write_text(path, text)
    return text
