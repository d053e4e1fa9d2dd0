"""`tfbench datasets` and `tfbench data info|download|prepare`."""

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
def datasets(data_dir: Optional[str] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP)):
    """List the named datasets, their sizes and whether they are available here."""
    from tfbench.data import named_datasets, resolve_data_dir

    t = Table(title=f"data root: {resolve_data_dir(data_dir)}", show_header=True)
    for col in ("name", "rows", "available", "description", "path"):
        t.add_column(col)
    for d in named_datasets(data_dir):
        rows = d.get("rows")
        t.add_row(
            d["name"], f"{rows:,}" if isinstance(rows, int) else str(rows or ""),
            "yes" if d.get("available") else "no", d.get("description", ""), str(d.get("path") or ""),
        )
    console.print(t)


data_app = typer.Typer(help="The paper's datasets: download (`tfbench data download NAME`), prepare and show statistics (`tfbench data info NAME`).",
                       add_completion=False, no_args_is_help=True)
app.add_typer(data_app, name="data")


def _num(x) -> str:
    return "—" if x is None else f"{x:,}"


@data_app.command("info")
@user_errors
def data_info(
    name: str = typer.Argument(..., help="A named dataset: frappe, ml-tag, ml-1m, kkbox, criteo (or synthetic, frappe-nfm)"),
    min_count: Optional[int] = typer.Option(None, "--min-count", help="Values seen fewer times in train map to OOV [default: the paper's for this dataset]"),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
):
    """Prepare (or load from the cache) a dataset and print its statistics beside the paper's (Table III)."""
    _print_dataset_info(name, min_count, data_dir)


def _print_dataset_info(name: str, min_count: Optional[int], data_dir: Optional[str]):
    from tfbench.data.statistics import prepare_statistics

    st = prepare_statistics(name, min_count, data_dir)
    exp = st.expected
    console.print(
        f"[bold]{escape(st.name)}[/bold]  {escape(st.path)}  min_count {st.min_count}"
        f"  (cache {st.cache})", highlight=False,
    )
    t = Table(title="splits", show_header=True)
    for col in ("split", "rows", "paper rows", "positive rate"):
        t.add_column(col, justify="left" if col == "split" else "right")
    for split in st.splits:
        t.add_row(split.name, _num(split.rows), _num(exp.rows[split.name]) if exp else "—",
                  f"{split.positive_percent:.2f}%" if split.rows else "—")
    t.add_row("all", _num(st.rows), _num(sum(exp.rows.values())) if exp else "—",
              f"{st.positive_percent:.2f}% (paper {exp.positive_percent:.1f}%)" if exp else f"{st.positive_percent:.2f}%")
    console.print(t)
    t = Table(title="fields (vocabulary sizes include the padding and OOV entries)", show_header=True)
    for col in ("field", "kind", "vocabulary", "authors' run"):
        t.add_column(col, justify="right" if col in ("vocabulary", "authors' run") else "left")
    for f in st.fields:
        t.add_row(f.name, f.kind, _num(f.vocab_size), _num(f.authors_vocab))
    t.add_row("total", f"{st.num_fields} fields" + (f" (paper {exp.fields})" if exp else ""),
              _num(st.features), f"{_num(exp.run_features)} (Table III {_num(exp.features)})" if exp else "—")
    console.print(t)
    if exp is not None:
        if exp.note:
            console.print(f"note: {escape(exp.note)}", highlight=False)
        if st.paper_differences:
            console.print(f"differs from the paper: {escape('; '.join(st.paper_differences))}", highlight=False,
                          soft_wrap=True)
        else:
            console.print("matches the paper's statistics", highlight=False)


@data_app.command("download")
@user_errors
def data_download(
    name: str = typer.Argument(..., help="A named dataset: frappe, ml-tag, ml-1m, kkbox, criteo"),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
    force: bool = typer.Option(False, "--force", help="Download again even if the files are present (replaces the dataset's folder)"),
):
    """Download a dataset's public archive, verify its checksums and unpack it into the data root.

    A broken download is resumed by the same command. [env TFBENCH_DOWNLOAD_BASE: a mirror
    serving the archives under their file names]
    """
    from tfbench.data.download import download

    progress = _DownloadProgress(name)
    try:
        result = download(name, data_dir, force=force, progress=progress.update, on_url=progress.url)
    finally:
        progress.close()
    console.print(escape(result.summary()), highlight=False, soft_wrap=True)


class _DownloadProgress:
    """A rich progress bar on a terminal; elsewhere one line per 10%."""

    def __init__(self, name: str):
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        self.name = name
        self.live = err_console.is_terminal
        self.progress = Progress(
            TextColumn(f"[bold]{escape(name)}[/bold]"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), console=err_console, transient=False,
        )
        self.task = None
        self.started = False
        self.next_step = 0  # the next 10% step to print (plain output)
        self.first = True

    def url(self, url: str):
        err_console.print(f"{self.name}: fetching {url}", highlight=False, soft_wrap=True)
        self.next_step, self.first = 0, True
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None

    def update(self, done: int, total):
        if self.live:
            if not self.started:
                self.progress.start()
                self.started = True
            if self.task is None:
                self.task = self.progress.add_task("", total=total, completed=done)
            self.progress.update(self.task, completed=done, total=total)
            return
        if self.first and done:
            err_console.print(f"{self.name}: resuming at byte {done:,}", highlight=False)
        self.first = False
        if total:
            step = min(10, done * 10 // total)
            if step >= self.next_step:
                if step > 0:
                    err_console.print(f"{self.name}: {10 * step}% ({done:,} of {total:,} bytes)", highlight=False)
                self.next_step = step + 1
        elif done and done >= self.next_step * (64 << 20):  # size unknown: a line per 64 MiB
            err_console.print(f"{self.name}: {done:,} bytes", highlight=False)
            self.next_step = done // (64 << 20) + 1

    def close(self):
        if self.started:
            self.progress.stop()


@data_app.command("prepare")
@user_errors
def data_prepare(
    name: str = typer.Argument(..., help="A named dataset: frappe, ml-tag, ml-1m, kkbox, criteo (or synthetic, frappe-nfm)"),
    min_count: Optional[int] = typer.Option(None, "--min-count", help="Values seen fewer times in train map to OOV [default: the paper's for this dataset]"),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
):
    """Encode a downloaded dataset into the cache (train-only vocabularies) and print its statistics."""
    _print_dataset_info(name, min_count, data_dir)
