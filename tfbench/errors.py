"""User-facing errors.

Every problem caused by the user's input (a file, a row, an option) is raised as a
``TfbenchError`` whose message is one line naming the problem and where it is. The CLI
prints it as ``error: <message>`` and exits with status 2; no traceback is shown.
"""


class TfbenchError(Exception):
    """An error in the user's input or environment, reported as a single line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # force one line


class DataError(TfbenchError):
    """Malformed or missing dataset input (file, row, column, label, split)."""


class ConfigError(TfbenchError):
    """Unknown name or out-of-range option value."""
