"""Safe unpacking of a downloaded archive into the data root.

:func:`unpack` extracts the dataset folder of a zip or tar.gz archive into an empty folder.
Every member is checked before anything is written: an absolute path, a drive letter, a ``..``
component, a symbolic or hard link or a special file refuses the whole archive, so nothing can
land outside the target folder. The folder of the archive that holds all of the loader's files
(the archive's top level or a sub-folder such as ``ml-1m/``) becomes the dataset folder; members
outside it (``__MACOSX/``, ...) are skipped. Where digests of unpacked files are published each
one is computed while writing and must match.

:func:`unpack_to_temp` does that into a fresh temporary folder beside the target and removes it
again on any failure; :func:`place` then renames it into place (an existing target is moved aside
first and deleted after), so a reader sees either the old folder or the complete new one.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from tfbench.data.catalogue import Archive, parse_checksum
from tfbench.errors import DataError

CHUNK = 1 << 20

Member = tuple[PurePosixPath, bool, Callable]  # (relative path, is a folder, opener)


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def safe_name(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it is unsafe (absolute, drive, ``..``)."""
    norm = name.replace("\\", "/")
    path = PurePosixPath(norm)
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm) or ".." in path.parts:
        return None
    return PurePosixPath(*[p for p in path.parts if p not in ("", ".")])


class Reader:
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
            raise DataError(f"{label} is not a readable {fmt} archive ({_why(exc)})") from None

    def close(self):
        (self._zip or self._tar).close()

    def members(self) -> list[Member]:
        out = []
        try:
            items = self._zip.infolist() if self._zip else self._tar.getmembers()
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"{self.label} is not a readable archive ({_why(exc)})") from None
        for m in items:
            name = m.filename if self._zip else m.name
            rel = safe_name(name)
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


def locate(members: list[Member], files: tuple[str, ...], label: str) -> PurePosixPath:
    """The shallowest folder of the archive that holds all of ``files``."""
    present = {rel for rel, is_dir, _ in members if not is_dir}
    candidates = sorted({rel.parent for rel in present if rel.name == files[0]}, key=lambda p: (len(p.parts), str(p)))
    for folder in candidates:
        if all(folder / f in present for f in files):
            return folder
    listed = ", ".join(sorted(str(r) for r in present)[:8])
    raise DataError(f"{label} holds no folder with {', '.join(files)} (members: {listed or 'none'})")


def unpack(archive: Archive, path: Path, label: str, dest: Path) -> list[str]:
    """Unpack the dataset folder of the archive at ``path`` into the empty folder ``dest`` and
    verify the published file checksums. Returns what was verified."""
    reader = Reader(path, archive.format, label)
    try:
        members = reader.members()
        top = locate(members, archive.files, label)
        hashes = {}
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
            h = hashlib.new(parse_checksum(want)[0]) if want else None
            try:
                with opener() as src, open(target, "wb") as out:
                    while block := src.read(CHUNK):
                        out.write(block)
                        if h is not None:
                            h.update(block)
            except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
                raise DataError(f"{label}: member '{rel}' is damaged ({_why(exc)})") from None
            if h is not None:
                hashes[key] = h
    finally:
        reader.close()
    return _verify_files(archive, hashes, label)


def _verify_files(archive: Archive, hashes: dict, label: str) -> list[str]:
    checked, algos = [], set()
    for key, want in archive.file_checksums.items():
        algo, digest = parse_checksum(want)
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


def unpack_to_temp(archive: Archive, path: Path, label: str, root: Path) -> tuple[Path, list[str]]:
    """:func:`unpack` into a new temporary folder under ``root``; returns it and what was verified.
    Any failure removes the folder again: a bad archive raises DataError, a file system error
    OSError."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{archive.folder}.unpack-", dir=root))
    try:
        return tmp, unpack(archive, path, label, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def place(tmp: Path, target: Path) -> None:
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
