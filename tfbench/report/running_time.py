"""Table IX: the first epoch's training time and the per-sample inference time on the validation
split, each as a ratio to a reference model (the ``running_time`` reporter).

A run that times itself (``time_inference_passes`` > 0) stores in ``tfb_timings`` the training
seconds of its first epoch (phase ``train_first_epoch``, with the rows it trained on) and the
seconds of each inference pass over the validation split (``inference_valid``, with the split's
rows); the device (CPU model or CUDA device) and the torch thread count are in its run row. Per run:
training time = the first epoch's seconds; inference time per sample = the median pass / rows. Per
grid cell the table gives the median over the seeds of each (the spread is in the CSV), and each
ratio is the cell's median over the reference cell's median on the same dataset. The paper's
numbers (``report_settings.paper``) stand beside ours.

``report_settings``: ``reference`` (the grid label of the ratios' denominator; default the first),
``paper`` ({label: {train_s, train_ratio, inference_ms, inference_ratio}}, any subset), ``paper_dataset``
and ``paper_device`` (what the paper measured on). The study's grid has one axis, the models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tfbench.errors import ConfigError
from tfbench.report.band_recordings import dataset_title
from tfbench.report.band_tables import text_table, write_band_tables
from tfbench.report.plain_tables import TextTable
from tfbench.report.run_records import study_runs
from tfbench.report.special import Reporter, refuse_unknown_settings, register

PAPER_FIELDS = ("train_s", "train_ratio", "inference_ms", "inference_ratio")
TRAIN, INFER = "train_first_epoch", "inference_valid"


@dataclass(frozen=True)
class RunningTimeSettings:
    reference: str | None = None
    paper: dict[str, dict[str, float]] = field(default_factory=dict)
    paper_dataset: str = ""
    paper_device: str = ""


def parse_settings(raw: dict[str, Any], labels: list[str]) -> RunningTimeSettings:
    refuse_unknown_settings(raw, RunningTimeSettings)
    reference = raw.get("reference", labels[0] if labels else None)
    if reference not in labels:
        raise ConfigError(f"'report_settings.reference' must be a label of the grid ({', '.join(labels)}), "
                          f"got {reference!r}")
    paper = raw.get("paper") or {}
    if not isinstance(paper, dict):
        raise ConfigError("'report_settings.paper' must map grid labels to {train_s, train_ratio, inference_ms, "
                          "inference_ratio}")
    for label, cell in paper.items():
        if label not in labels:
            raise ConfigError(f"'report_settings.paper.{label}' is not a label of the grid ({', '.join(labels)})")
        if not isinstance(cell, dict) or any(k not in PAPER_FIELDS for k in cell) or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) for v in cell.values()):
            raise ConfigError(f"'report_settings.paper.{label}' must map some of {', '.join(PAPER_FIELDS)} to numbers")
    for key in ("paper_dataset", "paper_device"):
        if not isinstance(raw.get(key, ""), str):
            raise ConfigError(f"'report_settings.{key}' must be text")
    return RunningTimeSettings(reference=reference, paper={k: dict(v) for k, v in paper.items()},
                               paper_dataset=raw.get("paper_dataset", ""), paper_device=raw.get("paper_device", ""))


def check(study) -> None:
    if len(study.axes) != 1:
        raise ConfigError("'grid' must have one axis, the models timed")
    parse_settings(study.report_settings, list(study.grid[study.axes[0]]))
    passes = study.base.get("time_inference_passes", 0)
    if not isinstance(passes, int) or isinstance(passes, bool) or passes < 1:
        raise ConfigError("'base.time_inference_passes' must be a number of passes (>= 1): this table reports them")
    if any(v.get("time_inference_passes") == 0 for v in [*study.dataset_settings.values(), study.quick]):
        raise ConfigError("'time_inference_passes' is set to 0 again in dataset_settings or quick; this table needs it")


def run_times(runs: pd.DataFrame, timings: pd.DataFrame) -> pd.DataFrame:
    """Per run: the first epoch's training seconds and rows, the median inference pass, its rows
    and the seconds per sample, the number of passes."""
    out = []
    for run_id, part in timings.groupby("run_id", sort=False):
        train, infer = part[part["phase"] == TRAIN], part[part["phase"] == INFER]
        if train.empty or infer.empty:
            continue
        median = float(np.median(infer["seconds"].to_numpy()))
        rows = int(infer["rows"].iloc[0])
        out.append({"run_id": run_id, "train_seconds": float(train["seconds"].iloc[0]),
                    "train_rows": int(train["rows"].iloc[0]), "inference_median_seconds": median,
                    "valid_rows": rows, "inference_seconds_per_sample": median / rows, "passes": len(infer)})
    frame = pd.DataFrame(out, columns=["run_id", "train_seconds", "train_rows", "inference_median_seconds",
                                       "valid_rows", "inference_seconds_per_sample", "passes"])
    return runs.merge(frame, on="run_id")


def cell_table(times: pd.DataFrame, axis: str, labels: list[str], reference: str, datasets: list[str]) -> pd.DataFrame:
    """Per dataset and label: medians over seeds (with min, max, n) and the ratios to the reference's medians."""
    rows = []
    for dataset in datasets:
        part = times[times["dataset"] == dataset]
        medians = part.groupby(axis)[["train_seconds", "inference_seconds_per_sample"]].median()
        for label in labels:
            cell = part[part[axis] == label]
            if cell.empty:
                continue
            row = {"dataset": dataset, axis: label, "seeds": int(len(cell))}
            for col, short in (("train_seconds", "train"), ("inference_seconds_per_sample", "inference")):
                row[f"{col}_median"] = float(medians.at[label, col])
                row[f"{col}_min"], row[f"{col}_max"] = float(cell[col].min()), float(cell[col].max())
                ref = float(medians.at[reference, col]) if reference in medians.index else math.nan
                row[f"{short}_ratio"] = float(medians.at[label, col]) / ref
            row["train_rows"] = int(cell["train_rows"].iloc[0])
            row["valid_rows"] = int(cell["valid_rows"].iloc[0])
            row["device"] = "; ".join(sorted(set(cell["device_text"])))
            rows.append(row)
    return pd.DataFrame(rows)


def device_text(device: str | None, threads: int | None) -> str:
    where = device or "unknown device"
    if threads and not where.startswith("cuda"):
        where += f", {threads} thread{'s' if threads != 1 else ''}"
    return where


def _ratio(v: float | None) -> str:
    return "—" if v is None or math.isnan(v) else f"{v:.2f}x"


def _micro(seconds: float) -> str:
    """Seconds as microseconds, three significant digits, never in exponent notation."""
    us = seconds * 1e6
    return f"{us:,.0f}" if us >= 100 else f"{us:.3g}"


def _paper(v: float | None, unit: str) -> str:
    return "—" if v is None else f"{v:g}{unit}"


def tables(study, table: pd.DataFrame, settings: RunningTimeSettings, datasets: list[str]) -> list[TextTable]:
    axis = study.rows
    where = f"paper: {settings.paper_dataset}" + (f", {settings.paper_device}" if settings.paper_device else "")
    out = []
    for dataset in datasets:
        part = table[table["dataset"] == dataset]
        lines = []
        for r in part.to_dict("records"):
            p = settings.paper.get(r[axis], {})
            ref = r[axis] == settings.reference
            lines.append({
                "Model": r[axis] + (" (base)" if ref else ""),
                "train s": f"{r['train_seconds_median']:.2f}",
                "train ratio": "—" if ref else _ratio(r["train_ratio"]),
                "paper train": _paper(p.get("train_s"), "s"),
                "paper train ratio": "—" if ref else _ratio(p.get("train_ratio")),
                "inference µs/sample": _micro(r["inference_seconds_per_sample_median"]),
                "inference ratio": "—" if ref else _ratio(r["inference_ratio"]),
                "paper inference": _paper(p.get("inference_ms"), "ms"),
                "paper inference ratio": "—" if ref else _ratio(p.get("inference_ratio")),
            })
        devices = "; ".join(sorted(set(part["device"])))
        out.append(text_table(f"{dataset_title(study, dataset)}, ours on {devices} ({where})", lines, text_columns=1))
    return out


def notes_for(times: pd.DataFrame, table: pd.DataFrame, settings: RunningTimeSettings, quick: bool) -> list[str]:
    n_seeds = sorted(set(table["seeds"]))
    passes = sorted(set(times["passes"]))
    notes = [
        f"{len(times)} finished {'quick ' if quick else ''}run{'s' if len(times) != 1 else ''}; each cell is the "
        f"median over n = {'–'.join(map(str, n_seeds))} seed{'s' if n_seeds != [1] else ''} (min and max in the CSV); "
        f"a ratio is the cell's median over {settings.reference}'s median on the same dataset.",
        "Training time: the first epoch's optimizer steps (batches drawn, forward, backward, clipping, Adam), "
        "without its evaluation; " + "; ".join(
            f"{d}: {int(g['train_rows'].iloc[0]):,} training rows" for d, g in table.groupby("dataset", sort=False)) + ".",
        f"Inference time: the median of {'/'.join(map(str, passes))} passes over the validation split with the "
        "trained weights (eval mode, no gradients, synchronised on CUDA), divided by its rows; "
        + "; ".join(f"{d}: {int(g['valid_rows'].iloc[0]):,} validation rows" for d, g in table.groupby("dataset", sort=False))
        + ".",
        "The paper's inference unit: Table IX prints 0.11 ms for DNN on KKBox (about 737,000 validation rows) on an "
        "RTX 4090. As the time of the whole validation pass that is far too fast, and as the time per sample (81 s "
        "per pass, 9,000 samples/s) far too slow for that GPU; we read it as milliseconds per batch of 10,000 "
        "samples (the batch size), about 11 ns per sample. The ratios do not depend on the unit.",
        "Absolute times depend on the device and on its load (this CPU is shared with other jobs); the ratios "
        "within one table, measured on one device, are what compares with the paper's.",
    ]
    return notes


def render(study, store, *, fmt: str, out_dir: Path, datasets, quick: bool, seeds) -> tuple[str, list[Path], int]:
    axis = study.rows
    labels = list(study.grid[axis])
    settings = parse_settings(study.report_settings, labels)
    runs, order = study_runs(study, store, quick=quick, seeds=seeds, datasets=datasets)
    times = run_times(runs, store.timings(runs["run_id"])) if not runs.empty else pd.DataFrame()
    if times.empty:
        kind = "quick" if quick else "full"
        return (f"nothing timed for study '{study.name}' yet ({kind} runs; `tfbench run {study.name}` first)", [], 0)
    times["device_text"] = [device_text(d, t) for d, t in zip(times["device"], times["threads"])]
    order = [d for d in order if d in set(times["dataset"])]
    table = cell_table(times, axis, labels, settings.reference, order)
    stem = study.name + ("_quick" if quick else "")
    title = study.title + (" [quick smoke runs]" if quick else "")
    text, path = write_band_tables(fmt, title, tables(study, table, settings, order),
                                   notes_for(times, table, settings, quick), table, out_dir / stem)
    return text, [path], len(times)


REPORTER = register(Reporter(
    name="running_time", render=render, check=check,
    description="Table IX: first-epoch training time and per-sample inference time, as ratios to a base model",
))
