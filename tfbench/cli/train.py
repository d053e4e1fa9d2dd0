"""`tfbench train`: one run. Its model, loss, data and schedule options are generated from the
settings schemas (``tfbench.cli.options``); ``--set NAME=VALUE`` reaches any setting by name."""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Optional

import typer

from tfbench.cli.common import DATA_DIR_HELP, DB_HELP, DEVICE_HELP, app, console, err_console, user_errors
from tfbench.cli.failures import sigterm_interrupts
from tfbench.cli.options import option_parameters, parse_set
from tfbench.cli.runs import print_run, print_summary
from tfbench.errors import TfbenchError

# The options written out here; every other option of `train` is generated from a schema.
FIXED_OPTIONS = [
    ("dataset", Optional[str], typer.Option(None, "--dataset", help="Named dataset (synthetic, frappe-nfm, frappe, ml-tag, ml-1m, kkbox, criteo; see `tfbench datasets`) [default: synthetic]", rich_help_panel="Data")),
    ("data", Optional[Path], typer.Option(None, "--data", help="A BARS-style folder (train.csv, valid.csv, test.csv) to use instead of --dataset", rich_help_panel="Data")),
    ("model", Optional[str], typer.Option(None, "--model", help="Model name (see `tfbench models`; `tfbench models NAME` lists its settings) [default: tf4ctr]", rich_help_panel="Model")),
    ("tf4ctr", Optional[bool], typer.Option(None, "--tf4ctr/--no-tf4ctr", help="deepfm, widedeep, xdeepfm: plug in TF4CTR (Table VIII): --ssem at the bottom, --dfm on top, explicit part = simple encoder, DNN = complex encoder; loss defaults to tf [default: off]", rich_help_panel="Model")),
    ("set_", Optional[list[str]], typer.Option(None, "--set", help="NAME=VALUE for any setting of the chosen model, loss or schedule (repeatable), checked against its schema")),
    ("config", Optional[Path], typer.Option(None, "--config", help="YAML file of settings (flat keys as in `tfbench show`); options given here override it")),
    ("study", Optional[str], typer.Option(None, "--study", help="Record the run under this study name")),
    ("force", bool, typer.Option(False, "--force", help="Retrain even if an identical run is done [default: off]")),
    ("device", str, typer.Option("auto", "--device", help=DEVICE_HELP)),
    ("db", Optional[str], typer.Option(None, "--db", help=DB_HELP)),
    ("data_dir", Optional[str], typer.Option(None, "--data-dir", help=DATA_DIR_HELP)),
]


def train(**options):
    """Train one model and store the run (reuses an identical finished run unless --force)."""
    from tfbench.config import RunConfig, load_config_file
    from tfbench.db import ResultStore
    from tfbench.runner import execute_run

    dataset, data, config = options.pop("dataset"), options.pop("data"), options.pop("config")
    study, force, device, db, data_dir = (options.pop(k) for k in ("study", "force", "device", "db", "data_dir"))
    if dataset is not None and data is not None:
        raise TfbenchError("give either --dataset or --data, not both")
    given = {k: v for k, v in options.items() if k != "set_" and v is not None}
    if data is not None or dataset is not None:
        given["dataset"] = str(data) if data is not None else dataset
    given.update(parse_set(options.get("set_")))
    values = load_config_file(config) if config else {}
    if config:  # the file's own values are checked with its name in the error
        RunConfig.from_dict(values, source=f"config file {config}")
    # settings given here must be read by the chosen model (strict); the file's may be for others
    cfg = RunConfig.from_dict({**values, **given}, strict=set(given) - {"dataset"})

    store = ResultStore(db)
    t_start = time.perf_counter()
    progress = EpochProgress(cfg.epochs)
    try:
        with sigterm_interrupts():  # SIGTERM stores the run as interrupted, like Ctrl-C
            outcome = execute_run(
                cfg, store, study=study, force=force, device=device, data_dir=data_dir,
                on_start=progress.start, on_epoch=progress.epoch,
                on_batch=progress.batch if progress.live else None,   # reading a batch's loss is a host sync
            )
    finally:
        progress.close()
    row = outcome.row
    if not outcome.trained:
        console.print(f"An identical run is already done (run {row.id}, key {row.key}); showing it. Use --force to retrain.")
        print_run(row)
    else:
        print_summary(row, time.perf_counter() - t_start)
    console.print(where_results_went(store.url, outcome.dataset.info), highlight=False, soft_wrap=True)


def where_results_went(db_url: str, data_info: dict) -> str:
    """The run's database (password masked; a SQLite file as its absolute path) and the dataset
    cache it used: the defaults are files in the working directory, which a new user would not guess."""
    import sqlalchemy as sa

    url = sa.engine.make_url(db_url)
    db = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        db += f" (file {Path(url.database).expanduser().absolute()})"
    entry, state = data_info.get("cache_path"), data_info.get("cache", "off")
    cache = (f"{Path(entry).parent} ({state}: {Path(entry).name})" if entry and state != "off"
             else "none (the cache is off)")
    return f"stored in {db}; dataset cache {cache}"


_fixed = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=o, annotation=t) for n, t, o in FIXED_OPTIONS]
_params = _fixed[:3] + [p for p in option_parameters()] + _fixed[3:]
train.__signature__ = inspect.Signature(_params)
train.__annotations__ = {p.name: p.annotation for p in _params}
app.command()(user_errors(train))


class EpochProgress:
    """A progress bar per epoch with the latest validation AUC."""

    def __init__(self, max_epochs: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.max_epochs = max_epochs
        self.live = err_console.is_terminal  # in logs and pipes: one plain line per epoch instead
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}[/bold]"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[val]}"), TimeElapsedColumn(),
            console=err_console, transient=False,
        )
        self.task = None
        self.last_val = ""

    def start(self, row, n_params):
        err_console.print(f"run {row.id} (key {row.key}): {row.model} on {row.dataset}, {n_params:,} parameters", highlight=False)
        if self.live:
            self.progress.start()

    def batch(self, epoch, b, n_batches, loss):
        if not self.live:
            return
        if self.task is None or self.progress.tasks[self.task].fields["epoch"] != epoch:
            if self.task is not None:
                self.progress.stop_task(self.task)
            self.task = self.progress.add_task("", total=n_batches, epoch=epoch, loss="", val=self.last_val)
        self.progress.update(self.task, completed=b, loss=f"{loss:.4f}")

    def epoch(self, record):
        m = record.valid
        self.last_val = f"val AUC {m['AUC']:.4f}" + (f" gAUC {m['gAUC']:.4f}" if "gAUC" in m else "") + (" *" if record.improved else "")
        if self.task is not None:
            self.progress.update(self.task, val=self.last_val, loss=f"{record.train_loss:.4f}")
        if not self.live:
            err_console.print(
                f"epoch {record.epoch}: train loss {record.train_loss:.4f}, {self.last_val}, "
                f"lr {record.learning_rate:.0e}, {record.seconds:.1f}s", highlight=False,
            )

    def close(self):
        if self.live:
            self.progress.stop()


