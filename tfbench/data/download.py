"""Download the paper's datasets from their public archives into the data root.

:func:`download` puts three parts together, one module each:

* ``catalogue.py``: :data:`ARCHIVES`, per dataset of ``named.py``, where its public archive lives,
  its format, the published checksums and the folder and files the loader reads
  (``<data root>/<folder>/``).
* ``http_fetch.py``: the archive is written to ``<data root>/<archive>.part``; a ``.part`` left by
  a broken download is resumed with an HTTP ``Range`` request (see that module).
* ``unpack.py``: safe unpacking into a temporary folder and the rename into place.

The steps:

1. Each URL is tried in turn until one answers; none answering raises :class:`DataError` with
   the manual-install instructions. A transfer that breaks off keeps its ``.part``.
2. The finished ``.part`` is hashed (md5 and sha256). Where a checksum of the archive is
   published it must match, else the ``.part`` is deleted and :class:`DataError` names the file,
   the expected and the actual digest. Where none is published the sha256 is recorded and
   reported as such ("no published checksum; recorded sha256 ...").
3. The archive is unpacked into a temporary folder inside the data root. Every member is checked
   first: an absolute path, a ``..`` component or a link refuses the whole archive. Where md5 sums
   of the unpacked files are published (the BARS docs print them for the CSV files) each file
   must match.
4. The temporary folder is renamed into place (an old folder, with ``force``, is moved aside
   first and deleted after), and the ``.part`` is deleted. Any failure in 3 or 4 removes the
   temporary folder; a bad archive (checksum, format, unsafe member) removes the ``.part`` too.

``$TFBENCH_DOWNLOAD_BASE`` (or ``base_url=``) replaces every archive URL by
``<base>/<archive file name>``: a local mirror, and the tests' HTTP server.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tfbench.data.catalogue import ARCHIVES, Archive, get_archive, parse_checksum, register_archive
from tfbench.data.http_fetch import CHUNK, USER_AGENT, Progress, Unreachable, discard, fetch, reason, source_file
from tfbench.data.registry import DATA_DIR_ENV, resolve_data_dir
from tfbench.data.unpack import Reader, locate, place, safe_name, unpack, unpack_to_temp
from tfbench.errors import DataError

__all__ = [
    "ARCHIVES", "Archive", "BASE_URL_ENV", "CHUNK", "USER_AGENT", "DownloadResult", "Progress", "archive_urls", "download",
    "get_archive", "manual_hint", "missing_files", "register_archive",
]

BASE_URL_ENV = "TFBENCH_DOWNLOAD_BASE"

# The names these helpers had when they all lived in this module.
_parse_checksum = parse_checksum
_Unreachable = Unreachable
_reason = reason
_discard = discard
_fetch = fetch
_safe_name = safe_name
_Reader = Reader
_locate = locate
_unpack = unpack
_place = place


def archive_urls(archive: Archive, base_url: str | None = None) -> list[str]:
    """The URLs to try: ``<base>/<filename>`` when a base is given (argument or
    ``$TFBENCH_DOWNLOAD_BASE``), the archive's own URLs otherwise."""
    base = base_url if base_url is not None else os.environ.get(BASE_URL_ENV, "").strip()
    if base:
        return [base.rstrip("/") + "/" + archive.filename]
    return list(archive.urls)


def missing_files(archive: Archive, data_dir: str | Path | None = None) -> list[str]:
    folder = resolve_data_dir(data_dir) / archive.folder
    return [f for f in archive.files if not (folder / f).is_file()]


def manual_hint(archive: Archive, data_dir: str | Path | None = None) -> str:
    """Where to put the files by hand."""
    folder = resolve_data_dir(data_dir) / archive.folder
    return (
        f"to install it by hand, download {archive.urls[0]} where there is network, unpack it and put"
        f" {', '.join(archive.files)} into {folder}{os.sep} (the data root is --data-dir or ${DATA_DIR_ENV})"
    )


@dataclass
class DownloadResult:
    name: str
    folder: Path
    files: tuple[str, ...]
    skipped: bool = False
    url: str | None = None
    bytes: int = 0
    resumed_from: int = 0
    md5: str | None = None
    sha256: str | None = None
    checks: list[str] = field(default_factory=list)  # what was verified, one phrase each

    def summary(self) -> str:
        if self.skipped:
            return (f"{self.name}: already present in {self.folder} ({', '.join(self.files)});"
                    " --force downloads it again")
        resumed = f", resumed at byte {self.resumed_from:,}" if self.resumed_from else ""
        return (f"{self.name}: downloaded {self.bytes:,} bytes from {self.url}{resumed}; "
                + "; ".join(self.checks) + f"; unpacked into {self.folder} ({', '.join(self.files)})")


def _digests(path: Path) -> dict[str, str]:
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            md5.update(block)
            sha.update(block)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def _prepare_root(archive: Archive, root: Path, target: Path, force: bool) -> None:
    """Refuse to overwrite a foreign folder without ``force``; create the data root."""
    if target.exists() and not force and (not target.is_dir() or any(target.iterdir())):
        raise DataError(
            f"{target} exists but lacks {', '.join(missing_files(archive, root))}; move it away, or download"
            f" with --force, which replaces that folder"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the data root {root}: {reason(exc)}") from None


def _fetch_any(archive: Archive, root: Path, part: Path, result: DownloadResult, base_url, progress, on_url, timeout) -> None:
    """Step 1: the first URL that answers fills ``part``; sets ``result.url`` and ``resumed_from``."""
    failures = []
    for url in archive_urls(archive, base_url):
        if on_url:
            on_url(url)
        try:
            result.resumed_from = fetch(url, part, progress, timeout)
        except Unreachable as exc:
            failures.append(f"{url}: {exc}")
            continue
        result.url = url
        return
    raise DataError(f"cannot download {archive.name}: {'; '.join(failures)}; {manual_hint(archive, root)}")


def _verify_archive(archive: Archive, part: Path, label: str, result: DownloadResult) -> None:
    """Step 2: record the archive's digests and check the published one, if any."""
    digests = _digests(part)
    result.bytes = part.stat().st_size
    result.md5, result.sha256 = digests["md5"], digests["sha256"]
    if archive.checksum is None:
        result.checks.append(f"no published checksum; recorded sha256 {result.sha256}")
        return
    algo, digest = parse_checksum(archive.checksum)
    if digests[algo] != digest:
        discard(part, source_file(part))
        raise DataError(
            f"checksum mismatch for {label}: expected {algo} {digest}, got {algo} {digests[algo]};"
            f" the download was deleted, run the command again to fetch it afresh"
        )
    result.checks.append(f"{algo} {digest} matches the published checksum")


def _install(archive: Archive, part: Path, label: str, root: Path, target: Path, result: DownloadResult) -> None:
    """Steps 3 and 4: unpack safely into a temporary folder, then rename it into place."""
    try:
        tmp, checks = unpack_to_temp(archive, part, label, root)
    except DataError:
        discard(part, source_file(part))  # a bad archive: resuming it cannot help
        raise
    except OSError as exc:
        raise DataError(f"cannot unpack {label} into {root}: {reason(exc)}") from None
    result.checks += checks
    try:
        place(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"cannot move the unpacked files into {target}: {reason(exc)}") from None


def download(
    name: str,
    data_dir: str | Path | None = None,
    *,
    force: bool = False,
    base_url: str | None = None,
    progress: Progress | None = None,
    on_url: Callable[[str], None] | None = None,
    timeout: float = 30.0,
) -> DownloadResult:
    """Download, verify and unpack dataset ``name`` into the data root (see the module doc).

    ``progress(done_bytes, total_bytes_or_None)`` is called as bytes arrive; ``on_url(url)``
    before each URL is tried (the first ``progress`` call gives the byte a resume starts at). Skips (``skipped=True``) when the loader's files
    are all present, unless ``force``. Raises :class:`DataError` (one line) when no URL answers
    (with the manual-install instructions), the transfer breaks off (the ``.part`` stays for a
    resume), or the archive fails a check.
    """
    archive = get_archive(name)
    root = resolve_data_dir(data_dir)
    target = root / archive.folder
    result = DownloadResult(name=name, folder=target, files=archive.files)
    if not force and not missing_files(archive, root):
        result.skipped = True
        return result
    _prepare_root(archive, root, target, force)
    part = root / f"{archive.filename}.part"
    _fetch_any(archive, root, part, result, base_url, progress, on_url, timeout)
    label = f"{archive.filename} (from {result.url})"
    _verify_archive(archive, part, label, result)
    _install(archive, part, label, root, target, result)
    discard(part, source_file(part))
    return result
