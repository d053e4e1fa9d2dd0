"""The ``tfbench`` command line (Typer)."""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tfbench.errors import TfbenchError

app = typer.Typer(
    help="tfbench: benchmark and ablation harness for TF4CTR (Twin Focus Framework for CTR prediction).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (files, CI logs, tests) gets a wide console so that tables are not squeezed.
console = Console() if sys.stdout.isatty() else Console(width=220)
err_console = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=220)

DB_HELP = "Results database: any SQLAlchemy URL [env TFBENCH_DB; default sqlite:///results.db]"
DATA_DIR_HELP = "Root folder of the named datasets [env TFBENCH_DATA_DIR; default ./data]"


def user_errors(fn):
    """Report TfbenchError as one line on stderr with exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from tfbench.db import RunInProgress

        try:
            return fn(*args, **kwargs)
        except (TfbenchError, RunInProgress) as e:
            err_console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True, highlight=False)
            raise typer.Exit(2)

    return wrapper


def _fmt(x, digits=4):
    return "—" if x is None else f"{x:.{digits}f}"


# ---------------------------------------------------------------------------------------- train
@app.command()
@user_errors
def train(
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Named dataset (synthetic, frappe-nfm, frappe, ml-tag, ml-1m, kkbox, criteo; see `tfbench datasets`) [default synthetic]"),
    data: Optional[Path] = typer.Option(None, "--data", help="A BARS-style folder (train.csv, valid.csv, test.csv) to use instead of --dataset"),
    model: Optional[str] = typer.Option(None, "--model", help="Model name (see `tfbench models`) [default tf4ctr]"),
    ssem: Optional[str] = typer.Option(None, "--ssem", help="Sample Selection Embedding Module: SER, GM, MoE, Share [default SER]"),
    dfm: Optional[str] = typer.Option(None, "--dfm", help="Dynamic Fusion Module: WSF, VF, CF, MoEF, Sum [default WSF]"),
    loss: Optional[str] = typer.Option(None, "--loss", help="Loss: tf, logloss, focal, rce (see `tfbench losses`) [default: tf for tf4ctr, logloss otherwise]"),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="Twin Focus α ∈ [0,1] [default 0.25]"),
    c: Optional[float] = typer.Option(None, "--c", help="Twin Focus c ∈ [0,1] [default 0.8]"),
    gamma: Optional[float] = typer.Option(None, "--gamma", help="Twin Focus γ ≥ 0 [default 1]"),
    focal_gamma: Optional[float] = typer.Option(None, "--focal-gamma", help="Focal loss γ_f ≥ 0 [default 2]"),
    focal_alpha: Optional[float] = typer.Option(None, "--focal-alpha", help="Focal loss α ∈ [0,1] for positives (1−α for negatives); -1 = no class weighting [default -1]"),
    rce_beta: Optional[float] = typer.Option(None, "--rce-beta", help="R-CE β ≥ 0 of the weight p_t^β [default 0.25]"),
    embedding_dim: Optional[int] = typer.Option(None, "--embedding-dim", help="Embedding dimension [default 16]"),
    mlp_s: Optional[str] = typer.Option(None, "--mlp-s", help="Simple encoder hidden units of tf4ctr/dualmlp, e.g. 400,400 [default 400]"),
    mlp_c: Optional[str] = typer.Option(None, "--mlp-c", help="Complex encoder hidden units; the main DNN of dnn/widedeep/deepfm/dcn/dcnv2/xdeepfm/autoint+/afn+/cl4ctr, the head of dlf (edcn and eulernet have none) [default 400,400,400]"),
    dropout: Optional[float] = typer.Option(None, "--dropout", help="Dropout in every MLP [default 0.2]"),
    batch_norm: Optional[bool] = typer.Option(None, "--batch-norm/--no-batch-norm", help="Batch-norm in every MLP [default on]"),
    vf_tau: Optional[float] = typer.Option(None, "--vf-tau", help="Gumbel-softmax temperature of VF [default 0.8]"),
    vf_eval: Optional[str] = typer.Option(None, "--vf-eval", help="tf4ctr, VF at evaluation: softmax (deterministic softmax(π/τ)) or gumbel (Gumbel noise at evaluation too, as the authors' code) [default softmax]"),
    plugin_fm: Optional[str] = typer.Option(None, "--plugin-fm", help="deepfm --tf4ctr, FM term: authors (the authors' TF4CTRv2_DeepFM: FM over the flat easy vector, one number per batch) or fields (per-row FM over field embeddings) [default authors]"),
    tf4ctr: Optional[bool] = typer.Option(None, "--tf4ctr/--no-tf4ctr", help="deepfm, widedeep, xdeepfm: plug in TF4CTR (Table VIII): --ssem at the bottom, --dfm on top, explicit part = simple encoder, DNN = complex encoder; loss defaults to tf [default off]"),
    num_cross_layers: Optional[int] = typer.Option(None, "--num-cross-layers", help="Cross layers of dcn/dcnv2; cross and deep layers of edcn [default 3]"),
    cin_layers: Optional[str] = typer.Option(None, "--cin-layers", help="xdeepfm: feature maps of each CIN layer, e.g. 16,16 [default 16,16]"),
    attention_layers: Optional[int] = typer.Option(None, "--attention-layers", help="autoint+: interacting (self-attention) layers [default 2]"),
    num_heads: Optional[int] = typer.Option(None, "--num-heads", help="autoint+: attention heads per layer [default 2]"),
    attention_dim: Optional[int] = typer.Option(None, "--attention-dim", help="autoint+: width of an interacting layer, all heads together; a multiple of --num-heads [default 40]"),
    attention_scale: Optional[bool] = typer.Option(None, "--attention-scale/--no-attention-scale", help="autoint+: divide attention scores by sqrt(head size) [default off]"),
    attention_layer_norm: Optional[bool] = typer.Option(None, "--attention-layer-norm/--no-attention-layer-norm", help="autoint+: LayerNorm in every interacting layer [default off]"),
    afn_log_neurons: Optional[int] = typer.Option(None, "--afn-log-neurons", help="afn+: logarithmic neurons [default 1200]"),
    afn_hidden_units: Optional[str] = typer.Option(None, "--afn-hidden-units", help="afn+: hidden units of the MLP after the logarithmic layer [default 400,400,400]"),
    afn_dropout: Optional[float] = typer.Option(None, "--afn-dropout", help="afn+: dropout of the MLP after the logarithmic layer; -1 = --dropout [default -1]"),
    edcn_bridge: Optional[str] = typer.Option(None, "--edcn-bridge", help="edcn: bridge module: hadamard_product, pointwise_addition, concatenation, attention_pooling [default hadamard_product]"),
    edcn_tau: Optional[float] = typer.Option(None, "--edcn-tau", help="edcn: temperature τ > 0 of the regulation gates [default 1]"),
    euler_orders: Optional[str] = typer.Option(None, "--euler-orders", help="eulernet: order vectors of each Euler interaction layer, e.g. 52 or 30,30 [default 52]"),
    cl_weight: Optional[float] = typer.Option(None, "--cl-weight", help="cl4ctr: weight α ≥ 0 of the contrastive loss [default 1]"),
    alignment_weight: Optional[float] = typer.Option(None, "--alignment-weight", help="cl4ctr: weight β ≥ 0 of feature alignment [default 0.01]"),
    uniformity_weight: Optional[float] = typer.Option(None, "--uniformity-weight", help="cl4ctr: weight γ ≥ 0 of field uniformity [default 0.01]"),
    cl4ctr_full_table: Optional[bool] = typer.Option(None, "--cl4ctr-full-table/--no-cl4ctr-full-table", help="cl4ctr: alignment and uniformity over the whole embedding table (the authors' compute_cl_loss_all) instead of the batch [default off]"),
    dlf_layers: Optional[int] = typer.Option(None, "--dlf-layers", help="dlf: DLF layers [default 3]"),
    dlf_tokens: Optional[int] = typer.Option(None, "--dlf-tokens", help="dlf: output tokens of each block (linear-compress, FM, first-order-aware) [default 32]"),
    dlf_rank: Optional[int] = typer.Option(None, "--dlf-rank", help="dlf: rank of the FM blocks' inner-product compression [default 24]"),
    dlf_hidden: Optional[int] = typer.Option(None, "--dlf-hidden", help="dlf: hidden units of the FM blocks' MLPs [default 512]"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Maximum epochs [default 100]"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Batch size [default 10000]"),
    learning_rate: Optional[float] = typer.Option(None, "--lr", "--learning-rate", help="Adam learning rate [default 1e-3]"),
    embedding_regularizer: Optional[float] = typer.Option(None, "--emb-reg", "--embedding-regularizer", help="λ of (λ/2)·‖E‖² on every embedding table [default 0.01]"),
    net_regularizer: Optional[float] = typer.Option(None, "--net-reg", "--net-regularizer", help="λ of (λ/2)·‖θ‖² on every non-embedding parameter [default 0]"),
    clip_norm: Optional[float] = typer.Option(None, "--clip-norm", help="Gradient-norm clipping threshold [default 10]"),
    patience: Optional[int] = typer.Option(None, "--patience", help="Early-stopping patience in epochs [default 2]"),
    eval_steps: Optional[int] = typer.Option(None, "--eval-steps", help="Evaluate every N optimizer steps instead of after every pass; epochs, patience and the lr decay then count these rounds [default 0: per pass]"),
    monitor: Optional[str] = typer.Option(None, "--monitor", help="Validation monitor: AUC, gAUC, AUC+gAUC, logloss [default AUC]"),
    min_count: Optional[int] = typer.Option(None, "--min-count", help="Values seen fewer times in train map to OOV [default 2]"),
    split_seed: Optional[int] = typer.Option(None, "--split-seed", help="Seed of the random 7:2:1 split [default 2023]"),
    synthetic_rows: Optional[int] = typer.Option(None, "--synthetic-rows", help="Rows of the synthetic dataset [default 100000]"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Training seed [default 2023]"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of settings (flat keys as in `tfbench show`); options given here override it"),
    study: Optional[str] = typer.Option(None, "--study", help="Record the run under this study name"),
    force: bool = typer.Option(False, "--force", help="Retrain even if an identical run is done"),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
):
    """Train one model and store the run (reuses an identical finished run unless --force)."""
    from tfbench.config import RunConfig, load_config_file
    from tfbench.db import ResultStore
    from tfbench.runner import execute_run

    if dataset is not None and data is not None:
        raise TfbenchError("give either --dataset or --data, not both")
    values = load_config_file(config) if config else {}
    cli_values = dict(
        dataset=str(data) if data is not None else dataset, model=model, ssem=ssem, dfm=dfm, loss=loss,
        alpha=alpha, c=c, gamma=gamma, focal_gamma=focal_gamma, focal_alpha=focal_alpha, rce_beta=rce_beta,
        embedding_dim=embedding_dim, mlp_s=mlp_s, mlp_c=mlp_c, dropout=dropout, batch_norm=batch_norm,
        vf_tau=vf_tau, vf_eval=vf_eval, plugin_fm=plugin_fm, tf4ctr=tf4ctr, num_cross_layers=num_cross_layers, cin_layers=cin_layers,
        attention_layers=attention_layers, num_heads=num_heads, attention_dim=attention_dim,
        attention_scale=attention_scale, attention_layer_norm=attention_layer_norm, afn_log_neurons=afn_log_neurons,
        afn_hidden_units=afn_hidden_units, afn_dropout=afn_dropout,
        edcn_bridge=edcn_bridge, edcn_tau=edcn_tau, euler_orders=euler_orders, cl_weight=cl_weight,
        alignment_weight=alignment_weight, uniformity_weight=uniformity_weight,
        cl4ctr_full_table=cl4ctr_full_table, dlf_layers=dlf_layers,
        dlf_tokens=dlf_tokens, dlf_rank=dlf_rank, dlf_hidden=dlf_hidden, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, embedding_regularizer=embedding_regularizer,
        net_regularizer=net_regularizer, clip_norm=clip_norm, patience=patience, eval_steps=eval_steps, monitor=monitor,
        min_count=min_count, split_seed=split_seed, synthetic_rows=synthetic_rows, seed=seed,
    )
    file_cfg = RunConfig.from_dict(values, source=f"config file {config}") if config else RunConfig()
    cfg = RunConfig.from_dict({**file_cfg.to_dict(), **{k: v for k, v in cli_values.items() if v is not None}})

    store = ResultStore(db)
    t_start = time.perf_counter()
    progress = _EpochProgress(cfg.epochs)
    try:
        outcome = execute_run(
            cfg, store, study=study, force=force, device=device, data_dir=data_dir,
            on_start=progress.start, on_batch=progress.batch, on_epoch=progress.epoch,
        )
    finally:
        progress.close()
    row = outcome.row
    if not outcome.trained:
        console.print(f"An identical run is already done (run {row.id}, key {row.key}); showing it. Use --force to retrain.")
        _print_run(row)
        return
    _print_summary(row, time.perf_counter() - t_start)


class _EpochProgress:
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


def _print_summary(row, wall_seconds: float):
    t = Table(title=f"run {row.id}  key {row.key}", show_header=True)
    t.add_column("split")
    for col in ("AUC", "gAUC", "logloss"):
        t.add_column(col, justify="right")
    t.add_row("valid", _fmt(row.valid_auc), _fmt(row.valid_gauc), _fmt(row.valid_logloss))
    t.add_row("test", _fmt(row.test_auc), _fmt(row.test_gauc), _fmt(row.test_logloss))
    console.print(t)
    per_epoch = row.train_seconds / row.epochs_run if row.epochs_run else float("nan")
    console.print(
        f"best epoch {row.best_epoch} of {row.epochs_run}; training {row.train_seconds:.1f}s "
        f"({per_epoch:.2f}s/epoch, {row.samples_per_second:,.0f} samples/s); "
        + (f"test inference {row.inference_seconds:.3f}s; " if row.inference_seconds is not None else "test split not evaluated; ")
        + f"{row.num_params:,} parameters; wall {wall_seconds:.1f}s"
    )


# ---------------------------------------------------------------------------------------- studies
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
    """List the study definitions."""
    from tfbench.studies import list_studies, load_study

    t = Table(show_header=True)
    for col in ("study", "kind", "axes", "datasets", "seeds", "runs", "file"):
        t.add_column(col)
    for path in list_studies():
        s = load_study(str(path))
        cells = 1
        for values in s.grid.values():
            cells *= len(values)
        t.add_row(s.name, s.kind, " x ".join(f"{a}({len(v)})" for a, v in s.grid.items()), ",".join(s.datasets),
                  str(len(s.seeds)), str(cells * len(s.seeds) * len(s.datasets)), str(path))
    console.print(t)


@app.command()
@user_errors
def run(
    study: str = typer.Argument(..., help="Study name (see `tfbench studies`) or a study YAML file"),
    datasets: Optional[str] = typer.Option(None, "--datasets", help="Comma-separated datasets instead of the study's, e.g. frappe-nfm,synthetic"),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="A count (3: the first three seeds) or a list (2023,2024; one seed: 2023,)"),
    quick: bool = typer.Option(False, "--quick", help="Shrunken smoke runs (recorded as quick; never mixed with full runs in reports)"),
    only: Optional[list[str]] = typer.Option(None, "--only", help="Run only the cells with these labels, AXIS=LABEL[,LABEL] (repeatable), e.g. --only model=DCNv2,EDCN"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and stop"),
    jobs: int = typer.Option(1, "--jobs", min=1, help="Runs to train in parallel processes"),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N"),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
):
    """Run a study's grid: skip runs already done, train the rest, record failures and go on."""
    from tfbench.db import ResultStore
    from tfbench.studies.execute import DONE, ELSEWHERE, FAILED, SKIPPED, register, run_plan

    spec, plan, keys = _resolve_plan(study, datasets, seeds, quick, data_dir, only)
    store = ResultStore(db)
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

    progress = run_plan(plan, keys, store, jobs=jobs, device=device, data_dir=data_dir,
                        on_update=on_update, on_epoch=on_epoch if jobs == 1 else None)
    c = progress.counts
    console.print(
        f"{spec.name}: {c[DONE]} trained, {c[SKIPPED]} already done, {c[FAILED]} failed, "
        f"{c[ELSEWHERE]} in progress elsewhere; {time.perf_counter() - t0:.1f}s wall", highlight=False,
    )
    if c[FAILED]:
        raise typer.Exit(1)


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
    store = ResultStore(db)
    if quick is None:  # never mix: take the full runs if there are any, else the quick ones
        from tfbench.report.study_report import gather

        quick = gather(spec, store, quick=False).empty and not gather(spec, store, quick=True).empty
    text, files, n = write_report(spec, store, fmt=fmt, out_dir=out, metric=metric, datasets=ds,
                                  quick=quick, paired=paired, seeds=seed_list)
    if not files:
        console.print(text, highlight=False)
        return
    print(text)
    for f in files:
        err_console.print(f"wrote {f}", highlight=False)


# ---------------------------------------------------------------------------------------- runs / show
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

    if status is not None and status not in ("running", "done", "failed", "pruned"):
        raise TfbenchError(f"--status must be running, done, failed or pruned, got '{status}'")
    rows = ResultStore(db).list_runs(study=study, dataset=dataset, model=model, status=status, limit=limit)
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
            _fmt(r.valid_auc), _fmt(r.test_auc), _fmt(r.test_gauc), str(r.epochs_run or ""),
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

    row = ResultStore(db).find(run)
    if row is None:
        raise TfbenchError(f"no run with id or unique key prefix '{run}'")
    _print_run(row)


def _print_run(row):
    console.print(f"[bold]run {row.id}[/bold]  key {row.key}  status {row.status}  study {row.study or '—'}")
    console.print(
        f"dataset {row.dataset}  model {row.model}  loss {row.loss}  seed {row.seed}  device {row.device}  "
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
                f"{e.epoch}{marker}", _fmt(e.train_loss), _fmt(e.valid_auc), _fmt(e.valid_gauc),
                _fmt(e.valid_logloss), f"{e.learning_rate:.0e}", f"{e.seconds:.2f}",
            )
        console.print(t)
    if row.status == "done":
        _print_summary(row, (row.finished_at - row.started_at).total_seconds())


# ---------------------------------------------------------------------------------------- datasets / models
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
    import warnings

    from tfbench.data import PAPER_DATASETS, DataWarning, load_dataset
    from tfbench.data.named import positive_percent

    spec = PAPER_DATASETS.get(name)
    if min_count is None:
        min_count = spec.expected.min_count if spec is not None else 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # the differences are printed below
        ds = load_dataset(name, data_dir=data_dir, min_count=min_count)
    exp = spec.expected if spec is not None else None
    console.print(
        f"[bold]{escape(ds.name)}[/bold]  {escape(str(ds.info.get('path') or ''))}  min_count {min_count}"
        f"  (cache {ds.info.get('cache')})", highlight=False,
    )
    t = Table(title="splits", show_header=True)
    for col in ("split", "rows", "paper rows", "positive rate"):
        t.add_column(col, justify="left" if col == "split" else "right")
    for split_name, split in ds.splits().items():
        t.add_row(split_name, _num(len(split)), _num(exp.rows[split_name]) if exp else "—",
                  f"{100.0 * float(split.y.mean()):.2f}%" if len(split) else "—")
    total = sum(len(s) for s in ds.splits().values())
    t.add_row("all", _num(total), _num(sum(exp.rows.values())) if exp else "—",
              f"{positive_percent(ds):.2f}% (paper {exp.positive_percent:.1f}%)" if exp else f"{positive_percent(ds):.2f}%")
    console.print(t)
    t = Table(title="fields (vocabulary sizes include the padding and OOV entries)", show_header=True)
    for col in ("field", "kind", "vocabulary", "authors' run"):
        t.add_column(col, justify="right" if col in ("vocabulary", "authors' run") else "left")
    for f in ds.fields:
        kind = f"multi-valued, max {f.max_len}, {f.pooling}" if f.is_sequence else "categorical"
        if ds.group_field == f.name:
            kind += ", gAUC group"
        theirs = exp.vocab_sizes.get(f.name) if exp else None
        t.add_row(f.name, kind, _num(f.vocab_size), _num(theirs))
    t.add_row("total", f"{ds.num_fields} fields" + (f" (paper {exp.fields})" if exp else ""),
              _num(sum(ds.vocab_sizes)), f"{_num(exp.run_features)} (Table III {_num(exp.features)})" if exp else "—")
    console.print(t)
    if exp is not None:
        if exp.note:
            console.print(f"note: {escape(exp.note)}", highlight=False)
        diffs = ds.info.get("paper_differences") or []
        if diffs:
            console.print(f"differs from the paper: {escape('; '.join(diffs))}", highlight=False, soft_wrap=True)
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


# Frappe as our encoder sees it (per-field vocabulary sizes, padding and OOV rows included).
FRAPPE_VOCAB_SIZES = (942, 4084, 9, 9, 4, 5, 4, 11, 82, 233)
# The paper's settings (§IV-A) for the parameter table; every other setting is the model's default.
PAPER_SETTINGS = dict(embedding_dim=16, mlp_c=(400, 400, 400), mlp_s=(400,), batch_norm=True)


def parameter_counts(vocab_sizes=FRAPPE_VOCAB_SIZES, num_numeric: int = 0):
    """[(label, RunConfig, parameters)] for every registered model at ``PAPER_SETTINGS``, then
    every baseline that takes --tf4ctr with it (SER + WSF); models are built from RunConfig as
    a run builds them."""
    from tfbench.config import RunConfig
    from tfbench.models import MODELS, TF4CTR_PLUGIN_MODELS, build_model, count_parameters

    configs = [(name, RunConfig.from_dict({**PAPER_SETTINGS, "model": name})) for name in sorted(MODELS)]
    configs += [
        (f"{name} --tf4ctr", RunConfig.from_dict({**PAPER_SETTINGS, "model": name, "tf4ctr": True, "ssem": "SER", "dfm": "WSF"}))
        for name in TF4CTR_PLUGIN_MODELS
    ]
    out = []
    for label, cfg in configs:
        model = build_model(cfg.model, vocab_sizes, num_numeric, **cfg.model_hyperparameters())
        out.append((label, cfg, count_parameters(model)))
    return out


@app.command()
@user_errors
def models(
    params: bool = typer.Option(False, "--params", help="Print each model's parameter count at the paper's settings (embedding 16, MLP_c 400,400,400, MLP_s 400, batch norm) on a Frappe-shaped input"),
):
    """List the registered models (--params: their parameter counts)."""
    from tfbench.models import MODELS

    if not params:
        for name, (desc, _) in sorted(MODELS.items()):
            console.print(f"[bold]{name}[/bold]  {desc}", highlight=False)
        return
    console.print(
        f"Parameters on a Frappe-shaped input ({len(FRAPPE_VOCAB_SIZES)} fields, {sum(FRAPPE_VOCAB_SIZES):,} "
        "embedding rows per table incl. padding/OOV) at the paper's settings: embedding 16, MLP_c 400,400,400, "
        "MLP_s 400, batch norm; each model's defaults otherwise.", highlight=False,
    )
    t = Table(show_header=True)
    for col in ("model", "variant", "parameters"):
        t.add_column(col, justify="right" if col == "parameters" else "left")
    for label, cfg, n in parameter_counts():
        variant = f"{cfg.ssem}+{cfg.dfm}" if cfg.uses_tf4ctr_modules else ""
        t.add_row(label, variant, str(n))
    console.print(t)


@app.command()
@user_errors
def losses():
    """List the registered losses."""
    from tfbench.losses import LOSSES

    for name, (desc, _) in sorted(LOSSES.items()):
        console.print(f"[bold]{name}[/bold]  {desc}", highlight=False)


# ---------------------------------------------------------------------------------------- tune
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
    jobs: int = typer.Option(1, "--jobs", help="Worker processes sharing the study"),
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
    from tfbench.config import RunConfig, load_config_file
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
    )
    req.validate()

    def header():
        err_console.print(
            f"tuning study '{study_name}': {model} on {base.dataset}, space {spec.path} "
            f"({', '.join(p.name + ' ' + p.describe() for p in spec.params)}), {trials} trials, {sampler} sampler, "
            f"{pruner} pruner, objective validation {objective}, {jobs} job(s)", highlight=False, soft_wrap=True,
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
        row = ResultStore(db).get_by_key(best.run_key) if best.run_key else None
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
    console.print(f"Optuna dashboard on {store.url}: http://{host}:{server.server_port}/ (Ctrl-C to stop)", highlight=False)
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    console.print("dashboard stopped", highlight=False)


def main():  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
