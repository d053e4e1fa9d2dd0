"""`tfbench tune …` and `tfbench dashboard`: Optuna in the results database."""

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


tune_app = typer.Typer(
    help="Tune hyperparameters with Optuna (stored in the results database; see `tfbench dashboard`).",
    add_completion=False,
)
app.add_typer(tune_app, name="tune")


@tune_app.callback(invoke_without_command=True)
@user_errors
def tune(
    ctx: typer.Context,
    dataset: str = typer.Option("synthetic", "--dataset", help="Named dataset or a BARS-style folder"),
    model: str = typer.Option("tf4ctr", "--model", help="Model name (see `tfbench models`)"),
    space: Optional[str] = typer.Option(None, "--space", help="Search-space file [default: the file in studies/spaces/ that lists the model]"),
    trials: int = typer.Option(20, "--trials", help="Trials to add to the study in this command (shared out over --jobs)"),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Stop starting trials after this many seconds"),
    name: Optional[str] = typer.Option(None, "--name", help="Study name; the same name continues the study [default MODEL-DATASET]"),
    sampler: str = typer.Option("tpe", "--sampler", help="tpe, grid or random"),
    pruner: str = typer.Option("median", "--pruner", help="median, hyperband or none (prunes on each epoch's validation objective)"),
    jobs: int = typer.Option(1, "--jobs", help="Worker processes (or Ray tasks) sharing the study"),
    executor: str = typer.Option("local", "--executor", help="local (processes here) or ray (the workers as tasks on a Ray cluster; pip install tfbench[ray])"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster: auto or HOST:PORT [default: start Ray on this machine]"),
    gpus_per_run: float = typer.Option(0.0, "--gpus-per-run", help="GPUs each Ray task reserves"),
    cpus_per_run: int = typer.Option(1, "--cpus-per-run", help="CPUs each Ray task reserves (and its torch threads on the CPU)"),
    objective: str = typer.Option("AUC", "--objective", help="Validation objective to maximise: AUC, gAUC or AUC+gAUC"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of fixed settings under every trial (flat keys as in `tfbench show`)"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Maximum epochs per trial [default 100]"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Batch size [default 10000]"),
    monitor: Optional[str] = typer.Option(None, "--monitor", help="Early-stopping monitor of each trial: AUC, gAUC, AUC+gAUC, logloss [default AUC]"),
    synthetic_rows: Optional[int] = typer.Option(None, "--synthetic-rows", help="Rows of the synthetic dataset [default 100000]"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Training seed of every trial, and the sampler's seed [default 2023]"),
    heartbeat: int = typer.Option(60, "--heartbeat", help="Seconds between a trial's heartbeats; a trial silent for twice this is failed and retried"),
    start_from_base: bool = typer.Option(False, "--start-from-base", help="First evaluate the base settings themselves (e.g. the paper's), so the study holds the default to compare with"),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
):
    """Tune a model on a dataset; running the same command again continues the study."""
    if ctx.invoked_subcommand is not None:
        return
    from tfbench.cluster import RayOptions, check_executor
    from tfbench.config import RunConfig, load_config_file
    from tfbench.db.store import default_db_url
    from tfbench.tune.tuner import TuneRequest, base_for_tuning, load_request_space
    from tfbench.tune.tuner import tune as run_tune

    spec = load_request_space(space, model)
    file_values = load_config_file(config) if config else {}
    for k in ("dataset", "quick", "evaluate_test"):
        if k in file_values:
            raise TfbenchError(f"config file {config}: '{k}' is fixed by the tuner; use the command's options")
    values = {**spec.base, **file_values}
    cli = dict(dataset=dataset, model=model, epochs=epochs, batch_size=batch_size, monitor=monitor,
               synthetic_rows=synthetic_rows, seed=seed)
    base = RunConfig.from_dict({**values, **{k: v for k, v in cli.items() if v is not None}},
                               source=f"config file {config}" if config else "option")
    study_name = name or f"{model}-{Path(dataset).name if '/' in dataset else dataset}"
    req = TuneRequest(
        name=study_name, base=base_for_tuning(base), space=spec, trials=trials, timeout=timeout, sampler=sampler,
        pruner=pruner, jobs=jobs, objective=objective, heartbeat_s=heartbeat, db_url=db, device=device,
        data_dir=data_dir, start_from_base=start_from_base,
        ray=RayOptions(address, gpus_per_run, cpus_per_run) if executor == "ray" else None,
    )
    check_executor(executor, db or default_db_url())
    req.validate()

    def header():
        err_console.print(
            f"tuning study '{study_name}': {model} on {base.dataset}, space {spec.path} "
            f"({', '.join(p.name + ' ' + p.describe() for p in spec.params)}), {trials} trials, {sampler} sampler, "
            f"{pruner} pruner, objective validation {objective}, {jobs} {'Ray task' if executor == 'ray' else 'job'}(s)", highlight=False, soft_wrap=True,
        )

    summary = run_tune(req, on_start=header)
    states = ", ".join(f"{v} {k.lower()}" for k, v in sorted(summary.states.items())) or "none"
    console.print(f"study '{summary.name}': this command ran {states}; the study has {summary.total_trials} trials; "
                  f"{summary.seconds:.1f}s wall", highlight=False)
    if summary.best_number is not None:
        console.print(f"best so far: trial {summary.best_number}, validation {objective} {summary.best_value:.6f} "
                      f"{json.dumps(summary.best_settings, sort_keys=True)}", highlight=False, soft_wrap=True)
    if summary.states.get("FAIL"):
        raise typer.Exit(1)


@tune_app.command("best")
@user_errors
def tune_best(
    name: str = typer.Argument(..., help="Tuning study name"),
    export: Optional[Path] = typer.Option(None, "--export", help="Write the best configuration as a study file (five seeds) for `tfbench run`"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
):
    """Print the best trial's configuration (and export it as a study)."""
    import yaml

    from tfbench.tune.tuner import best_trial, export_study

    best = best_trial(name, db)
    console.print(
        f"[bold]{best.study}[/bold]: best trial {best.number} of {best.n_trials} ({best.n_complete} complete, "
        f"{best.n_pruned} pruned, {best.n_failed} failed); validation {best.objective} {best.value:.6f}; run key {best.run_key}",
        highlight=False,
    )
    console.print("searched: " + json.dumps(best.settings, sort_keys=True), highlight=False, soft_wrap=True)
    eff = best.config.effective_dict()
    console.print(yaml.safe_dump(eff, sort_keys=True, default_flow_style=None).rstrip(), highlight=False, soft_wrap=True)
    if export is not None:
        from tfbench.db import ResultStore

        # gAUC only where the dataset has a group field, as seen in the best trial's run
        row = ResultStore(db, read_only=True).get_by_key(best.run_key) if best.run_key else None
        gauc = row is None or row.valid_gauc is not None
        export_study(best, export, metrics=("AUC", "gAUC") if gauc else ("AUC",))
        err_console.print(f"wrote {export}; train it with: tfbench run {export}", highlight=False)


@tune_app.command("spaces")
@user_errors
def tune_spaces():
    """List the search-space files."""
    from tfbench.tune.space import list_spaces, load_space

    t = Table(show_header=True)
    for col in ("space", "models", "parameters", "file"):
        t.add_column(col)
    for p in list_spaces():
        s = load_space(p)
        t.add_row(s.name, ", ".join(s.models), "; ".join(f"{q.name} {q.describe()}" for q in s.params), str(p))
    console.print(t)


@app.command()
@user_errors
def dashboard(
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)"),
    port: int = typer.Option(8080, "--port", help="Port (0: any free port)"),
):
    """Serve the Optuna dashboard on the results database (Ctrl-C stops it)."""
    import signal
    import threading
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from optuna_dashboard import wsgi

    from tfbench.db import ResultStore
    from tfbench.db.connect import shown
    from tfbench.tune.storage import optuna_storage

    store = ResultStore(db)  # creates the file and tfbench's tables if needed, like every command
    # The dashboard mostly reads: plain transactions (WAL readers never wait for the tuners'
    # write lock), unlike the workers, which take the write lock up front.
    app_ = wsgi(optuna_storage(store.url, heartbeat_s=None, harden=False))

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):  # one line per request would drown the terminal
            pass

    class ThreadingServer(ThreadingMixIn, WSGIServer):
        daemon_threads = True  # a slow request neither blocks the others nor the shutdown

    try:
        server = make_server(host, port, app_, server_class=ThreadingServer, handler_class=QuietHandler)
    except OSError as e:
        raise TfbenchError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None

    def stop(_sig, _frame):
        # serve_forever() returns at its next poll; shutdown() must not run on the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    console.print(f"Optuna dashboard on {shown(store.url)}: http://{host}:{server.server_port}/ (Ctrl-C to stop)", highlight=False)
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    console.print("dashboard stopped", highlight=False)
