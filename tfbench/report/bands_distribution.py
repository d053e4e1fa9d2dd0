"""Figure 2: the distribution of a model's predictions on positives and negatives after each epoch,
coloured by difficulty band (the ``bands_distribution`` reporter).

The paper's Figure 2 shows DNN's predicted probabilities on the training and validation sets of
Frappe and ML-tag in the initial learning phase, positives and negatives apart, red where a
sample is misclassified, blue where poorly classified, green where well classified. Here one panel
per dataset × epoch × split × class: the run's recorded histogram of predictions (``tfb_histograms``,
``histogram_bins`` equal bins over [0, 1]) as bars, each bar coloured by the band of its bin's
centre (:func:`tfbench.report.band_recordings.bin_bands`), and in each panel the exact band counts
(``tfb_bands``, counted per sample, so a count never depends on the binning). With several seeds a
bar and a count are the mean over the seeds (n in the notes).

``report_settings``: ``splits`` (default [train, valid]), ``epochs`` (which recorded epochs to draw;
default all), ``log_counts`` (a log count axis; default false). The study's grid must have one
cell (the model drawn), and its ``base.record_bands`` must name the splits drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tfbench.errors import ConfigError
from tfbench.report.band_recordings import (
    BAND_COLOURS, BAND_LABELS, CLASS_NAMES, SPLIT_NAMES, bin_bands, check_records, dataset_title, epoch_note,
    mean_over_seeds, save_figure, split_setting, straddling_bins, study_recordings, thresholds_of,
)
from tfbench.report.band_tables import count_text, text_table, tidy_counts, write_band_tables
from tfbench.report.figure_text import fit_suptitle
from tfbench.report.plain_tables import TextTable
from tfbench.report.special import Reporter, bool_setting, refuse_unknown_settings, register
from tfbench.train.record import BAND_NAMES


@dataclass(frozen=True)
class DistributionSettings:
    splits: tuple[str, ...] = ("train", "valid")
    epochs: tuple[int, ...] | None = None    # None: every recorded epoch
    log_counts: bool = False


def parse_settings(raw: dict[str, Any]) -> DistributionSettings:
    refuse_unknown_settings(raw, DistributionSettings)
    epochs = raw.get("epochs")
    if epochs is not None and (not isinstance(epochs, list) or not epochs or any(
            not isinstance(e, int) or isinstance(e, bool) or e < 1 for e in epochs)):
        raise ConfigError("'report_settings.epochs' must be a non-empty list of epochs (1, 2, ...)")
    log_counts = bool_setting(raw, "log_counts", False)
    return DistributionSettings(splits=split_setting(raw, DistributionSettings.splits, "splits"),
                                epochs=tuple(sorted(set(epochs))) if epochs else None, log_counts=log_counts)


def check(study) -> None:
    settings = parse_settings(study.report_settings)
    cells = int(np.prod([len(v) for v in study.grid.values()]))
    if cells != 1:
        raise ConfigError(f"'grid' must have one cell (the model whose predictions are drawn), it has {cells}")
    check_records(study, settings.splits, "this figure")


def panel_frames(study, store, *, quick, seeds, datasets, settings: DistributionSettings):
    """(recordings, histogram means, band means): the numbers the figure and the table show."""
    rec = study_recordings(study, store, quick=quick, seeds=seeds, datasets=datasets, histograms=True)
    if rec.runs.empty:
        return rec, pd.DataFrame(), pd.DataFrame()
    keep = lambda f: f[f["split"].isin(settings.splits) & (f["epoch"].isin(settings.epochs) if settings.epochs else True)]
    hist = mean_over_seeds(keep(rec.histograms), ["dataset", "epoch", "split", "label", "bin", "bins"], ["count"])
    bands = mean_over_seeds(keep(rec.bands), ["dataset", "epoch", "split", "label"], list(BAND_NAMES))
    return rec, hist, bands


def render(study, store, *, fmt: str, out_dir: Path, datasets, quick: bool, seeds) -> tuple[str, list[Path], int]:
    settings = parse_settings(study.report_settings)
    rec, hist, bands = panel_frames(study, store, quick=quick, seeds=seeds, datasets=datasets, settings=settings)
    if rec.runs.empty or bands.empty:
        kind = "quick" if quick else "full"
        return (f"nothing recorded for study '{study.name}' yet ({kind} runs; `tfbench run {study.name}` first)", [], 0)
    stem = study.name + ("_quick" if quick else "")
    title = study.title + (" [quick smoke runs]" if quick else "")
    files = draw(study, hist, bands, rec, settings, title, out_dir / stem)
    n_seeds = sorted(set(bands["well_n"]))
    bins = sorted(set(hist["bins"]))
    thresholds = {d: thresholds_of(rec, d) for d in rec.datasets}
    notes = [
        f"{len(rec.runs)} finished {'quick ' if quick else ''}run{'s' if len(rec.runs) != 1 else ''}; counts are "
        + ("of one seed" if n_seeds == [1] else f"means over n = {'–'.join(str(n) for n in n_seeds)} seeds") + ".",
        "Bands by the distance |y − p| between label and predicted probability: well < a ≤ poorly < b ≤ misclassified, "
        + "; ".join(f"(a, b) = {thresholds[d]} on {d}" for d in rec.datasets) + ".",
        epoch_note(rec),
        f"Histogram bars ({', '.join(map(str, bins))} bins over [0, 1]) take the band of their bin's centre; "
        + ", ".join(f"{straddling_bins(b, thresholds[d])} bins per class straddle a threshold on {d}"
                    for d in rec.datasets for b in bins) + ". The counts are per sample, not from the bins.",
        "Predictions are the model's in evaluation mode after the epoch's last step (batch norm with its running "
        "statistics, no dropout), on the train split as on the others.",
    ]
    text, table = write_band_tables(fmt, title, count_tables(study, bands, rec.datasets), notes,
                                    tidy_counts(bands, ["dataset", "epoch", "split", "label"]), out_dir / stem)
    return text, [table, *files], len(rec.runs)


def count_tables(study, bands: pd.DataFrame, datasets: list[str]) -> list[TextTable]:
    """Per dataset: one line per epoch, split and class with its three band counts and their total."""
    tables = []
    for dataset in datasets:
        part = bands[bands["dataset"] == dataset]
        part = part.assign(split_order=part["split"].map(list(SPLIT_NAMES).index))
        part = part.sort_values(["epoch", "split_order", "label"], ascending=[True, True, False])
        lines = []
        for row in part.itertuples(index=False):
            r = row._asdict()
            line = {"epoch": str(r["epoch"]), "split": SPLIT_NAMES[r["split"]], "class": CLASS_NAMES[r["label"]]}
            for band in BAND_NAMES:
                line[BAND_LABELS[band]] = count_text(r[f"{band}_mean"], r[f"{band}_std"])
            line["total"] = count_text(sum(r[f"{band}_mean"] for band in BAND_NAMES))
            lines.append(line)
        tables.append(text_table(dataset_title(study, dataset), lines, text_columns=3))
    return tables


def draw(study, hist: pd.DataFrame, bands: pd.DataFrame, rec, settings: DistributionSettings, title: str,
         out_base: Path) -> list[Path]:
    """One row of panels per dataset and epoch; columns split × class (positives first, as the paper)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import NullFormatter

    columns = [(split, label) for split in settings.splits for label in (1, 0)]
    rows = [(d, e) for d in rec.datasets for e in sorted(set(bands.loc[bands["dataset"] == d, "epoch"]))]
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(3.3 * len(columns), 2.35 * len(rows) + 0.9),
                             squeeze=False, sharex=True, layout="constrained")
    for r, (dataset, epoch) in enumerate(rows):
        thresholds = thresholds_of(rec, dataset)
        for c, (split, label) in enumerate(columns):
            ax = axes[r][c]
            sel = lambda f: f[(f["dataset"] == dataset) & (f["epoch"] == epoch) & (f["split"] == split) & (f["label"] == label)]
            h, b = sel(hist).sort_values("bin"), sel(bands)
            ax.set_title(f"{study.paper_names.get(dataset, dataset)}: {SPLIT_NAMES[split]}, {CLASS_NAMES[label]}s, "
                         f"epoch {epoch}", fontsize=9)
            if h.empty or b.empty:
                ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes, color="gray")
                continue
            bins = int(h["bins"].iloc[0])
            colours = [BAND_COLOURS[n] for n in bin_bands(bins, label, thresholds)]
            ax.bar(h["bin"].to_numpy() / bins, h["count_mean"].to_numpy(), width=1 / bins, align="edge",
                   color=[colours[i] for i in h["bin"]], linewidth=0)
            for t in thresholds:   # the band boundaries in p: at p = t for negatives, 1 − t for positives
                ax.axvline(1 - t if label == 1 else t, color="0.4", linestyle=":", linewidth=0.8)
            row = b.iloc[0]
            for i, band in enumerate(BAND_NAMES):
                ax.text(0.98 if label == 0 else 0.02, 0.95 - 0.12 * i,
                        f"{band}: {count_text(row[f'{band}_mean'])}", transform=ax.transAxes, fontsize=7.5,
                        color=BAND_COLOURS[band], ha="right" if label == 0 else "left", va="top")
            top = max(1.0, float(h["count_mean"].max()))
            if settings.log_counts:   # from a count of 1 up, a third of the axis above the tallest bar for the counts
                ax.set_yscale("log")
                ax.set_ylim(0.8, top * (top / 0.8) ** 0.5)
                ax.yaxis.set_minor_formatter(NullFormatter())
            else:                     # the same headroom on a linear axis
                ax.set_ylim(0, 1.55 * top)
            ax.set_xlim(0, 1)
            ax.tick_params(labelsize=8)
            if c == 0:
                ax.set_ylabel("samples", fontsize=8)
            if r == len(rows) - 1:
                ax.set_xlabel("predicted probability p", fontsize=8)
    handles = [Patch(color=BAND_COLOURS[b], label=BAND_LABELS[b]) for b in BAND_NAMES]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=9, frameon=False)
    fit_suptitle(fig, title, fontsize=11)
    return save_figure(fig, out_base)


REPORTER = register(Reporter(
    name="bands_distribution", render=render, check=check,
    description="Figure 2: prediction histograms per epoch, split and class, coloured by difficulty band",
))
