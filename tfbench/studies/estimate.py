"""How long a plan takes on W workers, predicted from runs already stored.

For each model (tf4ctr's twin-focus variant of a baseline counts as its own model) the stored
``done`` runs of ANY dataset give seconds per training sample (``1 / samples_per_second``, which
includes the in-training evaluations) and epochs until early stopping (``epochs_run``). A planned
run then costs seconds-per-sample × samples per epoch (the dataset's training rows from the
catalogue, or ``eval_steps × batch_size`` when an epoch is a number of steps) × its epochs
(the stored median, never more than the run's ``epochs``). The medians are taken over runs;
a model without stored runs gets the median of all models, and says so. Runs are then placed
longest first on the least loaded of W workers; the wall time is the most loaded worker's.

Assumptions: the stored runs' hardware is the target's (a GPU speed-up is not known from CPU
measurements), time grows linearly with the samples seen, and epochs-to-stop carries over
between datasets.
"""

from __future__ import annotations

import heapq
import json
import statistics
from dataclasses import dataclass, field

from tfbench.studies.plan import PlannedRun


@dataclass
class Estimate:
    runs: int
    run_seconds: float          # summed over runs (one worker)
    wall_seconds: float         # on ``workers`` workers
    workers: int
    per_model: dict[str, tuple[float, float, int]] = field(default_factory=dict)  # s/sample, epochs, stored runs
    unmeasured: set[str] = field(default_factory=set)


def model_name(config) -> str:
    return f"{config.model}+tf" if getattr(config, "tf4ctr", False) and config.model != "tf4ctr" else config.model


def train_rows(dataset: str, synthetic_rows: int) -> int:
    """Training rows of a named dataset from the catalogue (no data is read)."""
    from tfbench.data import synthetic
    from tfbench.data.paper_datasets import PAPER_DATASETS
    from tfbench.data.registry import FRAPPE_ROWS

    if dataset in PAPER_DATASETS:
        return PAPER_DATASETS[dataset].expected.rows["train"]
    total = {"frappe-nfm": FRAPPE_ROWS, "synthetic": synthetic_rows or synthetic.DEFAULT_ROWS}.get(dataset)
    if total is None:
        raise ValueError(f"dataset {dataset}: its size is not in the catalogue")
    return int(total * 0.7)  # the 7:2:1 split


def measured(rows) -> dict[str, tuple[float, float, int]]:
    """model -> (seconds per sample, epochs run, number of runs), medians of the done runs."""
    by: dict[str, list[tuple[float, int]]] = {}
    for r in rows:
        if r.status != "done" or not r.samples_per_second or not r.epochs_run:
            continue
        cfg = r.config or {}
        name = f"{r.model}+tf" if cfg.get("tf4ctr") and r.model != "tf4ctr" else r.model
        by.setdefault(name, []).append((1.0 / r.samples_per_second, r.epochs_run))
    return {m: (statistics.median(s for s, _ in v), statistics.median(e for _, e in v), len(v)) for m, v in by.items()}


def estimate(plan: list[PlannedRun], stored_rows, workers: int) -> Estimate:
    per_model = measured(stored_rows)
    if not per_model:
        raise ValueError("no done runs with timings in this database to estimate from")
    fallback = (statistics.median(v[0] for v in per_model.values()), statistics.median(v[1] for v in per_model.values()), 0)
    seen, costs, unmeasured = set(), [], set()
    for item in plan:
        c = item.config
        ident = json.dumps(c.to_dict(), sort_keys=True)  # studies share runs (tables 5, 7, 8)
        if ident in seen:
            continue
        seen.add(ident)
        name = model_name(c)
        if name not in per_model:
            unmeasured.add(name)
        sec_per_sample, epochs, _ = per_model.get(name, fallback)
        samples = c.eval_steps * c.batch_size if c.eval_steps else train_rows(c.dataset, c.synthetic_rows)
        costs.append(sec_per_sample * samples * min(epochs, c.epochs))
    loads = [0.0] * workers
    for cost in sorted(costs, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + cost)
    return Estimate(runs=len(costs), run_seconds=sum(costs), wall_seconds=max(loads), workers=workers,
                    per_model=per_model, unmeasured=unmeasured)
