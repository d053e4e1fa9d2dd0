"""`tfbench studies`, `tfbench run` and `tfbench report`: the paper's study grids."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from tfbench.cli.common import DATA_DIR_HELP, DB_HELP, DEVICE_HELP, app, console, err_console, fmt, user_errors
from tfbench.cli.failures import sigterm_interrupts
from tfbench.errors import TfbenchError


def _resolve_plan(study_name, datasets, seeds, quick, data_dir, only=None):
    from tfbench.studies import expand, load_study, parse_seeds, select_cells
    from tfbench.studies.execute import plan_keys

    study = load_study(study_name)
    ds = [d.strip() for d in datasets.split(",") if d.strip()] if datasets else None
    plan = expand(study, datasets=ds, seeds=parse_seeds(seeds, study.seeds), quick=quick)
    plan = select_cells(study, plan, only)
    keys = plan_keys(plan, data_dir)
    return study, plan, keys


@app.command()
@user_errors
def studies():
    """List the study definitions (a broken file is reported on its own line; the rest are listed)."""
    from tfbench.studies import list_studies, load_study

    t = Table(show_header=True)
    for col in ("study", "kind", "axes", "datasets", "seeds", "runs", "file"):
        t.add_column(col)
    broken = []
    for path in list_studies():
        try:
            s = load_study(str(path))
        except TfbenchError as e:
            broken.append(str(e))
            continue
        kind = s.kind if s.report is None else f"{s.kind} ({s.report})"
        if not s.trains:
            t.add_row(s.name, kind, "—", ",".join(s.datasets) or "—", "—", "0", str(path))
            continue
        cells = 1
        for values in s.grid.values():
            cells *= len(values)
        t.add_row(s.name, kind, " x ".join(f"{a}({len(v)})" for a, v in s.grid.items()), ",".join(s.datasets),
                  str(len(s.seeds)), str(cells * len(s.seeds) * len(s.datasets)), str(path))
    console.print(t)
    for message in broken:
        err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    if broken:
        raise typer.Exit(1)


@app.command()
@user_errors
def run(
    study: str = typer.Argument(..., help="Study name (see `tfbench studies`) or a study YAML file"),
    datasets: Optional[str] = typer.Option(None, "--datasets", help="Comma-separated datasets instead of the study's, e.g. frappe-nfm,synthetic"),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="A count (3: the first three seeds) or a list (2023,2024; one seed: 2023,)"),
    quick: bool = typer.Option(False, "--quick", help="Shrunken smoke runs (recorded as quick; never mixed with full runs in reports)"),
    only: Optional[list[str]] = typer.Option(None, "--only", help="Run only the cells with these labels, AXIS=LABEL[,LABEL] (repeatable), e.g. --only model=DCNv2,EDCN"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and stop"),
    estimate: bool = typer.Option(False, "--estimate", help="With --dry-run: predict the wall time from the database's stored runs (any dataset) instead of listing the plan"),
    workers: int = typer.Option(1, "--workers", min=1, help="With --estimate: workers (GPUs, Ray tasks) the runs are spread over"),
    jobs: int = typer.Option(1, "--jobs", min=1, help="Runs to train in parallel processes"),
    seed_batch: int = typer.Option(1, "--seed-batch", min=1, help="Train up to this many seeds of a cell at once as "
                                   "one stacked model (each stored as its own run); 1: one run at a time"),
    executor: str = typer.Option("local", "--executor", help="local (processes here) or ray (tasks on a Ray cluster; pip install tfbench[ray])"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster: auto or HOST:PORT [default: start Ray on this machine]"),
    gpus_per_run: float = typer.Option(0.0, "--gpus-per-run", help="GPUs each Ray task reserves (fractions share a GPU)"),
    cpus_per_run: int = typer.Option(1, "--cpus-per-run", help="CPUs each Ray task reserves (and its torch threads on the CPU)"),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
):
    """Run a study's grid: skip runs already done, train the rest, record failures and go on."""
    from tfbench.cluster import RayOptions, check_executor
    from tfbench.db import ResultStore
    from tfbench.studies import load_study
    from tfbench.studies.execute import DONE, ELSEWHERE, FAILED, SKIPPED, register, run_plan

    definition = load_study(study)
    if not definition.trains:   # e.g. fig5, computed from the loss: say so rather than plan zero runs
        console.print(f"{definition.name}: nothing to train for this study (kind {definition.kind}: its report is "
                      f"computed, not trained); `tfbench report {definition.name}` draws it",
                      highlight=False, soft_wrap=True)
        return
    if estimate:
        if not dry_run:
            raise TfbenchError("--estimate goes with --dry-run")
        return _print_estimate(study, datasets, seeds, quick, only, workers, db)
    spec, plan, keys = _resolve_plan(study, datasets, seeds, quick, data_dir, only)
    store = ResultStore(db)
    check_executor(executor, store.url)
    if executor == "ray" and seed_batch > 1:
        raise TfbenchError("--seed-batch goes with the local executor only (a Ray task trains one run)")
    ray = RayOptions(address, gpus_per_run, cpus_per_run) if executor == "ray" else None
    status = store.statuses(keys)
    n_done = sum(1 for k in keys if status.get(k) == "done")
    console.print(
        f"[bold]{spec.name}[/bold]: {len(plan)} runs ({len(set(p.dataset for p in plan))} datasets x "
        f"{len(plan) // max(1, len(set(p.dataset for p in plan)) * len(set(p.seed for p in plan)))} cells x "
        f"{len(set(p.seed for p in plan))} seeds){' (quick)' if quick else ''}; {n_done} already done, {len(plan) - n_done} to run",
        highlight=False,
    )
    if dry_run:
        t = Table(show_header=True)
        for col in ("#", "dataset", *spec.axes, "seed", "key", "status"):
            t.add_column(col)
        for i, (item, key) in enumerate(zip(plan, keys), 1):
            cell = item.cell_dict
            t.add_row(str(i), item.dataset, *[cell[a] for a in spec.axes], str(item.seed), key[:12], status.get(key, "todo"))
        console.print(t)
        return
    register(store, plan, keys)
    t0 = time.perf_counter()

    def on_update(progress, item, kind, msg):
        c = progress.counts
        head = f"[{c[DONE] + c[SKIPPED]}/{progress.total} done, {c[FAILED]} failed, {progress.left} left]"
        if item is None:
            return
        if kind == "running":
            err_console.print(f"{head} running {item.describe()}", highlight=False)
        elif kind == FAILED:
            err_console.print(f"{head} [red]failed[/red] {item.describe()}: {msg.splitlines()[0] if msg else ''}", highlight=False)
        elif kind == ELSEWHERE:
            err_console.print(f"{head} in progress elsewhere: {item.describe()}", highlight=False)
        else:
            err_console.print(f"{head} {kind} {item.describe()} {msg}", highlight=False)

    def on_epoch(item, rec):
        m = rec.valid
        err_console.print(
            f"    epoch {rec.epoch}: val AUC {m['AUC']:.4f}" + (f" gAUC {m['gAUC']:.4f}" if "gAUC" in m else "")
            + (" *" if rec.improved else ""), highlight=False,
        )

    with sigterm_interrupts():  # SIGTERM stores the runs under way as interrupted, like Ctrl-C
        progress = run_plan(plan, keys, store, jobs=jobs, device=device, data_dir=data_dir,
                            on_update=on_update, on_epoch=on_epoch if jobs == 1 and ray is None else None,
                            seed_batch=seed_batch, ray=ray,
                            on_note=lambda note: err_console.print(f"    {note}", highlight=False, soft_wrap=True))
    c = progress.counts
    console.print(
        f"{spec.name}: {c[DONE]} trained, {c[SKIPPED]} already done, {c[FAILED]} failed, "
        f"{c[ELSEWHERE]} in progress elsewhere; {time.perf_counter() - t0:.1f}s wall", highlight=False,
    )
    if c[FAILED]:
        raise typer.Exit(1)


def _print_estimate(study_name, datasets, seeds, quick, only, workers, db) -> None:
    from tfbench.db import ResultStore
    from tfbench.studies import expand, load_study, parse_seeds, select_cells
    from tfbench.studies.estimate import estimate

    study = load_study(study_name)
    ds = [d.strip() for d in datasets.split(",") if d.strip()] if datasets else None
    plan = select_cells(study, expand(study, datasets=ds, seeds=parse_seeds(seeds, study.seeds), quick=quick), only)
    try:
        est = estimate(plan, ResultStore(db).list_runs(), workers)
    except ValueError as e:
        raise TfbenchError(str(e)) from None
    t = Table(show_header=True)
    for col in ("model", "s per 1M samples", "epochs (median)", "stored runs"):
        t.add_column(col)
    for m, (sps, ep, n) in sorted(est.per_model.items()):
        t.add_row(m, f"{sps * 1e6:.1f}", f"{ep:g}", str(n))
    console.print(t)
    console.print(
        f"{study.name}: {est.runs} runs, {est.run_seconds / 3600:.1f} run-hours; on {workers} worker(s) about "
        f"{est.wall_seconds / 3600:.1f} h wall (at the stored runs' speed: same hardware assumed)"
        + (f"; no stored runs of {', '.join(sorted(est.unmeasured))}: the median model used" if est.unmeasured else ""),
        highlight=False, soft_wrap=True)


@app.command()
@user_errors
def report(
    study: str = typer.Argument(..., help="Study name or study YAML file"),
    fmt: str = typer.Option("markdown", "--format", help="markdown, latex or csv"),
    metric: Optional[str] = typer.Option(None, "--metric", help="Only this metric (AUC, gAUC, logloss) [default: the study's]"),
    out: Path = typer.Option(Path("reports"), "--out", help="Folder for the table and figures"),
    datasets: Optional[str] = typer.Option(None, "--datasets", help="Comma-separated datasets [default: those with finished runs]"),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Only these seeds (a list; one seed: 2023,) or the first N"),
    quick: Optional[bool] = typer.Option(None, "--quick/--full", help="Report the quick smoke runs or the full runs [default: full runs, or the quick ones when the study has no full run]"),
    paired: bool = typer.Option(False, "--paired", help="Paired t-test over shared seeds instead of Welch's"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
):
    """Rebuild a study's table (and figures) from the database, our numbers beside the paper's."""
    from tfbench.db import ResultStore
    from tfbench.report.study_report import write_report
    from tfbench.studies import load_study, parse_seeds

    if fmt not in ("markdown", "latex", "csv"):
        raise TfbenchError(f"--format must be markdown, latex or csv, got '{fmt}'")
    if metric is not None and metric not in ("AUC", "gAUC", "logloss"):
        raise TfbenchError(f"--metric must be AUC, gAUC or logloss, got '{metric}'")
    spec = load_study(study)
    ds = [d.strip() for d in datasets.split(",") if d.strip()] if datasets else None
    seed_list = parse_seeds(seeds, spec.seeds) if seeds else None
    # A computed (analytic) study reads no runs: it needs no database. The others only read one:
    # it must exist, and is neither created nor changed.
    store = ResultStore(db, read_only=True) if spec.trains else None
    if quick is None and spec.trains:  # never mix: take the full runs if there are any, else the quick ones
        from tfbench.report.study_report import gather

        quick = gather(spec, store, quick=False).empty and not gather(spec, store, quick=True).empty
    quick = bool(quick)
    text, files, n = write_report(spec, store, fmt=fmt, out_dir=out, metric=metric, datasets=ds,
                                  quick=quick, paired=paired, seeds=seed_list)
    if not files:
        console.print(text, highlight=False)
        return
    print(text)
    for f in files:
        err_console.print(f"wrote {f}", highlight=False)

