"""Writing a file through a temporary file beside it, so that a reader never sees half of it.

The temporary file is ``.<name>.tmp-<pid>-<random>`` in the target's folder (the same file
system, so the final ``os.replace`` is atomic). A writer that fails removes its own temporary
file; one that was killed (SIGKILL, power loss) cannot, so every write of a target first removes
the temporary files of that target left by processes that no longer run (or older than
:data:`STALE_AFTER_S`, for a process id since reused or on another host).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path
from typing import IO, Iterator

STALE_AFTER_S = 24 * 3600


def temp_path(target: Path) -> Path:
    return target.parent / f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"


def writer_pid(temp: Path) -> int | None:
    try:
        return int(temp.name.rsplit(".tmp-", 1)[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def process_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_stale_temps(target: Path, pattern: str | None = None) -> list[Path]:
    """Delete temporary files of ``target`` whose writer is gone; returns what was removed.
    ``pattern`` (a glob in the target's folder) adds another naming scheme's files, which are
    removed by age only."""
    removed = []
    now = time.time()
    candidates = [(p, writer_pid(p)) for p in target.parent.glob(f".{target.name}.tmp-*")]
    if pattern:
        candidates += [(p, None) for p in target.parent.glob(pattern)]
    for temp, pid in candidates:
        if pid == os.getpid():
            continue  # this process's own writer, still writing
        try:
            old = now - temp.stat().st_mtime > STALE_AFTER_S
        except OSError:
            continue
        if old or (pid is not None and not process_running(pid)):
            with contextlib.suppress(OSError):
                temp.unlink()
                removed.append(temp)
    return removed


def fsync_dir(folder: Path) -> None:
    try:  # make the rename durable; not possible on every platform
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


@contextlib.contextmanager
def atomic_file(target: str | Path, mode: str = "w", *, durable: bool = False) -> Iterator[IO]:
    """Open a temporary file for ``target`` (``mode`` "w" or "wb"); on leaving the block without
    an error it replaces ``target``; on an error (or KeyboardInterrupt) it is removed.
    ``durable``: fsync the file and the folder, for caches that must survive a power loss."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    temp = temp_path(target)
    try:
        with open(temp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(temp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            temp.unlink()
        if isinstance(e, OSError) and e.filename is None and e.errno is not None:
            # a failed write() (e.g. a full disk) names no file: name the one being written
            raise OSError(e.errno, e.strerror or str(e), str(target)) from e
        raise
    if durable:
        fsync_dir(target.parent)


def write_text(target: str | Path, text: str) -> Path:
    with atomic_file(target, "w") as fh:
        fh.write(text)
    return Path(target)
