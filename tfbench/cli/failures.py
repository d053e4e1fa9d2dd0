"""Every failure of a command as one line on stderr: the one place that knows the kinds.

:func:`one_line` maps an exception to ``(message, exit code)``: 2 for a problem in what the user
gave (an option, a file, a URL: :class:`~tfbench.errors.TfbenchError`), 1 for one met while
working (a training error, a full disk, a read-only database). ``--debug`` or
``TFBENCH_DEBUG=1`` lets the exception through with its traceback instead.

An interruption (Ctrl-C, or SIGTERM turned into :class:`Terminated` by :func:`sigterm_interrupts`
while a command trains) prints which runs were stored as ``interrupted`` and exits 130 (SIGINT)
or 143 (SIGTERM), the shell's codes for those signals.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import threading

from tfbench.errors import TfbenchError

USAGE, RUNTIME = 2, 1


# --debug or TFBENCH_DEBUG=1 (set by the app's callback; the environment for callers outside it)
DEBUG: bool | None = None


def debugging() -> bool:
    if DEBUG is not None:
        return DEBUG
    return os.environ.get("TFBENCH_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so that the same cleanup runs."""


@contextlib.contextmanager
def sigterm_interrupts():
    """While training: SIGTERM raises :class:`Terminated` in the main thread (the run under way
    is stored as interrupted, worker processes are stopped) instead of killing the process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(_signum, _frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted_line(exc: KeyboardInterrupt) -> tuple[str, int]:
    keys = getattr(exc, "run_keys", None) or []
    code = 143 if isinstance(exc, Terminated) else 130
    what = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
    if not keys:
        return f"interrupted ({what}); nothing was being trained", code
    runs = f"run {keys[0]}" if len(keys) == 1 else f"runs {', '.join(keys)}"
    return f"interrupted ({what}): {runs} stored as interrupted; rerun the same command to resume", code


def _os_line(e: OSError) -> str:
    where = f" ({e.filename})" if e.filename else ""
    if e.errno == errno.ENOSPC:
        return f"no space left on device{where}"
    if e.errno == errno.EDQUOT:
        return f"disk quota exceeded{where}"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied{where}"
    if e.errno == errno.EROFS:
        return f"read-only file system{where}"
    return f"{e.strerror or e}{where}"


def one_line(exc: BaseException) -> tuple[str, int] | None:
    """``(message, exit code)`` for a failure tfbench knows how to say in one line, else None."""
    from tfbench.db import RunInProgress
    from tfbench.train import TrainingError

    if isinstance(exc, TfbenchError):
        return str(exc), getattr(exc, "exit_code", USAGE)
    if isinstance(exc, RunInProgress):
        return str(exc), USAGE
    if isinstance(exc, TrainingError):
        key = getattr(exc, "run_key", None)
        where = f"run {key} failed" if key else "training failed"
        return f"{where}: {' '.join(str(exc).split())}" + ("; stored as failed" if key else ""), RUNTIME
    if isinstance(exc, MemoryError):
        return "out of memory (try a smaller --batch-size or model)", RUNTIME
    if isinstance(exc, OSError) and exc.errno is not None:
        return _os_line(exc), RUNTIME
    return None
