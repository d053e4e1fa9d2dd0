"""Figure 11: per epoch, how many validation and test samples each model classifies well, poorly
or wrongly, positives and negatives apart (the ``bands_by_epoch`` reporter).

§IV-D1 trains DualMLP and TF4CTR the same number of epochs (only early_stop_patience changed),
counts the predictions on the validation and test sets in the three bands of the distance
|y − p| with the thresholds {0.3, 0.6}, and draws them as bar charts, one per class and dataset
(its panels (a)–(d)). Here one panel per dataset × class × split: at each epoch a group of bars,
band by band (red misclassified, blue poorly, green well classified), one bar per model (the grid's
first model hatched and pale, the others solid), the counts of ``tfb_bands``; with several seeds a
bar is the mean over the seeds with the std as its error bar. The table gives the same numbers and,
with two models, the second minus the first per band; the notes count the epochs in which the
second model has more well and fewer poorly classified samples than the first (the paper's claims).

``report_settings``: ``splits`` (default [valid, test]), ``log_counts`` (a log count axis, so that
the small misclassified / poorly bars stay readable beside the well classified ones; default true).
The study's grid has one axis, the models compared, with two labels or more.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tfbench.errors import ConfigError
from tfbench.report.band_recordings import (
    BAND_COLOURS, BAND_LABELS, CLASS_NAMES, SPLIT_NAMES, check_records, dataset_title, epoch_note, mean_over_seeds,
    save_figure, split_setting, study_recordings, thresholds_of,
)
from tfbench.report.band_tables import count_text, text_table, tidy_counts, write_band_tables
from tfbench.report.figure_text import fit_suptitle
from tfbench.report.plain_tables import TextTable
from tfbench.report.special import Reporter, bool_setting, refuse_unknown_settings, register
from tfbench.train.record import BAND_NAMES

SHORT = {"misclassified": "mis", "poorly": "poorly", "well": "well"}


@dataclass(frozen=True)
class EpochBandSettings:
    splits: tuple[str, ...] = ("valid", "test")
    log_counts: bool = True


def parse_settings(raw: dict[str, Any]) -> EpochBandSettings:
    refuse_unknown_settings(raw, EpochBandSettings)
    log_counts = bool_setting(raw, "log_counts", EpochBandSettings.log_counts)
    return EpochBandSettings(splits=split_setting(raw, EpochBandSettings.splits, "splits"), log_counts=log_counts)


def check(study) -> None:
    settings = parse_settings(study.report_settings)
    if len(study.axes) != 1 or len(study.grid[study.axes[0]]) < 2:
        raise ConfigError("'grid' must have one axis, the models compared, with at least two labels")
    check_records(study, settings.splits, "this figure")


def epoch_frame(study, store, *, quick, seeds, datasets, settings: EpochBandSettings):
    """(recordings, band means over seeds per dataset, model, epoch, split and class)."""
    rec = study_recordings(study, store, quick=quick, seeds=seeds, datasets=datasets)
    if rec.runs.empty:
        return rec, pd.DataFrame()
    bands = rec.bands[rec.bands["split"].isin(settings.splits)]
    return rec, mean_over_seeds(bands, ["dataset", study.rows, "epoch", "split", "label"], list(BAND_NAMES))


def render(study, store, *, fmt: str, out_dir: Path, datasets, quick: bool, seeds) -> tuple[str, list[Path], int]:
    settings = parse_settings(study.report_settings)
    rec, means = epoch_frame(study, store, quick=quick, seeds=seeds, datasets=datasets, settings=settings)
    if rec.runs.empty or means.empty:
        kind = "quick" if quick else "full"
        return (f"nothing recorded for study '{study.name}' yet ({kind} runs; `tfbench run {study.name}` first)", [], 0)
    models = [m for m in study.grid[study.rows] if m in set(means[study.rows])]
    stem = study.name + ("_quick" if quick else "")
    title = study.title + (" [quick smoke runs]" if quick else "")
    files = draw(study, means, rec, models, settings, title, out_dir / stem)
    n_seeds = sorted(set(means["well_n"]))
    notes = [
        f"{len(rec.runs)} finished {'quick ' if quick else ''}run{'s' if len(rec.runs) != 1 else ''}; counts are "
        + ("of one seed" if n_seeds == [1] else f"means ± std over n = {'–'.join(map(str, n_seeds))} seeds") + ".",
        "Bands by the distance |y − p| between label and predicted probability: well < a ≤ poorly < b ≤ misclassified, "
        + "; ".join(f"(a, b) = {thresholds_of(rec, d)} on {d}" for d in rec.datasets) + ".",
        epoch_note(rec),
        *claim_notes(study, means, models, rec.datasets),
    ]
    text, table = write_band_tables(fmt, title, count_tables(study, means, rec.datasets, models), notes,
                                    tidy_counts(means, ["dataset", study.rows, "epoch", "split", "label"]), out_dir / stem)
    return text, [table, *files], len(rec.runs)


def _cells(means: pd.DataFrame, rows_axis: str, dataset: str, split: str, label: int, model: str) -> pd.DataFrame:
    sel = (means["dataset"] == dataset) & (means["split"] == split) & (means["label"] == label) & (means[rows_axis] == model)
    return means[sel].set_index("epoch").sort_index()


def count_tables(study, means: pd.DataFrame, datasets: list[str], models: list[str]) -> list[TextTable]:
    """Per dataset, split and class: one line per epoch, each model's three counts (and, with two
    models, the second's minus the first's)."""
    tables = []
    for dataset in datasets:
        for split in sorted(set(means["split"]), key=list(SPLIT_NAMES).index):
            for label in (1, 0):
                parts = {m: _cells(means, study.rows, dataset, split, label, m) for m in models}
                epochs = sorted(set().union(*(p.index for p in parts.values())))
                lines = []
                for e in epochs:
                    line = {"epoch": str(e)}
                    for m, part in parts.items():
                        for band in BAND_NAMES:
                            v = part[f"{band}_mean"].get(e, np.nan), part[f"{band}_std"].get(e, np.nan)
                            line[f"{m} {SHORT[band]}"] = count_text(*v)
                    if len(models) == 2:
                        for band in BAND_NAMES:
                            a, b = (parts[m][f"{band}_mean"].get(e, np.nan) for m in models)
                            line[f"Δ {SHORT[band]}"] = signed_count(b - a)
                    lines.append(line)
                heading = f"{dataset_title(study, dataset)}: {SPLIT_NAMES[split]}, {CLASS_NAMES[label]}s"
                tables.append(text_table(heading, lines, text_columns=1))
    return tables


def signed_count(delta: float) -> str:
    if np.isnan(delta):
        return "—"
    if delta == 0:
        return "0"
    return f"{delta:+,.0f}" if float(delta).is_integer() else f"{delta:+,.1f}"


def claim_notes(study, means: pd.DataFrame, models: list[str], datasets: list[str]) -> list[str]:
    """The paper's two claims, per dataset, split and class: the last model has more well classified
    and fewer poorly classified samples than the first, in how many of the epochs both have."""
    if len(models) < 2:
        return []
    first, last = models[0], models[-1]
    notes = []
    groups = [(d, s, c) for d in datasets for s in SPLIT_NAMES if s in set(means["split"]) for c in (1, 0)]
    for dataset, split, label in groups:
        a, b = (_cells(means, study.rows, dataset, split, label, m) for m in (first, last))
        common = a.index.intersection(b.index)
        if common.empty:
            continue
        more_well = int((b.loc[common, "well_mean"] > a.loc[common, "well_mean"]).sum())
        fewer_poorly = int((b.loc[common, "poorly_mean"] < a.loc[common, "poorly_mean"]).sum())
        end = common.max()
        notes.append(f"{dataset} {SPLIT_NAMES[split]} {CLASS_NAMES[label]}s: {last} has more well classified than "
                     f"{first} in {more_well} of {len(common)} epochs, fewer poorly classified in {fewer_poorly}; "
                     f"at epoch {end}, well {signed_count(b.at[end, 'well_mean'] - a.at[end, 'well_mean'])}, "
                     f"poorly {signed_count(b.at[end, 'poorly_mean'] - a.at[end, 'poorly_mean'])}, "
                     f"misclassified {signed_count(b.at[end, 'misclassified_mean'] - a.at[end, 'misclassified_mean'])}.")
    return notes


def draw(study, means: pd.DataFrame, rec, models: list[str], settings: EpochBandSettings, title: str,
         out_base: Path) -> list[Path]:
    """Rows dataset × class (positives first), columns the splits; grouped bars per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.transforms import blended_transform_factory

    splits = [s for s in settings.splits if s in set(means["split"])]
    rows = [(d, label) for d in rec.datasets for label in (1, 0)]
    epochs = sorted(set(means["epoch"]))
    width = 0.86 / (len(BAND_NAMES) * len(models))
    styles = [dict(alpha=0.45, hatch="///")] + [dict(alpha=1.0, hatch=h) for h in ("", "..", "xx", "--")][: len(models) - 1]
    panel_width = max(5.0, 0.36 * len(epochs) * len(models))
    fig, axes = plt.subplots(len(rows), len(splits), figsize=(panel_width * len(splits), 3.3 * len(rows) + 0.8),
                             squeeze=False, layout="constrained")
    for r, (dataset, label) in enumerate(rows):
        for c, split in enumerate(splits):
            ax = axes[r][c]
            for j, band in enumerate(BAND_NAMES):
                for m, model in enumerate(models):
                    part = _cells(means, study.rows, dataset, split, label, model)
                    if part.empty:
                        continue
                    offset = (j * len(models) + m - (len(BAND_NAMES) * len(models) - 1) / 2) * width
                    std = part[f"{band}_std"].to_numpy()
                    x, height = part.index.to_numpy() + offset, part[f"{band}_mean"].to_numpy()
                    ax.bar(x, height, width=width, color=BAND_COLOURS[band], edgecolor="0.25", linewidth=0.3,
                           yerr=None if np.isnan(std).all() else np.nan_to_num(std), capsize=1.5, **styles[m])
                    if settings.log_counts:   # a zero has no bar on a log axis: say it is a zero, not a gap
                        for xi in x[height == 0]:
                            ax.text(xi, 0.01, "0", transform=blended_transform_factory(ax.transData, ax.transAxes),
                                    ha="center", va="bottom", fontsize=6, color=BAND_COLOURS[band])
            if settings.log_counts:
                ax.set_yscale("log")
            ax.set_xticks(epochs)
            ax.set_xlim(min(epochs) - 0.55, max(epochs) + 0.55)
            ax.set_title(f"{study.paper_names.get(dataset, dataset)}: {CLASS_NAMES[label]} samples, "
                         f"{SPLIT_NAMES[split]}", fontsize=10)
            ax.set_xlabel("epoch", fontsize=9)
            ax.set_ylabel("samples" + (" (log scale)" if settings.log_counts else ""), fontsize=9)
            ax.tick_params(labelsize=8)
            ax.grid(True, axis="y", alpha=0.3)
    handles = [Patch(color=BAND_COLOURS[b], label=BAND_LABELS[b]) for b in BAND_NAMES]
    handles += [Patch(facecolor="0.55", edgecolor="0.25", label=m, **styles[i]) for i, m in enumerate(models)]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9, frameon=False)
    fit_suptitle(fig, title, fontsize=11)
    return save_figure(fig, out_base)


REPORTER = register(Reporter(
    name="bands_by_epoch", render=render, check=check,
    description="Figure 11: per-epoch counts of misclassified / poorly / well classified samples, models side by side",
))
