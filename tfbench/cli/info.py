"""`tfbench models [NAME]` and `tfbench losses`: what is registered, and each model's settings."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from tfbench.cli.common import app, console, user_errors
from tfbench.errors import ConfigError

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
        model = build_model(cfg.model, vocab_sizes, num_numeric, settings=cfg.model_settings, plugin=cfg.plugin)
        out.append((label, cfg, count_parameters(model)))
    return out


def settings_table(title: str, schema) -> Table:
    from tfbench.schema import field_rows

    t = Table(title=title, show_header=True, title_justify="left")
    for col in ("setting", "type", "default", "bounds", "description"):
        t.add_column(col)
    for name, typ, default, bounds, desc in field_rows(schema):
        t.add_row(name, typ, "''" if default == "" else str(default), bounds, desc)
    return t


@app.command()
@user_errors
def models(
    name: Optional[str] = typer.Argument(None, help="A model: print its settings with defaults, bounds and descriptions"),
    params: bool = typer.Option(False, "--params", help="Print each model's parameter count at the paper's settings (embedding 16, MLP_c 400,400,400, MLP_s 400, batch norm) on a Frappe-shaped input"),
):
    """List the registered models (NAME: one model's settings; --params: their parameter counts)."""
    from tfbench.models import MODELS

    if name is not None:
        if name not in MODELS:
            raise ConfigError(f"unknown model '{name}': known models are {', '.join(sorted(MODELS))}")
        spec = MODELS[name]
        console.print(f"[bold]{name}[/bold]  {spec.description}", highlight=False)
        if spec.simple:
            console.print(f"simple stream z_s: {spec.simple}; complex stream z_c: {spec.complex}", highlight=False)
        else:
            console.print("single stream (no z_s, z_c)", highlight=False)
        console.print(f"module {spec.cls.__module__}, class {spec.cls.__name__}", highlight=False)
        console.print(settings_table(f"settings of {name} (set with --NAME VALUE or --set NAME=VALUE)", spec.settings))
        if spec.plugin_settings is not None:
            console.print(settings_table(f"with --tf4ctr (Table VIII plug-in), also", spec.plugin_settings))
        return
    if not params:
        for n, spec in sorted(MODELS.items()):
            console.print(f"[bold]{n}[/bold]  {spec.description}", highlight=False)
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
