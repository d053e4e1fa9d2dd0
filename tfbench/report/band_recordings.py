"""The difficulty-band and histogram recordings of a study's finished runs (Figures 2 and 11).

A run that records bands (``record_bands``) stores, after each evaluation ("epoch"), per split
and class, its counts of misclassified / poorly / well classified samples (``tfb_bands``) and a
histogram of its predicted probabilities (``tfb_histograms``); see :mod:`tfbench.train.record`.
The reporters read them here, joined to the run's dataset, grid cell and seed, for the same runs
that the study's table would use (:func:`tfbench.report.study_report.gather`: finished, of the
study's current definition, quick or full, the seeds asked for). Averages over seeds keep their
count ``n`` so that a figure can say over how many runs a bar is a mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tfbench.db import ResultStore
from tfbench.errors import ConfigError
from tfbench.report.study_report import gather
from tfbench.train.record import BAND_NAMES
from tfbench.train.settings import TrainSettings

DEFAULT_THRESHOLDS = tuple(TrainSettings.model_fields["band_thresholds"].default)

CLASS_NAMES = {1: "positive", 0: "negative"}   # the order of the paper's panels: positives first
SPLIT_NAMES = {"train": "train", "valid": "validation", "test": "test"}
# the paper's colours (Figure 2's caption): red misclassified, blue poorly, green well classified
BAND_COLOURS = {"misclassified": "#d62728", "poorly": "#1f77b4", "well": "#2ca02c"}
BAND_LABELS = {"misclassified": "misclassified", "poorly": "poorly classified", "well": "well classified"}


@dataclass(frozen=True)
class StudyRecordings:
    """The finished runs of a study and their recordings, one frame row per database row plus the
    run's ``dataset``, grid axes and ``seed``; ``datasets`` in report order."""

    runs: pd.DataFrame
    bands: pd.DataFrame
    histograms: pd.DataFrame
    datasets: list[str]


def study_recordings(study, store: ResultStore, *, quick: bool, seeds: tuple[int, ...] | None,
                     datasets: list[str] | None, histograms: bool = False) -> StudyRecordings:
    """Bands (and, if asked, histograms) of the study's runs, with their cell; ``datasets``: the
    user's selection (None: those with runs, the study's own first)."""
    runs = gather(study, store, quick=quick, seeds=seeds)
    present = list(dict.fromkeys(runs["dataset"]))
    order = datasets or [d for d in study.datasets if d in present] + [d for d in present if d not in study.datasets]
    runs = runs[runs["dataset"].isin(order)].copy()
    if runs.empty:   # nothing to join (and empty frames of unknown dtypes do not merge)
        return StudyRecordings(runs=runs, bands=pd.DataFrame(), histograms=pd.DataFrame(), datasets=[])
    # gather gives the content key; the recordings are stored by run id
    rows = [store.get_by_key(k) for k in runs["key"]]
    runs["run_id"] = [r.id for r in rows]
    # what each run recorded with, from its stored configuration (not from the study as it reads now)
    runs["thresholds"] = [tuple(r.config.get("band_thresholds", DEFAULT_THRESHOLDS)) for r in rows]
    runs["eval_steps"] = [int(r.config.get("eval_steps", 0)) for r in rows]
    cell = runs[["run_id", "dataset", *study.axes, "seed"]]
    bands = store.bands(runs["run_id"]).merge(cell, on="run_id")
    hist = store.histograms(runs["run_id"]).merge(cell, on="run_id") if histograms else pd.DataFrame()
    return StudyRecordings(runs=runs, bands=bands, histograms=hist, datasets=[d for d in order if d in present])


def mean_over_seeds(frame: pd.DataFrame, by: list[str], values: list[str]) -> pd.DataFrame:
    """Per group: the mean, sample std (NaN for one seed) and number of seeds of each value column."""
    grouped = frame.groupby(by, sort=False)[values]
    out = grouped.mean().add_suffix("_mean")
    out = out.join(grouped.std(ddof=1).add_suffix("_std")).join(grouped.count().add_suffix("_n"))
    return out.reset_index()


def band_of_distance(distance: np.ndarray, thresholds: tuple[float, float]) -> np.ndarray:
    """0 misclassified, 1 poorly, 2 well: the indices into BAND_NAMES (the recorder's own rule:
    well d < a, poorly a ≤ d < b, misclassified d ≥ b)."""
    d = np.asarray(distance, dtype=float)
    return 2 - ((d >= thresholds[0]).astype(int) + (d >= thresholds[1]).astype(int))


def bin_bands(bins: int, label: int, thresholds: tuple[float, float]) -> list[str]:
    """The band of each histogram bin of one class, by the distance |y − p| at the bin's centre.

    A bin that straddles a threshold (one with an edge strictly inside it) takes the band of its
    centre; :func:`straddling_bins` names them so a report can say so. With the default 50 bins
    and thresholds {0.3, 0.6} every threshold is a bin edge and no bin straddles."""
    centres = (np.arange(bins) + 0.5) / bins
    distance = np.abs(label - centres)
    return [BAND_NAMES[i] for i in band_of_distance(distance, thresholds)]


def straddling_bins(bins: int, thresholds: tuple[float, float]) -> int:
    """How many bins of a class have a band boundary strictly inside them (same for both classes)."""
    edges = [t * bins for t in thresholds] + [(1 - t) * bins for t in thresholds]
    return len({int(np.floor(e)) for e in edges if not np.isclose(e, round(e)) and 0 < e < bins})


def thresholds_of(recordings: StudyRecordings, dataset: str) -> tuple[float, float]:
    """The band thresholds the runs on ``dataset`` recorded with (from their stored configuration)."""
    found = set(recordings.runs.loc[recordings.runs["dataset"] == dataset, "thresholds"])
    if len(found) != 1:
        raise ConfigError(f"the runs on {dataset} recorded bands with different thresholds {sorted(found)}; "
                          f"a figure colours by one pair")
    return found.pop()


def epoch_note(recordings: StudyRecordings) -> str:
    """What an epoch is on each dataset: one pass over the train split, or ``eval_steps`` steps."""
    parts = []
    for dataset in recordings.datasets:
        steps = sorted(set(recordings.runs.loc[recordings.runs["dataset"] == dataset, "eval_steps"]))
        what = " or ".join("one pass over the train split" if s == 0 else f"{s} optimizer steps" for s in steps)
        parts.append(f"{what} on {dataset}")
    return "An epoch (one evaluation) is " + "; ".join(parts) + "."


def check_records(study, splits: tuple[str, ...], what: str) -> None:
    """A band reporter's study must record the splits it draws, in every configuration it runs."""
    recorded = study.base.get("record_bands")
    recorded = [s.strip() for s in recorded.split(",")] if isinstance(recorded, str) else list(recorded or [])
    missing = [s for s in splits if s not in recorded]
    if missing:
        raise ConfigError(f"'base.record_bands' must name the splits {what} draws ({', '.join(splits)}); "
                          f"missing {', '.join(missing)}")
    overridden = [k for k, v in study.dataset_settings.items() if "record_bands" in v] + \
        (["quick"] if "record_bands" in study.quick else [])
    if overridden:
        raise ConfigError(f"'record_bands' is set again in {', '.join(overridden)}; {what} needs the base's")


def split_setting(raw, default: tuple[str, ...], key: str) -> tuple[str, ...]:
    """``report_settings.<key>``: a list of split names."""
    value = raw.get(key, list(default))
    if not isinstance(value, list) or not value or any(v not in SPLIT_NAMES for v in value) or len(set(value)) != len(value):
        raise ConfigError(f"'report_settings.{key}' must be a list of distinct splits ({', '.join(SPLIT_NAMES)})")
    return tuple(value)


def dataset_title(study, dataset: str) -> str:
    paper = study.paper_names.get(dataset, dataset)
    return dataset if paper == dataset else f"{dataset} ({paper})"


def save_figure(fig, out_base: Path) -> list[Path]:
    """Write ``out_base`` .png and .pdf and close the figure. The constrained layout is solved once,
    for the PNG, and the PDF keeps those positions: solving it again costs as much as the drawing."""
    import matplotlib.pyplot as plt

    out_base.parent.mkdir(parents=True, exist_ok=True)
    paths = [out_base.with_suffix(".png"), out_base.with_suffix(".pdf")]
    try:
        fig.savefig(paths[0], dpi=130)
        fig.set_layout_engine("none")
        fig.savefig(paths[1])
    finally:
        plt.close(fig)
    return paths
