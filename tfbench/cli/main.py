"""The ``tfbench`` command line (Typer): the app and its command groups, one module each.

  train.py    tfbench train (options generated from the settings schemas: options.py)
  studies.py  tfbench studies, run, report
  runs.py     tfbench runs, show
  data.py     tfbench datasets, data info|download|prepare
  tune.py     tfbench tune [best|spaces], dashboard
  info.py     tfbench models [NAME], losses
"""

from __future__ import annotations

import sys

from tfbench.cli import data, info, runs, studies, train, tune  # noqa: F401  (they register their commands)
from tfbench.cli.common import app
from tfbench.cli.info import FRAPPE_VOCAB_SIZES, PAPER_SETTINGS, parameter_counts

__all__ = ["app", "FRAPPE_VOCAB_SIZES", "PAPER_SETTINGS", "parameter_counts", "main"]


def main():  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
