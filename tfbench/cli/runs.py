"""`tfbench runs` and `tfbench show`: the stored runs."""

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
from tfbench.errors import TfbenchError


@app.command()
@user_errors
def runs(
    study: Optional[str] = typer.Option(None, help="Only runs of this study (or of this Optuna tuning study)"),
    dataset: Optional[str] = typer.Option(None, help="Only runs on this dataset"),
    model: Optional[str] = typer.Option(None, help="Only runs of this model"),
    status: Optional[str] = typer.Option(None, help="Only runs with this status: running, done, failed, pruned"),
    limit: Optional[int] = typer.Option(None, help="Show only the last N runs"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
):
    """List stored runs."""
    from tfbench.db import ResultStore

    if status is not None and status not in ("running", "done", "failed", "pruned", "interrupted"):
        raise TfbenchError(f"--status must be running, done, failed, pruned or interrupted, got '{status}'")
    rows = ResultStore(db, read_only=True).list_runs(study=study, dataset=dataset, model=model, status=status, limit=limit)
    if not rows:
        console.print("no runs match")
        return
    t = Table(show_header=True)
    for col in ("id", "key", "study", "dataset", "model", "loss", "seed", "status", "val AUC", "test AUC", "test gAUC", "epochs", "train s", "finished"):
        t.add_column(col, justify="right" if col in ("id", "seed", "val AUC", "test AUC", "test gAUC", "epochs", "train s") else "left")
    for r in rows:
        plugged = bool(r.config.get("tf4ctr"))
        variant = r.model + (" tf4ctr" if plugged else "") + (
            f" {r.config.get('ssem')}+{r.config.get('dfm')}" if r.model == "tf4ctr" or plugged else "")
        t.add_row(
            str(r.id), r.key[:10], r.study or (f"{r.optuna_study} #{r.optuna_trial}" if r.optuna_study else ""), r.dataset, variant, r.loss, str(r.seed), r.status,
            fmt(r.valid_auc), fmt(r.test_auc), fmt(r.test_gauc), str(r.epochs_run or ""),
            "" if r.train_seconds is None else f"{r.train_seconds:.1f}",
            r.finished_at.strftime("%Y-%m-%d %H:%M") if r.finished_at else "",
        )
    console.print(t)


@app.command()
@user_errors
def show(
    run: str = typer.Argument(..., help="Run id or a unique prefix of its key"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
):
    """Show one run: its settings, epoch history and final metrics."""
    from tfbench.db import ResultStore

    row = ResultStore(db, read_only=True).find(run)
    if row is None:
        raise TfbenchError(f"no run with id or unique key prefix '{run}'")
    print_run(row)


def print_run(row):
    console.print(f"[bold]run {row.id}[/bold]  key {row.key}  status {row.status}  study {row.study or '—'}")
    console.print(
        f"dataset {row.dataset}  model {row.model}  loss {row.loss}  seed {row.seed}  device {row.device}  "
        f"threads {row.threads if row.threads is not None else '—'}  "
        f"torch {row.torch_version}  tfbench {row.tfbench_version}  commit {(row.git_commit or '—')[:10]}  "
        f"parameters {row.num_params if row.num_params is not None else '—'}"
    )
    console.print("config: " + json.dumps(row.config, sort_keys=True), soft_wrap=True, highlight=False)
    if row.error:
        console.print(f"[red]error:[/red] {row.error.splitlines()[0]}")
    if row.epochs:
        t = Table(title="epochs", show_header=True)
        for col in ("epoch", "train loss", "val AUC", "val gAUC", "val logloss", "lr", "seconds"):
            t.add_column(col, justify="right")
        for e in row.epochs:
            marker = " *" if e.epoch == row.best_epoch else ""
            t.add_row(
                f"{e.epoch}{marker}", fmt(e.train_loss), fmt(e.valid_auc), fmt(e.valid_gauc),
                fmt(e.valid_logloss), f"{e.learning_rate:.0e}", f"{e.seconds:.2f}",
            )
        console.print(t)
    if row.status == "done":
        print_summary(row, (row.finished_at - row.started_at).total_seconds())



def print_summary(row, wall_seconds: float):
    t = Table(title=f"run {row.id}  key {row.key}", show_header=True)
    t.add_column("split")
    for col in ("AUC", "gAUC", "logloss"):
        t.add_column(col, justify="right")
    t.add_row("valid", fmt(row.valid_auc), fmt(row.valid_gauc), fmt(row.valid_logloss))
    t.add_row("test", fmt(row.test_auc), fmt(row.test_gauc), fmt(row.test_logloss))
    console.print(t)
    per_epoch = row.train_seconds / row.epochs_run if row.epochs_run else float("nan")
    console.print(
        f"best epoch {row.best_epoch} of {row.epochs_run}; training {row.train_seconds:.1f}s "
        f"({per_epoch:.2f}s/epoch, {row.samples_per_second:,.0f} samples/s); "
        + (f"test inference {row.inference_seconds:.3f}s; " if row.inference_seconds is not None else "test split not evaluated; ")
        + f"{row.num_params:,} parameters; wall {wall_seconds:.1f}s"
    )

