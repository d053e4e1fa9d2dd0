"""Figure 6: the gradient norms of the simple and complex encoders' logits over the first epoch,
TF4CTR trained with L_ctr + L_TF against L_ctr alone (the ``grad_dynamics`` reporter).

§III-H draws, for every batch of the first training epoch on Criteo, the norm of the gradient the
training loss sends to z_s and to z_c: panel (a) with the Twin Focus loss, panel (b) with L_ctr
only. A run that records gradient steps (``record_grad_steps``) stores per optimizer step the batch
loss and ‖∂loss/∂z_s‖, ‖∂loss/∂z_c‖ (L2 over the batch; ``tfb_grad_steps``). Here one row of panels
per dataset, one panel per grid label (the losses compared, in the grid's order), ‖∇z_s‖ and ‖∇z_c‖
against the optimizer step of the first epoch; with several seeds a line is the mean over the
seeds and the band ± one std. The table gives per dataset and loss the norms at the first and the
last step of the epoch (means over seeds), last / first, and the ratio ‖∇z_c‖ / ‖∇z_s‖ at both.

``report_settings``: ``log_norms`` (a log norm axis; default false, as the paper's). The study's grid
has one axis (the losses, or any setting compared), and its base records gradient steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tfbench.errors import ConfigError
from tfbench.report.band_recordings import dataset_title, save_figure
from tfbench.report.band_tables import text_table, write_band_tables
from tfbench.report.plain_tables import TextTable
from tfbench.report.run_records import study_runs
from tfbench.report.special import Reporter, bool_setting, refuse_unknown_settings, register

NORMS = ("grad_z_s", "grad_z_c")
NORM_LABELS = {"grad_z_s": "‖∇z_s‖", "grad_z_c": "‖∇z_c‖"}
NORM_TEX = {"grad_z_s": r"$\|\nabla_{z_s}\|$ (simple encoder)", "grad_z_c": r"$\|\nabla_{z_c}\|$ (complex encoder)"}
NORM_COLOURS = {"grad_z_s": "#1f77b4", "grad_z_c": "#d62728"}
# z_c dashed over z_s solid: with L_ctr alone the two curves coincide, and both stay visible
NORM_STYLES = {"grad_z_s": "-", "grad_z_c": "--"}
# the paper's panel captions, by the loss a panel's runs trained with
LOSS_TEX = {"tf": r"$\mathcal{L}_{ctr}+\mathcal{L}_{TF}$", "logloss": r"$\mathcal{L}_{ctr}$ only"}


@dataclass(frozen=True)
class GradDynamicsSettings:
    log_norms: bool = False


def parse_settings(raw: dict[str, Any]) -> GradDynamicsSettings:
    refuse_unknown_settings(raw, GradDynamicsSettings)
    log_norms = bool_setting(raw, "log_norms", False)
    return GradDynamicsSettings(log_norms=log_norms)


def check(study) -> None:
    parse_settings(study.report_settings)
    if len(study.axes) != 1:
        raise ConfigError("'grid' must have one axis, the losses (or settings) compared")
    steps = study.base.get("record_grad_steps", 0)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ConfigError("'base.record_grad_steps' must be a number of steps (>= 1): this figure draws them")
    overridden = [k for k, v in study.dataset_settings.items() if "record_grad_steps" in v] + \
        (["quick"] if "record_grad_steps" in study.quick else [])
    if overridden:
        raise ConfigError(f"'record_grad_steps' is set again in {', '.join(overridden)}; this figure needs the base's")


def first_epoch_steps(study, store, *, quick, seeds, datasets) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(runs, the first epoch's recorded steps joined to each run's dataset, cell and seed, datasets)."""
    runs, order = study_runs(study, store, quick=quick, seeds=seeds, datasets=datasets)
    if runs.empty:
        return runs, pd.DataFrame(), order
    cell = runs[["run_id", "dataset", *study.axes, "seed"]]
    # the recorded batch loss is renamed: the grid axis is usually called "loss" too
    steps = store.grad_steps(runs["run_id"]).rename(columns={"loss": "batch_loss"}).merge(cell, on="run_id")
    return runs, steps[steps["epoch"] == 1], order


def step_means(steps: pd.DataFrame, axis: str) -> pd.DataFrame:
    """Per dataset, grid label and step: mean, sample std (NaN for one seed) and n of each norm."""
    grouped = steps.groupby(["dataset", axis, "step"], sort=True)[list(NORMS)]
    out = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=1).add_suffix("_std"))
    return out.join(grouped.count()[["grad_z_s"]].rename(columns={"grad_z_s": "n"})).reset_index()


def summary(means: pd.DataFrame, axis: str, labels: list[str], datasets: list[str]) -> pd.DataFrame:
    """Per dataset and label: the seed-mean norms at the first and last step of the first epoch,
    their ratio last / first, and ‖∇z_c‖ / ‖∇z_s‖ at both steps."""
    rows = []
    for dataset in datasets:
        for label in labels:
            part = means[(means["dataset"] == dataset) & (means[axis] == label)].set_index("step").sort_index()
            if part.empty:
                continue
            first, last = part.index.min(), part.index.max()
            row = {"dataset": dataset, axis: label, "steps": int(len(part)), "first_step": int(first),
                   "last_step": int(last), "seeds": int(part["n"].min())}
            for norm in NORMS:
                a, b = float(part.at[first, f"{norm}_mean"]), float(part.at[last, f"{norm}_mean"])
                row.update({f"{norm}_first": a, f"{norm}_last": b, f"{norm}_last_over_first": b / a})
            for when, step in (("first", first), ("last", last)):
                row[f"c_over_s_{when}"] = float(part.at[step, "grad_z_c_mean"]) / float(part.at[step, "grad_z_s_mean"])
            rows.append(row)
    return pd.DataFrame(rows)


def _num(v: float) -> str:
    return f"{v:.4g}"


def summary_tables(study, table: pd.DataFrame, datasets: list[str]) -> list[TextTable]:
    axis = study.rows
    tables = []
    for dataset in datasets:
        lines = []
        for r in table[table["dataset"] == dataset].to_dict("records"):
            line = {axis: r[axis], "steps": str(r["steps"])}
            for norm in NORMS:
                n = NORM_LABELS[norm]
                line[f"{n} step {r['first_step']}"] = _num(r[f"{norm}_first"])
                line[f"{n} step {r['last_step']}"] = _num(r[f"{norm}_last"])
                line[f"{n} last/first"] = f"{r[f'{norm}_last_over_first']:.3f}"
            line["‖∇z_c‖/‖∇z_s‖ first"] = f"{r['c_over_s_first']:.3f}"
            line["‖∇z_c‖/‖∇z_s‖ last"] = f"{r['c_over_s_last']:.3f}"
            lines.append(line)
        if lines:
            tables.append(text_table(f"{dataset_title(study, dataset)}: first epoch", lines, text_columns=1))
    return tables


def claim_notes(study, table: pd.DataFrame) -> list[str]:
    """The paper's reading of Figure 6, per dataset and loss: which norm rose and which fell."""
    notes = []
    for r in table.to_dict("records"):
        moves = [f"{NORM_LABELS[n]} {'rose' if r[f'{n}_last_over_first'] > 1 else 'fell'} "
                 f"(×{r[f'{n}_last_over_first']:.3f})" for n in NORMS]
        notes.append(f"{r['dataset']} {r[study.rows]}: over steps {r['first_step']}–{r['last_step']}, "
                     + ", ".join(moves) + f"; ‖∇z_c‖/‖∇z_s‖ {r['c_over_s_first']:.3f} → {r['c_over_s_last']:.3f}.")
    return notes


def setup_note(runs: pd.DataFrame, datasets: list[str]) -> str:
    parts = []
    for dataset in datasets:
        configs = runs.loc[runs["dataset"] == dataset, "config"]
        batches = sorted({int(c.get("batch_size", 0)) for c in configs})
        evals = sorted({int(c.get("eval_steps", 0)) for c in configs})
        epoch = " or ".join("one pass over the train split" if e == 0 else f"{e} optimizer steps" for e in evals)
        parts.append(f"on {dataset} an epoch is {epoch}, at batch size {', '.join(map(str, batches))}")
    return ("The norms are L2 norms over the batch of ∂loss/∂z, the loss being the batch mean that the step "
            "trains on (the weight regularisers do not depend on z), so a batch smaller than the others (the last "
            "of a pass) has a larger one, about as 1/sqrt(rows); " + "; ".join(parts) + ".")


def render(study, store, *, fmt: str, out_dir: Path, datasets, quick: bool, seeds) -> tuple[str, list[Path], int]:
    settings = parse_settings(study.report_settings)
    runs, steps, order = first_epoch_steps(study, store, quick=quick, seeds=seeds, datasets=datasets)
    if runs.empty or steps.empty:
        kind = "quick" if quick else "full"
        return (f"nothing recorded for study '{study.name}' yet ({kind} runs; `tfbench run {study.name}` first)", [], 0)
    axis = study.rows
    labels = [label for label in study.grid[axis] if label in set(steps[axis])]
    order = [d for d in order if d in set(steps["dataset"])]
    means = step_means(steps, axis)
    table = summary(means, axis, labels, order)
    stem = study.name + ("_quick" if quick else "")
    title = study.title + (" [quick smoke runs]" if quick else "")
    files = draw(study, means, labels, order, settings, title, out_dir / stem)
    n_seeds = sorted(set(means["n"]))
    notes = [
        f"{len(runs)} finished {'quick ' if quick else ''}run{'s' if len(runs) != 1 else ''}; norms are "
        + ("of one seed" if n_seeds == [1] else f"means over n = {'–'.join(map(str, n_seeds))} seeds (± std in the figure)")
        + "; ratios are of those means.",
        setup_note(runs, order),
        *claim_notes(study, table),
    ]
    text, path = write_band_tables(fmt, title, summary_tables(study, table, order), notes, table, out_dir / stem)
    return text, [path, *files], len(runs)


def draw(study, means: pd.DataFrame, labels: list[str], datasets: list[str], settings: GradDynamicsSettings,
         title: str, out_base: Path) -> list[Path]:
    """One row per dataset, one panel per label ((a), (b), ...): both norms against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    axis = study.rows
    fig, axes = plt.subplots(len(datasets), len(labels), figsize=(5.2 * len(labels), 3.6 * len(datasets) + 0.9),
                             squeeze=False, sharey="row", layout="constrained")
    for r, dataset in enumerate(datasets):
        for c, label in enumerate(labels):
            ax = axes[r][c]
            part = means[(means["dataset"] == dataset) & (means[axis] == label)].sort_values("step")
            for norm in NORMS:
                x, y = part["step"].to_numpy(), part[f"{norm}_mean"].to_numpy()
                ax.plot(x, y, color=NORM_COLOURS[norm], linestyle=NORM_STYLES[norm], linewidth=1.4, marker="o" if len(x) <= 40 else None,
                        markersize=3, label=NORM_TEX[norm])
                std = part[f"{norm}_std"].to_numpy()
                if not np.isnan(std).all():
                    ax.fill_between(x, y - np.nan_to_num(std), y + np.nan_to_num(std), color=NORM_COLOURS[norm],
                                    alpha=0.18, linewidth=0)
            if settings.log_norms:
                ax.set_yscale("log")
            loss = study.grid[axis][label]
            caption = LOSS_TEX.get(loss, label) if axis == "loss" else label
            ax.set_title(f"({chr(ord('a') + c)}) {caption} — {study.paper_names.get(dataset, dataset)}", fontsize=10)
            ax.set_xlabel("optimizer step (batch) of the first epoch", fontsize=9)
            if c == 0:
                ax.set_ylabel("gradient norm" + (" (log scale)" if settings.log_norms else ""), fontsize=9)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.tick_params(labelsize=8, labelleft=True)
            ax.grid(True, alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=len(NORMS), fontsize=9, frameon=False)
    fig.suptitle(title, fontsize=11)
    return save_figure(fig, out_base)


REPORTER = register(Reporter(
    name="grad_dynamics", render=render, check=check,
    description="Figure 6: gradient norms of z_s and z_c per optimizer step of the first epoch, per loss",
))
