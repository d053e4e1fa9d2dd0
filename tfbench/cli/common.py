"""What every command group shares: the Typer app, the consoles and the one-line error handling."""

from __future__ import annotations

import functools
import sys

import typer
from rich.console import Console
from rich.markup import escape

from tfbench.errors import TfbenchError

# Plain (click) help: rich markup would eat every "[default …]" and "[env …]" in the help texts
# and print flags as "<bool>".
app = typer.Typer(
    help="tfbench: benchmark and ablation harness for TF4CTR (Twin Focus Framework for CTR prediction).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# Piped output (files, CI logs, tests) gets a wide console so that tables are not squeezed.
console = Console() if sys.stdout.isatty() else Console(width=220)
err_console = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=220)

DB_HELP = "Results database: any SQLAlchemy URL [env TFBENCH_DB; default sqlite:///results.db]"
DATA_DIR_HELP = "Root folder of the named datasets [env TFBENCH_DATA_DIR; default ./data]"
DEVICE_HELP = "auto, cpu, cuda, cuda:N"


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


def fmt(x, digits=4):
    return "—" if x is None else f"{x:.{digits}f}"
