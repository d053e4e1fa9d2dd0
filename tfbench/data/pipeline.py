"""``load_dataset`` as five steps, each a small function with a typed input and output:

1. :func:`resolve`: a spec (a name or a path) and the options → a :class:`SourceSpec`: the
   source's files and reader, its fingerprint (the cache key, which enters every run key) and
   whether it is prepared by streaming.
2. :func:`lookup`: a SourceSpec → a :class:`CacheEntry`: the cached dataset on a hit (either
   layout), else where the new entry goes; an unusable entry is deleted ("rebuilt").
3. :func:`read`: a SourceSpec → :class:`~tfbench.data.encode.RawData` (string tokens, numbers,
   labels per split).
4. :func:`encode_raw`: RawData → an :class:`~tfbench.data.types.EncodedDataset` (train-only
   vocabularies, see ``encode.py``) with its provenance in ``info``.
5. :func:`store`: the EncodedDataset → the cache (an unwritable cache warns, it never fails).

A streamed source (``stream.py``) does 3–5 in one pass of blocks over its files
(:func:`prepare_streaming`) and is returned memory-mapped.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfbench.data import cache as _cache
from tfbench.data import named as _named
from tfbench.data.cache import CacheWarning
from tfbench.data.encode import SPLIT_NAMES, RawData, encode
from tfbench.data.named import PAPER_DATASETS, DataWarning
from tfbench.data.registry import Options, Source, resolve_cache_dir, resolve_source
from tfbench.data.types import EncodedDataset
from tfbench.errors import ConfigError, DataError

STREAM_BYTES_ENV = "TFBENCH_STREAM_BYTES"
DEFAULT_STREAM_BYTES = 1 << 30


@dataclass(frozen=True)
class SourceSpec:
    """A dataset spec resolved: what to read, its fingerprint and how to prepare it."""

    source: Source
    options: Options
    fingerprint: str  # the cache key; part of every run key
    stream: bool  # prepare by streaming into a memory-mapped cache entry
    info: dict  # spec, source, path, files, options: carried into every result's info


@dataclass(frozen=True)
class CacheEntry:
    """The outcome of a cache lookup."""

    status: str  # "hit", "miss", "rebuilt" (an unusable entry was deleted) or "off"
    path: Path | None  # the entry found (hit) or to be written (miss); None when the cache is off
    dataset: EncodedDataset | None = None  # the cached dataset on a hit


# ------------------------------------------------------------------------------------ options


def _int_option(name: str, value, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"option {name}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"option {name}: must be at least {minimum}, got {value}")
    return int(value)


def _numeric_option(numeric) -> list[str]:
    if numeric is None:
        return []
    if isinstance(numeric, str):
        numeric = [c for c in (part.strip() for part in numeric.split(",")) if c]
    out = []
    for col in numeric:
        if not isinstance(col, str) or not col:
            raise ConfigError(f"option numeric: expected column names, got {col!r}")
        out.append(col)
    return out


def parse_options(
    *, min_count, split_seed, synthetic_rows, synthetic_seed, numeric, group_field,
) -> Options:
    """The preprocessing options, checked (ConfigError for a wrong type or range)."""
    if group_field is not None and (not isinstance(group_field, str) or not group_field):
        raise ConfigError(f"option group_field: expected a column name, got {group_field!r}")
    return Options(
        min_count=_int_option("min_count", min_count, 1),
        split_seed=_int_option("split_seed", split_seed, 0),
        synthetic_rows=_int_option("synthetic_rows", synthetic_rows, 10),
        synthetic_seed=_int_option("synthetic_seed", synthetic_seed, 0),
        numeric=_numeric_option(numeric),
        group_field=group_field,
    )


def stream_threshold() -> int:
    """Source size (bytes, all files) from which a CSV dataset is prepared by streaming:
    $TFBENCH_STREAM_BYTES, default 1 GiB."""
    value = os.environ.get(STREAM_BYTES_ENV, "").strip()
    if not value:
        return DEFAULT_STREAM_BYTES
    try:
        return int(float(value))
    except ValueError:
        raise ConfigError(f"{STREAM_BYTES_ENV}: expected a number of bytes, got {value!r}") from None


# ------------------------------------------------------------------------------------ 1. resolve


def _streaming(source: Source, stream, use_cache: bool) -> bool:
    if stream is not None and not isinstance(stream, bool):
        raise ConfigError(f"option stream: expected true, false or none, got {stream!r}")
    if stream and source.stream is None:
        raise ConfigError(f"option stream: dataset '{source.name}' is not a CSV folder; only CSV folders are prepared by streaming")
    if stream and not use_cache:
        raise ConfigError("option stream: streaming preparation writes its arrays into the cache; it needs the cache on")
    if stream is None:
        return use_cache and source.stream is not None and source.size_bytes() >= stream_threshold()
    return stream


def resolve(spec: str, data_dir: str | Path | None, options: Options, *, use_cache: bool, stream: bool | None,
            cache_dir: str | Path | None = None) -> SourceSpec:
    """Step 1: name or path → the source, its fingerprint and its preparation. With the cache on,
    the source files' hashes are memoised in the cache folder (re-hashed when a file changes)."""
    source = resolve_source(spec, data_dir, options)
    try:
        descriptor = source.descriptor(resolve_cache_dir(cache_dir) if use_cache else None)
    except OSError as exc:
        raise DataError(f"cannot read dataset file {exc.filename}: {exc.strerror}") from None
    info = {
        "spec": str(spec),
        "source": source.kind,
        "path": source.path,
        "files": [str(p) for p in source.files],
        "options": descriptor["options"],
    }
    return SourceSpec(
        source=source,
        options=options,
        fingerprint=_cache.make_key(descriptor),
        stream=_streaming(source, stream, use_cache),
        info=info,
    )


# ------------------------------------------------------------------------------------ 2. lookup


def lookup(src: SourceSpec, cache_dir: str | Path | None, use_cache: bool) -> CacheEntry:
    """Step 2: the cached dataset (either layout will do: they hold the same arrays), or where
    to write it. An entry that fails to load or verify is reported, deleted and rebuilt."""
    if not use_cache:
        return CacheEntry(status="off", path=None)
    root = resolve_cache_dir(cache_dir)
    key = src.fingerprint
    status = "miss"
    for candidate, read_entry in ((_cache.cache_path(root, key), _cache.load), (_cache.dir_path(root, key), _cache.load_dir)):
        if not candidate.exists():
            continue
        try:
            ds = read_entry(candidate)
        except _cache.CacheCorrupt as exc:
            _cache.discard(candidate, str(exc), stacklevel=4)
            status = "rebuilt"
            continue
        ds.name = src.source.name
        ds.info.update(src.info)
        ds.info.update(cache="hit", cache_path=str(candidate), encode_seconds=0.0)
        return CacheEntry(status="hit", path=candidate, dataset=ds)
    path = _cache.dir_path(root, key) if src.stream else _cache.cache_path(root, key)
    return CacheEntry(status=status, path=path)


# ------------------------------------------------------------------------------------ 3. read


def read(src: SourceSpec) -> RawData:
    """Step 3: the source's rows as string tokens, numbers and labels per split."""
    try:
        return src.source.build()
    except OSError as exc:
        where = exc.filename if exc.filename is not None else src.source.path
        raise DataError(f"cannot read {where}: {exc.strerror or exc}") from None


# ------------------------------------------------------------------------------------ 4. encode


def encode_raw(src: SourceSpec, raw: RawData, entry: CacheEntry, started: float) -> EncodedDataset:
    """Step 4: train-only vocabularies and integer arrays; ``started`` is when reading began
    (``encode_seconds`` covers reading and encoding)."""
    fields, splits = encode(raw, src.options.min_count)
    encode_seconds = time.perf_counter() - started
    info = dict(raw.info)
    info.update(src.info)
    info.update(
        rows={name: len(splits[name]) for name in SPLIT_NAMES},
        positive_rate={name: round(float(splits[name].y.mean()), 6) for name in SPLIT_NAMES},
        cache=entry.status,
        cache_path=str(entry.path) if entry.path is not None else None,
        encode_seconds=round(encode_seconds, 4),
    )
    return EncodedDataset(
        name=src.source.name,
        fingerprint=src.fingerprint,
        fields=fields,
        numeric_fields=list(raw.numeric_names),
        group_field=raw.group_field,
        train=splits["train"],
        valid=splits["valid"],
        test=splits["test"],
        info=info,
    )


# ------------------------------------------------------------------------------------ 5. store


def store(ds: EncodedDataset, entry: CacheEntry) -> None:
    """Step 5: write ``ds`` to its cache entry; a failure warns (CacheWarning) and is noted in
    ``info["cache_error"]``."""
    if entry.path is None:
        return
    try:
        _cache.save(entry.path, ds)
    except OSError as exc:
        warnings.warn(f"could not write dataset cache {entry.path}: {exc}", CacheWarning, stacklevel=3)
        ds.info["cache_error"] = str(exc)


# ------------------------------------------------------------------------------------ 3-5 streamed


def prepare_streaming(src: SourceSpec, entry: CacheEntry) -> EncodedDataset:
    """Steps 3–5 for a streamed source: read and encode in blocks straight into the
    memory-mapped cache entry ``entry.path``, then open it."""
    source, key, path = src.source, src.fingerprint, entry.path
    t_encode = time.perf_counter()
    try:
        builder = _cache.DirBuilder(path)
    except OSError as exc:
        raise DataError(f"cannot create the dataset cache folder {path}: {exc.strerror or exc}") from None
    try:
        prepared = source.stream(builder)
        info = dict(prepared.info)
        info.update(src.info)
        info.update(
            rows=dict(prepared.rows),
            positive_rate={
                name: round(float(builder.array_view(f"{name}/y").mean()), 6) for name in SPLIT_NAMES
            },
            cache=entry.status,
            cache_path=str(path),
            prepared="streaming",
            encode_seconds=round(time.perf_counter() - t_encode, 4),
        )
        meta = _cache.meta_string(source.name, key, prepared.fields, prepared.numeric_names, prepared.group_field, info)
        builder.commit(meta)
    except BaseException as exc:
        builder.abort()
        if isinstance(exc, OSError):
            where = exc.filename if exc.filename is not None else path
            raise DataError(f"cannot prepare dataset into {where}: {exc.strerror or exc}") from None
        raise
    try:
        ds = _cache.load_dir(path)
    except _cache.CacheCorrupt as exc:  # only if something changed it between commit and load
        raise DataError(f"the prepared dataset cache {path} is unusable right after writing it ({exc})") from None
    ds.name = source.name
    ds.info.update(src.info)
    return ds


# ------------------------------------------------------------------------------------ the pipeline


def _check_paper(ds: EncodedDataset, min_count: int, stacklevel: int = 3) -> None:
    """Compare a named paper dataset with its expected statistics; warn once about every difference."""
    spec = PAPER_DATASETS.get(ds.name)
    if spec is None or not ds.info.get("source", "").startswith("paper-"):
        return
    differences = _named.compare(ds, spec, min_count)
    ds.info["paper_differences"] = differences
    if differences:
        warnings.warn(
            f"dataset '{ds.name}' differs from the statistics the paper reports for {spec.title}: "
            + "; ".join(differences),
            DataWarning,
            stacklevel=stacklevel,
        )


def load_dataset(
    spec: str,
    *,
    data_dir: str | Path | None = None,
    min_count: int = 2,
    split_seed: int = 2023,
    cache_dir: str | Path | None = None,
    synthetic_rows: int = 100_000,
    synthetic_seed: int = 2023,
    numeric: list[str] | None = None,
    group_field: str | None = None,
    use_cache: bool = True,
    stream: bool | None = None,
) -> EncodedDataset:
    """Load, validate, encode (train-only vocabularies) and cache a dataset.

    Raises :class:`~tfbench.errors.DataError` for bad data or an unknown dataset and
    :class:`~tfbench.errors.ConfigError` for an option of the wrong type or range.
    ``info`` of the result holds ``cache`` ("hit", "miss", "rebuilt" or "off"),
    ``cache_path``, ``encode_seconds`` (time spent reading and encoding the source in
    this call; 0.0 on a hit), ``load_seconds`` (the whole call), the options, source files
    and per-split row counts and positive rates.

    ``stream``: prepare a CSV folder by streaming (``stream.py``: two passes over the files in
    blocks, arrays written to memory-mapped ``.npy`` files in the cache) instead of in memory.
    None (default) streams when the source files add up to at least :func:`stream_threshold`
    bytes and the cache is on. Both give the same arrays under the same key; a streamed entry
    is returned memory-mapped (read-only numpy memmaps), and so is a later cache hit on it.
    """
    t_start = time.perf_counter()
    options = parse_options(min_count=min_count, split_seed=split_seed, synthetic_rows=synthetic_rows,
                            synthetic_seed=synthetic_seed, numeric=numeric, group_field=group_field)
    src = resolve(spec, data_dir, options, use_cache=use_cache, stream=stream, cache_dir=cache_dir)   # 1
    entry = lookup(src, cache_dir, use_cache)                                    # 2
    if entry.dataset is not None:
        ds = entry.dataset
    elif src.stream:
        ds = prepare_streaming(src, entry)                                       # 3-5 in blocks
    else:
        t_read = time.perf_counter()
        raw = read(src)                                                          # 3
        ds = encode_raw(src, raw, entry, started=t_read)                         # 4
        store(ds, entry)                                                         # 5
    ds.info["load_seconds"] = round(time.perf_counter() - t_start, 4)
    _check_paper(ds, options.min_count)
    return ds
