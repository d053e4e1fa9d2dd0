"""What every command group shares: the Typer app, the consoles and the one-line error handling."""

from __future__ import annotations

import functools
import sys


import typer
from rich.console import Console
from rich.markup import escape


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


@app.callback()
def _global_options(
    debug: bool = typer.Option(False, "--debug", envvar="TFBENCH_DEBUG",
                               help="Show the traceback of a failure instead of its one-line message"),
):
    """tfbench: benchmark and ablation harness for TF4CTR (Twin Focus Framework for CTR prediction)."""
    from tfbench.cli import failures

    failures.DEBUG = debug  # set on every invocation (in-process test runners invoke many)


def user_errors(fn):
    """Report every known failure as one line on stderr (``tfbench/cli/failures.py``) with exit
    code 1 or 2, and an interruption as one line with exit code 130 or 143; never a traceback
    (unless --debug)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from tfbench.cli import failures

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt as e:
            if failures.debugging():
                raise
            message, code = failures.interrupted_line(e)
            err_console.print(escape(message), soft_wrap=True, highlight=False)
            raise typer.Exit(code)
        except Exception as e:
            said = None if failures.debugging() else failures.one_line(e)
            if said is None:
                raise
            message, code = said
            err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
            raise typer.Exit(code)

    return wrapper


def fmt(x, digits=4):
    return "—" if x is None else f"{x:.{digits}f}"
