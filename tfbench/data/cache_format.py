"""What both cache layouts share: the format version, the meta string, file hashes, the verified assembly."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from tfbench.data.encode import SPLIT_NAMES
from tfbench.data.types import CategoricalField, EncodedDataset, Split

# Version of the cache FILE layout. 2: fields carry max_len and pooling (sequence fields take
# max_len columns of x_cat). A file of another version is reported as unusable and rebuilt.
FORMAT_VERSION = 2


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


def meta_string(
    name: str, fingerprint: str, fields: list[CategoricalField], numeric_fields: list[str],
    group_field: str | None, info: dict,
) -> str:
    """The JSON meta of a cache entry (everything but the arrays)."""
    return json.dumps(
        {
            "format": FORMAT_VERSION,
            "name": name,
            "fingerprint": fingerprint,
            "fields": [[f.name, f.vocab_size, f.oov_index, f.max_len, f.pooling] for f in fields],
            "numeric_fields": numeric_fields,
            "group_field": group_field,
            "info": info,
        },
        sort_keys=True,
        default=str,
    )


def _check_format(meta: str) -> dict:
    info = json.loads(meta)
    if info.get("format") != FORMAT_VERSION:
        raise CacheCorrupt(f"format {info.get('format')!r}, expected {FORMAT_VERSION}")
    return info


def _assemble(meta: str, arrays: dict[str, np.ndarray]) -> EncodedDataset:
    """An EncodedDataset from a verified meta string and its arrays; CacheCorrupt if inconsistent."""
    info = _check_format(meta)
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
        n = len(split)
        if split.x_cat.shape[0] != n or split.x_num.shape[0] != n or (split.group is not None and len(split.group) != n):
            raise CacheCorrupt(f"arrays of {split_name} disagree on the number of rows")
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
