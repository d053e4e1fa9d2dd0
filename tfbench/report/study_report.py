"""From the results database to a study's report: gather finished runs, then tables and figures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tfbench.atomic import write_text
from tfbench.config import run_key
from tfbench.db import ResultStore
from tfbench.errors import ConfigError
from tfbench.report.stats import PAIRED, WELCH, paired_by_seed, summarize, ttest
from tfbench.report.tables import TableLayout, render_table
from tfbench.report.text import p_phrase
from tfbench.studies.plan import run_config
from tfbench.studies.spec import Study

METRIC_COLUMNS = {"AUC": "test_auc", "gAUC": "test_gauc", "logloss": "test_logloss"}


def gather(study: Study, store: ResultStore, *, quick: bool = False, seeds: tuple[int, ...] | None = None) -> pd.DataFrame:
    """One row per finished run of the study: dataset, one column per grid axis (its label), seed, test metrics.

    Quick runs and full runs never mix: ``quick`` selects one kind. Only runs of the study's
    current definition count: a run whose content key no longer matches its cell's configuration
    (the study file changed a setting since it ran) is left out, so a report never averages two
    versions of a cell; ``attrs["outdated"]`` says how many were left out."""
    records = []
    outdated = 0
    for link, row in store.study_runs(study.name):
        if row is None or row.status != "done" or bool(link.quick) != quick:
            continue
        if seeds is not None and link.seed not in seeds:
            continue
        if not _current(study, link, row):
            outdated += 1
            continue
        rec = {"dataset": link.dataset, "seed": link.seed, "key": link.key}
        rec.update(link.cell)
        for metric, col in METRIC_COLUMNS.items():
            rec[metric] = getattr(row, col)
        records.append(rec)
    columns = ["dataset", *study.axes, "seed", "key", *METRIC_COLUMNS]
    frame = pd.DataFrame.from_records(records, columns=columns)
    frame.attrs["outdated"] = outdated
    return frame


def _current(study: Study, link, row) -> bool:
    """Whether the run is the one the study, as defined now, plans for its cell (same content key)."""
    if set(link.cell) != set(study.axes) or any(link.cell[a] not in study.grid[a] for a in study.axes):
        return False                                   # the cell is no longer on the grid
    try:
        config = run_config(study, link.dataset, dict(link.cell), link.seed, bool(link.quick))
    except ConfigError:
        return False
    return run_key(row.dataset_fingerprint, config) == link.key


def layout_for(study: Study, metrics: list[str], paired: bool = False) -> TableLayout:
    return TableLayout(
        title=study.title,
        row_axis=study.rows,
        col_axis=study.columns,
        row_order=list(study.grid[study.rows]),
        col_order=list(study.grid[study.columns]) if study.columns else [],
        metrics=metrics,
        delta_row=study.delta_row,
        delta_column=study.delta_column,
        test_row=study.test_row,
        average_datasets=study.average_datasets,
        paired=paired,
    )


def best_vs_runner_up(results: pd.DataFrame, study: Study, metrics: list[str], paired: bool) -> list[str]:
    """Per dataset and metric: the two best cells by mean, compared with a two-tailed t-test over seeds."""
    notes = []
    by = [a for a in (study.rows, study.columns) if a]
    for dataset, part in results.groupby("dataset", sort=False):
        summary = summarize(part, by=by, metrics=metrics)
        for m in metrics:
            ranked = summary.dropna(subset=[f"{m}_mean"]).sort_values(f"{m}_mean", ascending=(m == "logloss"))
            if len(ranked) < 2:
                continue
            cells = [tuple(ranked.iloc[i][a] for a in by) for i in range(2)]
            series = []
            for cell in cells:
                mask = pd.Series(True, index=part.index)
                for a, v in zip(by, cell):
                    mask &= part[a] == v
                series.append(part[mask].set_index("seed")[m])
            if paired:
                a, b = paired_by_seed(series[0], series[1])
                t = ttest(a, b, paired=True)
            else:
                t = ttest(series[0].to_numpy(), series[1].to_numpy())
            name = lambda c: "+".join(str(x) for x in c)
            notes.append(
                f"{dataset} {m}: best {name(cells[0])} vs runner-up {name(cells[1])}: "
                f"{p_phrase(t.pvalue, t.n_a, t.n_b)} ({t.test}, n = {t.n_a} and {t.n_b})"
            )
    return notes


def write_report(
    study: Study, store: ResultStore, *, fmt: str, out_dir: Path, metric: str | None = None,
    datasets: list[str] | None = None, quick: bool = False, paired: bool = False,
    seeds: tuple[int, ...] | None = None,
) -> tuple[str, list[Path], int]:
    """Render the study's table (and figures for figure studies). Returns (text, files written, runs used).

    A study that names a ``report`` is handed to that reporter (:mod:`tfbench.report.special`),
    with the same options except ``metric`` and ``paired``, which belong to the grid table."""
    if study.report is not None:
        from tfbench.report.special import get_reporter

        return get_reporter(study.report).render(study, store, fmt=fmt, out_dir=out_dir, datasets=datasets,
                                                 quick=quick, seeds=seeds)
    results = gather(study, store, quick=quick, seeds=seeds)
    outdated = results.attrs.get("outdated", 0)
    metrics = [metric] if metric else list(study.metrics)
    present = list(dict.fromkeys(results["dataset"]))
    ordered = datasets or [d for d in study.datasets if d in present] + [d for d in present if d not in study.datasets]
    if results.empty or not ordered:
        kind = "quick" if quick else "full"
        return f"nothing has been run for study '{study.name}' yet ({kind} runs; `tfbench run {study.name}` first)", [], 0
    results = results[results["dataset"].isin(ordered)]
    notes = [
        f"{len(results)} finished {'quick ' if quick else ''}runs; test-split metrics.",
        f"Comparisons use the {PAIRED if paired else WELCH} over seeds.",
    ]
    if outdated:
        notes.append(f"{outdated} finished runs of an earlier definition of this study "
                     f"(other settings for their cell) are left out.")
    if study.test_row is None:   # with a test_row the table carries its own p-values (and notes them)
        notes += best_vs_runner_up(results, study, metrics, paired)
    if quick:
        notes.insert(0, "QUICK smoke runs (shrunken epochs/data): not comparable with the paper.")
    text = render_table(results, layout_for(study, metrics, paired), datasets=ordered, paper=study.paper,
                        paper_names=study.paper_names, fmt=fmt, notes=notes)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = study.name + ("_quick" if quick else "")
    suffix = {"markdown": ".md", "latex": ".tex", "csv": ".csv"}[fmt]
    table_path = out_dir / (stem + suffix)
    write_text(table_path, text)
    files = [table_path]
    if study.kind == "figure":
        from tfbench.report.figures import render_sweep

        for m in metrics:
            files += render_sweep(
                results, axis=study.rows, axis_label=study.axis_label, metric=m, datasets=ordered,
                title=study.title + (" [quick smoke runs]" if quick else ""), out_base=out_dir / f"{stem}_{m}", paper_names=study.paper_names,
                order=list(study.grid[study.rows]),
            )
    return text, files, len(results)
