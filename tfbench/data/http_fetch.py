"""A resumable HTTP download into a ``.part`` file (standard library only).

:func:`fetch` writes ``url`` to ``part``. A ``part`` left by a broken transfer is resumed with an
HTTP ``Range: bytes=<size>-`` request: a ``206`` answer is appended, a ``200`` answer (a server
without ranges) starts again from zero. The URL a ``part`` came from is kept beside it
(``<part>.url``); a ``part`` from another URL starts from zero. A ``416`` answer whose
``Content-Range`` total equals the ``part``'s size means it is already complete. A ``416`` of
another size, or a ``206`` for another range than the one asked for, discards the ``part`` and
retries from zero once.

Errors: :class:`Unreachable` when no usable answer came (no network, refused, DNS, timeout, HTTP
error: the caller tries its next URL); :class:`~tfbench.errors.DataError` when the transfer broke
off (the ``part`` keeps what arrived, so the same call resumes) or the ``part`` cannot be written.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tfbench.errors import DataError

USER_AGENT = "tfbench-download/1"
CHUNK = 1 << 20

# progress(done_bytes, total_bytes_or_None), called as bytes arrive
Progress = Callable[[int, "int | None"], None]


class Unreachable(Exception):
    """The URL gave no usable answer (no network, refused, DNS, timeout, HTTP error)."""


def reason(exc: BaseException) -> str:
    """A short phrase for why a request or a file operation failed."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        if not isinstance(exc.reason, BaseException):
            return str(exc.reason)
        exc = exc.reason
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total) of a Content-Range header ``bytes a-b/n`` or ``bytes */n``."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def discard(*paths: Path) -> None:
    """Delete the files that exist among ``paths``."""
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def source_file(part: Path) -> Path:
    """Where the URL of ``part`` is kept."""
    return part.with_name(part.name + ".url")


def fetch(url: str, part: Path, progress: Progress | None, timeout: float, _restarted: bool = False) -> int:
    """Fetch ``url`` into ``part``, resuming what is there. Returns the byte it resumed at (0: from
    the start). Raises Unreachable when no answer came, DataError when the transfer broke off."""
    src = source_file(part)
    if part.exists() and (not src.is_file() or src.read_text().strip() != url):
        discard(part, src)  # a .part from another URL cannot be resumed
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            _, total = content_range(exc.headers.get("Content-Range"))
            exc.close()
            if total == offset:  # the .part is already complete
                if progress:
                    progress(offset, total)
                return offset
            if not _restarted:
                discard(part, src)
                return fetch(url, part, progress, timeout, _restarted=True)
        raise Unreachable(reason(exc)) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise Unreachable(reason(exc)) from None

    with resp:
        total = None
        if resp.status == 206 and offset:
            start, total = content_range(resp.headers.get("Content-Range"))
            if start != offset:  # not the range we asked for: start again
                resp.close()
                if _restarted:
                    raise Unreachable(f"the server answered Range: bytes={offset}- with {resp.headers.get('Content-Range')}")
                discard(part, src)
                return fetch(url, part, progress, timeout, _restarted=True)
            mode = "ab"
        else:  # 200: the whole file, whatever we asked for
            offset, mode = 0, "wb"
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        src.write_text(url)
        done, broke = _copy(resp, part, mode, offset, total, progress)
    if broke is not None or (total is not None and done < total):
        of = f" of {total:,}" if total is not None else ""
        raise DataError(
            f"download of {url} broke off after {done:,}{of} bytes ({broke or 'connection closed'});"
            f" {part} keeps them: run the command again to resume"
        )
    return offset


def _copy(resp, part: Path, mode: str, done: int, total: int | None, progress: Progress | None) -> tuple[int, str | None]:
    """Append (``"ab"``) or write (``"wb"``) the body of ``resp`` to ``part``, fsynced. Returns the
    bytes ``part`` then holds and why the body ended early (None: it did not)."""
    broke = None
    if progress:
        progress(done, total)
    try:
        with open(part, mode) as f:
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except (http.client.HTTPException, OSError) as exc:
                    broke = reason(exc)
                    break
                if not chunk:
                    break
                f.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise DataError(f"cannot write {part}: {reason(exc)}") from None
    return done, broke
