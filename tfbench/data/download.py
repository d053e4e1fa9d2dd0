"""Download the paper's datasets from their public archives into the data root.

:data:`ARCHIVES` names, per dataset of ``named.py``, where its public archive lives, its format,
the checksums that are published for it, and how its content maps onto the folder the loader
reads (``<data root>/<folder>/`` with the loader's files). :func:`download` fetches it:

1. The archive is written to ``<data root>/<archive>.part``. A ``.part`` left by a broken
   download is resumed with an HTTP ``Range: bytes=<size>-`` request: a ``206`` answer is
   appended, a ``200`` answer (a server without ranges) starts again from zero. The URL a
   ``.part`` came from is kept beside it (``.part.url``); another URL starts from zero.
2. The finished ``.part`` is hashed (md5 and sha256). Where a checksum of the archive is
   published it must match, else the ``.part`` is deleted and :class:`DataError` names the file,
   the expected and the actual digest. Where none is published the sha256 is recorded and
   reported as such ("no published checksum; recorded sha256 ...").
3. The archive is unpacked into a temporary folder inside the data root. Every member is checked
   first: an absolute path, a ``..`` component or a link refuses the whole archive. The folder of
   the archive that holds all of the loader's files (the archive's top level or a sub-folder such
   as ``ml-1m/``) becomes the dataset folder. Where md5 sums of the unpacked files are published
   (the BARS docs print them for the CSV files) each file must match.
4. The temporary folder is renamed into place (an old folder, with ``force``, is moved aside
   first and deleted after), and the ``.part`` is deleted. Any failure in 3 or 4 removes the
   temporary folder; a bad archive (checksum, format, unsafe member) removes the ``.part`` too.

``$TFBENCH_DOWNLOAD_BASE`` (or ``base_url=``) replaces every archive URL by
``<base>/<archive file name>``: a local mirror, and the tests' HTTP server.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import socket
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tfbench.data import named
from tfbench.data.registry import DATA_DIR_ENV, resolve_data_dir
from tfbench.errors import DataError

BASE_URL_ENV = "TFBENCH_DOWNLOAD_BASE"
USER_AGENT = "tfbench-download/1"
CHUNK = 1 << 20

Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class Archive:
    """Where one dataset's public archive lives and what is published about it.

    ``checksum`` is the archive's own digest as published (``"md5:<hex>"`` or
    ``"sha256:<hex>"``), ``None`` where nobody publishes one. ``file_checksums`` are published
    digests of unpacked files (same notation). ``provenance`` says where each value comes from.
    """

    name: str
    folder: str  # under the data root, as named.py expects it
    files: tuple[str, ...]  # the loader's files, as named.py expects them
    urls: tuple[str, ...]  # tried in this order
    filename: str  # the archive's file name (also its name under a base URL)
    format: str = "zip"  # "zip" or "tar.gz"
    checksum: str | None = None
    file_checksums: dict[str, str] = field(default_factory=dict)
    provenance: str = ""


def _hf(dataset_id: str) -> str:
    return f"https://huggingface.co/datasets/reczoo/{dataset_id}/resolve/main/{dataset_id}.zip?download=true"


def _zenodo(file_name: str) -> str:
    return f"https://zenodo.org/record/6324454/files/{file_name}?download=1"


def _paper(name: str, **kw) -> Archive:
    spec = named.PAPER_DATASETS[name]
    return Archive(name=name, folder=spec.folder, files=spec.files, **kw)


# URLs: the RecZoo dataset index (github.com/reczoo/Datasets, README.md) links every BARS set to
# huggingface.co/datasets/reczoo/<ID>/resolve/main/<ID>.zip; the older BARS docs
# (datasets/Frappe/README.md, datasets/MovieLens/README.md) link the same sets on Zenodo record
# 6324454. Nobody publishes a checksum of these zip files, so `checksum` is None for them: the
# download reports the sha256 it recorded instead. The md5 sums of the unpacked CSV files are
# published ("Check the md5sum for data integrity") and are verified after unpacking.
ARCHIVES: dict[str, Archive] = {
    "frappe": _paper(
        "frappe",
        urls=(_hf("Frappe_x1"), _zenodo("Frappe_x1.zip")),
        filename="Frappe_x1.zip",
        checksum=None,  # no published checksum of the zip
        file_checksums={
            "train.csv": "md5:ba7306e6c4fc19dd2cd84f2f0596d158",
            "valid.csv": "md5:88d51bf2173505436d3a8f78f2a59da8",
            "test.csv": "md5:3470f6d32713dc5f7715f198ca7c612a",
        },
        provenance="CSV md5 sums from the BARS docs, datasets/Frappe/README.md (Frappe_x1)",
    ),
    "ml-tag": _paper(
        "ml-tag",
        urls=(_hf("MovielensLatest_x1"), _zenodo("Movielenslatest_x1.zip")),
        filename="MovielensLatest_x1.zip",
        checksum=None,  # no published checksum of the zip
        file_checksums={
            "train.csv": "md5:efc8bceeaa0e895d566470fc99f3f271",
            "valid.csv": "md5:e1930223a5026e910ed5a48687de8af1",
            "test.csv": "md5:54e8c6baff2e059fe067fb9b69e692d0",
        },
        provenance="CSV md5 sums from the BARS docs, datasets/MovieLens/README.md (MovielensLatest_x1)",
    ),
    "ml-1m": _paper(
        "ml-1m",
        urls=("https://files.grouplens.org/datasets/movielens/ml-1m.zip",),
        filename="ml-1m.zip",
        # GroupLens serves the archive's md5 beside it (ml-1m.zip.md5); this is the value quoted
        # by the projects that verify this archive (e.g. PaddlePaddle's dataset cache).
        checksum="md5:c4d9eecfca2ab87c1945afe126590906",
        provenance="archive md5 published by GroupLens (files.grouplens.org/datasets/movielens/ml-1m.zip.md5)",
    ),
    "kkbox": _paper(
        "kkbox",
        urls=(_hf("KKBox_x1"),),
        filename="KKBox_x1.zip",
        checksum=None,  # no published checksum of the zip
        file_checksums={
            "train.csv": "md5:195b1ae8fc2d9267d7c8656c07ea1304",
            "valid.csv": "md5:398e97ac139611a09bd61a58e4240a3e",
            "test.csv": "md5:8c5f7add05a6f5258b6b3bcc00ba640b",
        },
        provenance="CSV md5 sums from the RecZoo dataset docs, KKBox/KKBox_x1/README.md",
    ),
    "criteo": _paper(
        "criteo",
        urls=(_hf("Criteo_x4"),),
        filename="Criteo_x4.zip",
        checksum=None,  # no published checksum of the zip
        file_checksums={
            "train.csv": "md5:4a53bb7cbc0e4ee25f9d6a73ed824b1a",
            "valid.csv": "md5:fba5428b22895016e790e2dec623cb56",
            "test.csv": "md5:cfc37da0d75c4d2d8778e76997df2976",
        },
        provenance="CSV md5 sums from the RecZoo dataset docs, Criteo/Criteo_x4/README.md",
    ),
}

_DIGEST_LEN = {"md5": 32, "sha256": 64}


def register_archive(archive: Archive) -> Archive | None:
    """Add or replace the archive of ``archive.name``; returns the one it replaced."""
    for value in (archive.checksum, *archive.file_checksums.values()):
        if value is not None:
            _parse_checksum(value)
    if archive.format not in ("zip", "tar.gz"):
        raise ValueError(f"archive format must be zip or tar.gz, got {archive.format!r}")
    previous = ARCHIVES.get(archive.name)
    ARCHIVES[archive.name] = archive
    return previous


def _parse_checksum(value: str) -> tuple[str, str]:
    algo, _, digest = value.partition(":")
    if algo not in _DIGEST_LEN or not re.fullmatch(f"[0-9a-f]{{{_DIGEST_LEN[algo]}}}", digest):
        raise ValueError(f"checksum must be 'md5:<32 hex>' or 'sha256:<64 hex>', got {value!r}")
    return algo, digest


def get_archive(name: str) -> Archive:
    if name not in ARCHIVES:
        raise DataError(f"no download for dataset '{name}': downloadable datasets are {', '.join(ARCHIVES)}")
    return ARCHIVES[name]


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


class _Unreachable(Exception):
    """The URL gave no usable answer (no network, refused, DNS, timeout, HTTP error)."""


def _reason(exc: BaseException) -> str:
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


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total) of a Content-Range header ``bytes a-b/n`` or ``bytes */n``."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _discard(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def _fetch(url: str, part: Path, progress: Progress | None, timeout: float, _restarted: bool = False) -> int:
    """Fetch ``url`` into ``part``, resuming what is there. Returns the byte it resumed at (0: from
    the start). Raises _Unreachable when no answer came, DataError when the transfer broke off."""
    src = part.with_name(part.name + ".url")
    if part.exists() and (not src.is_file() or src.read_text().strip() != url):
        _discard(part, src)  # a .part from another URL cannot be resumed
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            _, total = _content_range(exc.headers.get("Content-Range"))
            exc.close()
            if total == offset:  # the .part is already complete
                if progress:
                    progress(offset, total)
                return offset
            if not _restarted:
                _discard(part, src)
                return _fetch(url, part, progress, timeout, _restarted=True)
        raise _Unreachable(_reason(exc)) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise _Unreachable(_reason(exc)) from None

    with resp:
        total = None
        if resp.status == 206 and offset:
            start, total = _content_range(resp.headers.get("Content-Range"))
            if start != offset:  # not the range we asked for: start again
                resp.close()
                if _restarted:
                    raise _Unreachable(f"the server answered Range: bytes={offset}- with {resp.headers.get('Content-Range')}")
                _discard(part, src)
                return _fetch(url, part, progress, timeout, _restarted=True)
            mode = "ab"
        else:  # 200: the whole file, whatever we asked for
            offset, mode = 0, "wb"
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        src.write_text(url)
        done, broke = offset, None
        if progress:
            progress(done, total)
        try:
            with open(part, mode) as f:
                while True:
                    try:
                        chunk = resp.read(CHUNK)
                    except (http.client.HTTPException, OSError) as exc:
                        broke = _reason(exc)
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
            raise DataError(f"cannot write {part}: {_reason(exc)}") from None
    if broke is not None or (total is not None and done < total):
        of = f" of {total:,}" if total is not None else ""
        raise DataError(
            f"download of {url} broke off after {done:,}{of} bytes ({broke or 'connection closed'});"
            f" {part} keeps them: run the command again to resume"
        )
    return offset


def _digests(path: Path) -> dict[str, str]:
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            md5.update(block)
            sha.update(block)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


# ---------------------------------------------------------------------------------------- unpacking


def _safe_name(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it is unsafe (absolute, drive, ``..``)."""
    norm = name.replace("\\", "/")
    path = PurePosixPath(norm)
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm) or ".." in path.parts:
        return None
    return PurePosixPath(*[p for p in path.parts if p not in ("", ".")])


class _Reader:
    """Members of a zip or tar.gz archive: (relative path, is_dir, opener)."""

    def __init__(self, path: Path, fmt: str, label: str):
        self.label = label
        try:
            if fmt == "zip":
                self._zip = zipfile.ZipFile(path)
                self._tar = None
            else:
                self._tar = tarfile.open(path, "r:gz")
                self._zip = None
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"{label} is not a readable {fmt} archive ({_reason(exc)})") from None

    def close(self):
        (self._zip or self._tar).close()

    def members(self) -> list[tuple[PurePosixPath, bool, Callable]]:
        out = []
        try:
            items = self._zip.infolist() if self._zip else self._tar.getmembers()
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"{self.label} is not a readable archive ({_reason(exc)})") from None
        for m in items:
            name = m.filename if self._zip else m.name
            rel = _safe_name(name)
            if rel is None:
                raise DataError(f"{self.label}: member '{name}' has an absolute path or '..'; refusing to unpack it")
            if self._zip:
                is_dir = m.is_dir()
                if (m.external_attr >> 16) & 0o170000 == 0o120000:
                    raise DataError(f"{self.label}: member '{name}' is a symbolic link; refusing to unpack it")
                opener = (lambda m=m: self._zip.open(m))
            else:
                if not (m.isfile() or m.isdir()):
                    raise DataError(f"{self.label}: member '{name}' is a link or special file; refusing to unpack it")
                is_dir = m.isdir()
                opener = (lambda m=m: self._tar.extractfile(m))
            if rel.parts:
                out.append((rel, is_dir, opener))
        return out


def _locate(members, files: tuple[str, ...], label: str) -> PurePosixPath:
    """The shallowest folder of the archive that holds all of ``files``."""
    present = {rel for rel, is_dir, _ in members if not is_dir}
    candidates = sorted({rel.parent for rel in present if rel.name == files[0]}, key=lambda p: (len(p.parts), str(p)))
    for folder in candidates:
        if all(folder / f in present for f in files):
            return folder
    listed = ", ".join(sorted(str(r) for r in present)[:8])
    raise DataError(f"{label} holds no folder with {', '.join(files)} (members: {listed or 'none'})")


def _unpack(archive: Archive, path: Path, label: str, dest: Path) -> list[str]:
    """Unpack the dataset folder of the archive at ``path`` into the empty folder ``dest`` and
    verify the published file checksums. Returns what was verified."""
    reader = _Reader(path, archive.format, label)
    try:
        members = reader.members()
        top = _locate(members, archive.files, label)
        hashes: dict[str, object] = {}
        for rel, is_dir, opener in members:
            if top.parts and rel.parts[: len(top.parts)] != top.parts:
                continue  # outside the dataset folder (e.g. __MACOSX/)
            inner = PurePosixPath(*rel.parts[len(top.parts):])
            if not inner.parts:
                continue
            target = dest.joinpath(*inner.parts)
            if is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            key = str(inner)
            want = archive.file_checksums.get(key)
            h = hashlib.new(_parse_checksum(want)[0]) if want else None
            try:
                with opener() as src, open(target, "wb") as out:
                    while block := src.read(CHUNK):
                        out.write(block)
                        if h is not None:
                            h.update(block)
            except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
                raise DataError(f"{label}: member '{rel}' is damaged ({_reason(exc)})") from None
            if h is not None:
                hashes[key] = h
    finally:
        reader.close()
    checked, algos = [], set()
    for key, want in archive.file_checksums.items():
        algo, digest = _parse_checksum(want)
        if key not in hashes:
            raise DataError(f"{label} lacks {key}, whose checksum is published ({algo} {digest})")
        got = hashes[key].hexdigest()
        if got != digest:
            raise DataError(
                f"{label}: unpacked {key} has {algo} {got}, expected the published {digest}; the archive was deleted"
            )
        checked.append(key)
        algos.add(algo)
    return [f"{', '.join(checked)} match the published {'/'.join(sorted(algos))} sums"] if checked else []


def _place(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; an existing ``target`` is moved aside first, deleted after."""
    old = None
    if target.exists() or target.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / target.name)
    try:
        os.replace(tmp, target)
    except OSError:
        if old is not None:
            os.replace(old / target.name, target)
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------------- download


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
    if target.exists() and not force and (not target.is_dir() or any(target.iterdir())):
        raise DataError(
            f"{target} exists but lacks {', '.join(missing_files(archive, root))}; move it away, or download"
            f" with --force, which replaces that folder"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the data root {root}: {_reason(exc)}") from None
    part = root / f"{archive.filename}.part"
    src = part.with_name(part.name + ".url")

    failures = []
    for url in archive_urls(archive, base_url):
        if on_url:
            on_url(url)
        try:
            result.resumed_from = _fetch(url, part, progress, timeout)
        except _Unreachable as exc:
            failures.append(f"{url}: {exc}")
            continue
        result.url = url
        break
    else:
        raise DataError(f"cannot download {name}: {'; '.join(failures)}; {manual_hint(archive, root)}")

    label = f"{archive.filename} (from {result.url})"
    digests = _digests(part)
    result.bytes = part.stat().st_size
    result.md5, result.sha256 = digests["md5"], digests["sha256"]
    if archive.checksum is not None:
        algo, digest = _parse_checksum(archive.checksum)
        if digests[algo] != digest:
            _discard(part, src)
            raise DataError(
                f"checksum mismatch for {label}: expected {algo} {digest}, got {algo} {digests[algo]};"
                f" the download was deleted, run the command again to fetch it afresh"
            )
        result.checks.append(f"{algo} {digest} matches the published checksum")
    else:
        result.checks.append(f"no published checksum; recorded sha256 {result.sha256}")

    tmp = Path(tempfile.mkdtemp(prefix=f".{archive.folder}.unpack-", dir=root))
    try:
        result.checks += _unpack(archive, part, label, tmp)
    except DataError:
        shutil.rmtree(tmp, ignore_errors=True)
        _discard(part, src)  # a bad archive: resuming it cannot help
        raise
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"cannot unpack {label} into {root}: {_reason(exc)}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        _place(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"cannot move the unpacked files into {target}: {_reason(exc)}") from None
    _discard(part, src)
    return result
