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
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from tfbench.data.encode import SPLIT_NAMES
from tfbench.data.types import CategoricalField, EncodedDataset, Split

# Version of the cache FILE layout. 2: fields carry max_len and pooling (sequence fields take
# max_len columns of x_cat). A file of another version is reported as unusable and rebuilt.
FORMAT_VERSION = 2
# Version of the data KEY, which is also the dataset fingerprint in every run key: bump it only
# when the encoding of existing sources changes, never for a new file layout, or every stored
# run would be orphaned and retrained.
KEY_VERSION = 1
_ARRAYS = ("x_cat", "x_num", "y", "group")


class CacheWarning(UserWarning):
    """A cache entry was unusable (corrupt, truncated or unreadable) and is being rebuilt."""


class CacheCorrupt(Exception):
    """Internal: a cache file failed to load or verify."""


def file_sha256(path: Path, chunk: int = 8 * 1024 * 1024) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def make_key(descriptor: dict) -> str:
    payload = json.dumps({"format": KEY_VERSION, **descriptor}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"{key}.npz"


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
    meta = json.dumps(
        {
            "format": FORMAT_VERSION,
            "name": ds.name,
            "fingerprint": ds.fingerprint,
            "fields": [[f.name, f.vocab_size, f.oov_index, f.max_len, f.pooling] for f in ds.fields],
            "numeric_fields": ds.numeric_fields,
            "group_field": ds.group_field,
            "info": ds.info,
        },
        sort_keys=True,
        default=str,
    )
    return meta, arrays


def save(path: Path, ds: EncodedDataset) -> None:
    """Write ``ds`` to ``path`` atomically (temp file in the same dir, fsync, os.replace)."""
    meta, arrays = _to_payload(ds)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, meta=np.array(meta), checksum=np.array(_checksum(meta, arrays)), **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; cache entries are ordinary files
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename durable; not possible on every platform
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def load(path: Path) -> EncodedDataset:
    """Read and verify a cache file; raise :class:`CacheCorrupt` if anything is wrong."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = set(npz.files)
            meta = str(npz["meta"][()])
            stored = str(npz["checksum"][()])
            arrays = {name: npz[name] for name in names - {"meta", "checksum"}}
        info = json.loads(meta)
        if info.get("format") != FORMAT_VERSION:
            raise CacheCorrupt(f"format {info.get('format')!r}, expected {FORMAT_VERSION}")
        if _checksum(meta, arrays) != stored:
            raise CacheCorrupt("checksum mismatch")
        splits = {}
        for split_name in SPLIT_NAMES:
            group_key = f"{split_name}/group"
            splits[split_name] = Split(
                x_cat=arrays[f"{split_name}/x_cat"],
                x_num=arrays[f"{split_name}/x_num"],
                y=arrays[f"{split_name}/y"],
                group=arrays[group_key] if group_key in arrays else None,
            )
            if (info["group_field"] is None) != (splits[split_name].group is None):
                raise CacheCorrupt(f"group array of {split_name} inconsistent with meta")
        fields = [
            CategoricalField(name=n, vocab_size=int(v), oov_index=int(o), max_len=int(m), pooling=p)
            for n, v, o, m, p in info["fields"]
        ]
        width = sum(f.width for f in fields)
        for split_name, split in splits.items():
            if split.x_cat.ndim != 2 or split.x_cat.shape[1] != width:
                raise CacheCorrupt(f"x_cat of {split_name} has shape {split.x_cat.shape}, fields need {width} columns")
        return EncodedDataset(
            name=info["name"],
            fingerprint=info["fingerprint"],
            fields=fields,
            numeric_fields=list(info["numeric_fields"]),
            group_field=info["group_field"],
            train=splits["train"],
            valid=splits["valid"],
            test=splits["test"],
            info=dict(info["info"]),
        )
    except CacheCorrupt:
        raise
    except Exception as exc:  # np.load / zipfile / KeyError / JSON / ValueError: all mean "unusable"
        raise CacheCorrupt(f"{type(exc).__name__}: {' '.join(str(exc).split())}") from None


def discard(path: Path, reason: str) -> None:
    """Warn about an unusable cache entry and delete it."""
    warnings.warn(f"ignoring unusable dataset cache {path} ({reason}); rebuilding it", CacheWarning, stacklevel=3)
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        warnings.warn(f"could not delete unusable dataset cache {path}: {exc}", CacheWarning, stacklevel=3)
