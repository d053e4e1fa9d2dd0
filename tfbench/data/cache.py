"""On-disk cache of encoded datasets: ``<cache_dir>/<key>.npz``.

The key is the sha256 of a JSON descriptor holding the cache format version, the
content fingerprint (sha256 of the bytes) of every source file — or the generator
parameters for synthetic data — and every preprocessing option that changes the arrays.
A changed file or option therefore gives a new key, and the stale entry is simply not
used again.

A cache file is one uncompressed ``.npz`` holding the arrays of the three splits, a JSON
``meta`` string (fields, numeric fields, group field, provenance) and a sha256
``checksum`` over meta and every array (name, dtype, shape and bytes). Files are written
to a temporary name in the cache directory, fsynced and then moved into place with
``os.replace``, so a reader never sees a half-written entry. A file that fails to load,
lacks an array or fails the checksum is reported with a :class:`CacheWarning`, deleted,
and rebuilt by the caller; it is never trusted and never an error.

Large datasets prepared by streaming are stored instead as a memory-mapped folder
``<cache_dir>/<key>.mm/`` (see :mod:`tfbench.data.cache_folder`); what both layouts share (the
format version, the meta string, the verified assembly of a dataset) is in
:mod:`tfbench.data.cache_format`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np

# The format and folder-layout names are re-exported here, where they were first defined.
from tfbench.atomic import atomic_file, remove_stale_temps
from tfbench.data.cache_folder import (
    DirBuilder,
    NpyWriter,
    _verified,
    load_dir,
)
from tfbench.data.cache_format import (
    FORMAT_VERSION,
    CacheCorrupt,
    _assemble,
    _check_format,
    file_sha256,
    meta_string,
)
from tfbench.data.types import EncodedDataset

# Version of the data KEY, which is also the dataset fingerprint in every run key: bump it only
# when the encoding of existing sources changes, never for a new file layout, or every stored
# run would be orphaned and retrained.
KEY_VERSION = 1
_ARRAYS = ("x_cat", "x_num", "y", "group")


class CacheWarning(UserWarning):
    """A cache entry was unusable (corrupt, truncated or unreadable) and is being rebuilt."""


def make_key(descriptor: dict) -> str:
    payload = json.dumps({"format": KEY_VERSION, **descriptor}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"{key}.npz"


def dir_path(cache_dir: Path, key: str) -> Path:
    """The memory-mapped layout of the entry ``key``: a folder of ``.npy`` files."""
    return cache_dir / f"{key}.mm"


def _checksum(meta: str, arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    h.update(meta.encode("utf-8"))
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"|{name}|{a.dtype.str}|{a.shape}|".encode("ascii"))
        h.update(memoryview(a).cast("B") if a.size else b"")
    return h.hexdigest()


def _to_payload(ds: EncodedDataset) -> tuple[str, dict[str, np.ndarray]]:
    arrays = {}
    for split_name, split in ds.splits().items():
        arrays[f"{split_name}/x_cat"] = split.x_cat
        arrays[f"{split_name}/x_num"] = split.x_num
        arrays[f"{split_name}/y"] = split.y
        if split.group is not None:
            arrays[f"{split_name}/group"] = split.group
    return meta_string(ds.name, ds.fingerprint, ds.fields, ds.numeric_fields, ds.group_field, ds.info), arrays


def save(path: Path, ds: EncodedDataset) -> None:
    """Write ``ds`` to ``path`` atomically (``tfbench/atomic.py``: temp file in the same dir, fsync, os.replace)."""
    meta, arrays = _to_payload(ds)
    # The older writers' temporary names (<stem>.<random>.tmp, from mkstemp) go by age.
    remove_stale_temps(path, pattern=f"{path.stem}.*.tmp")
    with atomic_file(path, "wb", durable=True) as fh:
        np.savez(fh, meta=np.array(meta), checksum=np.array(_checksum(meta, arrays)), **arrays)


def load(path: Path) -> EncodedDataset:
    """Read and verify a cache file; raise :class:`CacheCorrupt` if anything is wrong."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = set(npz.files)
            meta = str(npz["meta"][()])
            stored = str(npz["checksum"][()])
            arrays = {name: npz[name] for name in names - {"meta", "checksum"}}
        _check_format(meta)
        if _checksum(meta, arrays) != stored:
            raise CacheCorrupt("checksum mismatch")
        return _assemble(meta, arrays)
    except CacheCorrupt:
        raise
    except Exception as exc:  # np.load / zipfile / KeyError / JSON / ValueError: all mean "unusable"
        raise CacheCorrupt(f"{type(exc).__name__}: {' '.join(str(exc).split())}") from None


def discard(path: Path, reason: str, stacklevel: int = 3) -> None:
    """Warn about an unusable cache entry and delete it (``stacklevel``: of the warnings, as
    :func:`warnings.warn` counts it from here)."""
    warnings.warn(f"ignoring unusable dataset cache {path} ({reason}); rebuilding it", CacheWarning, stacklevel=stacklevel)
    _verified.pop(str(path), None)
    try:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        warnings.warn(f"could not delete unusable dataset cache {path}: {exc}", CacheWarning, stacklevel=stacklevel)
