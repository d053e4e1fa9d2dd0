"""A study's finished runs with their database ids, for the reporters that read a run's recordings
by id (Figure 6's gradient steps, Table IX's timings).

The runs are those the study's table would use (:func:`tfbench.report.study_report.gather`:
finished, of the study's current definition, quick or full, the seeds asked for), each with its
dataset, grid cell, seed, stored configuration, device and thread count.
"""

from __future__ import annotations

import pandas as pd

from tfbench.db import ResultStore
from tfbench.report.study_report import gather


def study_runs(study, store: ResultStore, *, quick: bool, seeds: tuple[int, ...] | None,
               datasets: list[str] | None) -> tuple[pd.DataFrame, list[str]]:
    """(runs, datasets in report order). ``datasets``: the user's selection (None: those with runs,
    the study's own first)."""
    runs = gather(study, store, quick=quick, seeds=seeds)
    present = list(dict.fromkeys(runs["dataset"]))
    order = datasets or [d for d in study.datasets if d in present] + [d for d in present if d not in study.datasets]
    runs = runs[runs["dataset"].isin(order)].copy()
    rows = [store.get_by_key(k) for k in runs["key"]]
    runs["run_id"] = [r.id for r in rows]
    runs["config"] = [r.config for r in rows]
    runs["device"] = [r.device for r in rows]
    runs["threads"] = [r.threads for r in rows]
    return runs, [d for d in order if d in present]
