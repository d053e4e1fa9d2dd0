"""The memory-mapped folder layout of a cache entry: written block by block, opened verified and read-only.

Large datasets prepared by streaming (``stream.py``) are stored instead as a folder
``<cache_dir>/<key>.mm/`` with one ``.npy`` file per array (``train.x_cat.npy``, ...), opened
memory-mapped (read-only) on load, so a split never has to fit in memory. The folder is
written under a temporary name (``.<key>.mm.tmp-<pid>-<random>``) and renamed into place as a
whole; its ``meta.json``, written last, holds the same meta string as the ``.npz`` plus every
file's dtype, shape, byte size and sha256, and a checksum over itself. On load the sizes and
every file's sha256 are verified (reading the files in blocks), so a truncated, corrupt or
half-written folder is reported, deleted and rebuilt like a bad ``.npz``. Both layouts hold
the same arrays under the same key; a reader takes whichever is present.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from tfbench.atomic import fsync_dir, process_running, temp_path, writer_pid
from tfbench.data.cache_format import FORMAT_VERSION, CacheCorrupt, _assemble, file_sha256
from tfbench.data.types import EncodedDataset

_META_FILE = "meta.json"
_HASH_BLOCK = 16 * 1024 * 1024
# Folders verified by this process: path -> (size, mtime_ns, inode) of every file. A second
# load of an unchanged folder in the same process skips re-hashing gigabytes.
_verified: dict[str, tuple] = {}


def _array_file(name: str) -> str:
    return name.replace("/", ".") + ".npy"


class NpyWriter:
    """Writes one preallocated ``.npy`` file front to back, block by block, hashing as it goes.

    The file (header and full size, sparse) is created by ``np.lib.format.open_memmap``; the
    blocks are then written through an ordinary file handle, so the written pages live in the
    page cache, not in this process's resident memory. An array with no elements has no file.
    """

    def __init__(self, path: Path, dtype, shape: tuple[int, ...]):
        self.path = path
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(d) for d in shape)
        self.rows = 0
        self.sha = hashlib.sha256()
        self.spec: dict | None = None
        self._fh = None
        if int(np.prod(self.shape)) > 0:
            mm = np.lib.format.open_memmap(path, mode="w+", dtype=self.dtype, shape=self.shape)
            offset = mm.offset
            del mm
            self._fh = open(path, "r+b")
            self.sha.update(self._fh.read(offset))
            self._fh.seek(offset)

    def write(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.shape[1:] != self.shape[1:] or self.rows + block.shape[0] > self.shape[0]:
            raise ValueError(f"{self.path.name}: block of shape {block.shape} does not fit {self.shape} at row {self.rows}")
        if self._fh is not None and block.size:
            data = memoryview(block).cast("B")
            self._fh.write(data)
            self.sha.update(data)
        self.rows += block.shape[0]

    def close(self) -> dict:
        if self.spec is not None:
            return self.spec
        if self.rows != self.shape[0]:
            raise ValueError(f"{self.path.name}: {self.rows} rows written, {self.shape[0]} expected")
        size = 0
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            size = self._fh.tell()
            self._fh.close()
            self._fh = None
        self.spec = {
            "file": self.path.name if size else None,
            "dtype": self.dtype.str,
            "shape": list(self.shape),
            "bytes": size,
            "sha256": self.sha.hexdigest() if size else None,
        }
        return self.spec

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class DirBuilder:
    """Builds the memory-mapped entry ``final`` under a temporary folder; ``commit`` writes
    ``meta.json`` last and renames the folder into place; ``abort`` removes it."""

    def __init__(self, final: Path):
        self.final = final
        final.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_builds(final)
        self.tmp = temp_path(final)
        self.tmp.mkdir()
        self._writers: dict[str, NpyWriter] = {}

    def array(self, name: str, dtype, shape: tuple[int, ...]) -> NpyWriter:
        writer = NpyWriter(self.tmp / _array_file(name), dtype, shape)
        self._writers[name] = writer
        return writer

    def array_view(self, name: str) -> np.ndarray:
        """A finished array of this build, memory-mapped read-only (before ``commit``)."""
        w = self._writers[name]
        if w.spec is None:
            raise ValueError(f"{name} is not finished")
        return np.load(w.path, mmap_mode="r") if w.spec["file"] else np.empty(w.shape, dtype=w.dtype)

    def commit(self, meta: str) -> Path:
        arrays = {name: w.close() for name, w in self._writers.items()}
        body = {"format": FORMAT_VERSION, "meta": meta, "arrays": arrays}
        body["checksum"] = _meta_checksum(body)
        tmp_meta = self.tmp / (_META_FILE + ".tmp")
        with open(tmp_meta, "w", encoding="utf-8") as fh:
            json.dump(body, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_meta, self.tmp / _META_FILE)
        fsync_dir(self.tmp)
        try:
            os.rename(self.tmp, self.final)
        except OSError:
            if not self.final.is_dir():
                raise
            # another process finished the same entry first: keep theirs (verified on load)
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:  # hashed while written: no need to read it back in this process
            _verified[str(self.final)] = _signature(self.final, arrays)
        fsync_dir(self.final.parent)
        return self.final

    def abort(self) -> None:
        for w in self._writers.values():
            w.abort()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _remove_stale_builds(final: Path) -> None:
    """Delete temporary folders of ``final`` left by builders that no longer run (killed)."""
    for tmp in final.parent.glob(f".{final.name}.tmp-*"):
        pid = writer_pid(tmp)
        if pid is not None and pid != os.getpid() and not process_running(pid):
            shutil.rmtree(tmp, ignore_errors=True)


def _meta_checksum(body: dict) -> str:
    payload = json.dumps({k: v for k, v in body.items() if k != "checksum"}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _signature(folder: Path, arrays: dict) -> tuple:
    """(name, (size, mtime_ns, inode)) of every array file present in ``folder``."""
    out = []
    for name, spec in sorted(arrays.items()):
        if not spec["file"]:
            continue
        try:
            st = (folder / spec["file"]).stat()
        except FileNotFoundError:
            continue
        out.append((name, (st.st_size, st.st_mtime_ns, st.st_ino)))
    return tuple(out)


def load_dir(path: Path, verify: bool = True) -> EncodedDataset:
    """Open a memory-mapped entry read-only after checking it; :class:`CacheCorrupt` if anything
    is wrong (no or bad ``meta.json``, a missing file, a wrong size, a failed sha256)."""
    try:
        meta_path = path / _META_FILE
        if not meta_path.is_file():
            raise CacheCorrupt("no meta.json (an incomplete build)")
        with open(meta_path, encoding="utf-8") as fh:
            body = json.load(fh)
        if body.get("format") != FORMAT_VERSION:
            raise CacheCorrupt(f"format {body.get('format')!r}, expected {FORMAT_VERSION}")
        if body.get("checksum") != _meta_checksum(body):
            raise CacheCorrupt("meta.json checksum mismatch")
        files = {name: spec for name, spec in body["arrays"].items() if spec["file"]}
        signature = _signature(path, files)
        if len(signature) != len(files):
            missing = sorted(set(files) - {name for name, _ in signature})
            raise CacheCorrupt(f"missing array file(s) {', '.join(_array_file(m) for m in missing)}")
        for name, (size, *_rest) in signature:
            if size != files[name]["bytes"]:
                raise CacheCorrupt(f"{files[name]['file']} has {size} bytes, expected {files[name]['bytes']}")
        if verify and _verified.get(str(path)) != signature:
            for name, spec in files.items():
                if file_sha256(path / spec["file"], _HASH_BLOCK) != spec["sha256"]:
                    raise CacheCorrupt(f"{spec['file']}: checksum mismatch")
            _verified[str(path)] = signature
        arrays = {}
        for name, spec in body["arrays"].items():
            dtype, shape = np.dtype(spec["dtype"]), tuple(spec["shape"])
            if spec["file"] is None:
                if int(np.prod(shape)) != 0:
                    raise CacheCorrupt(f"{name}: no file for a non-empty array")
                arrays[name] = np.empty(shape, dtype=dtype)
                continue
            a = np.load(path / spec["file"], mmap_mode="r", allow_pickle=False)
            if a.dtype != dtype or a.shape != shape:
                raise CacheCorrupt(f"{spec['file']} holds {a.dtype}{a.shape}, meta says {dtype}{shape}")
            arrays[name] = a
        return _assemble(body["meta"], arrays)
    except CacheCorrupt:
        raise
    except Exception as exc:  # OSError / JSON / KeyError / ValueError: all mean "unusable"
        raise CacheCorrupt(f"{type(exc).__name__}: {' '.join(str(exc).split())}") from None
