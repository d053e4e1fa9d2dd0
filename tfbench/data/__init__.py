"""Data stage: read a dataset, encode it with train-only vocabularies, cache the result.

Entry point: :func:`load_dataset`. A spec is a named dataset (``synthetic``,
``frappe-nfm``, and the paper's ``frappe``, ``ml-tag``, ``ml-1m``, ``kkbox``, ``criteo``, see
``named.py``; these warn with a :class:`DataWarning` when their statistics differ from the
paper's), a BARS-style folder (``train.csv``/``valid.csv``/``test.csv``), a folder
of libFM files, or a single ``.libfm`` file. A bare name that is neither a named dataset
nor an existing path is also looked up under the data root. See ``encode.py`` for the
vocabulary and group-id rules and ``cache.py`` for the cache format.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np

from tfbench.data import cache as _cache
from tfbench.data import named as _named
from tfbench.data.cache import CacheWarning
from tfbench.data.encode import SPLIT_NAMES, encode
from tfbench.data.named import PAPER_DATASETS, DataWarning
from tfbench.data.registry import (
    NAMED,
    Options,
    named_datasets,
    resolve_cache_dir,
    resolve_data_dir,
    resolve_source,
)
from tfbench.data.types import CategoricalField, EncodedDataset, Split
from tfbench.errors import ConfigError, DataError

__all__ = [
    "CacheWarning",
    "CategoricalField",
    "DataError",
    "DataWarning",
    "PAPER_DATASETS",
    "EncodedDataset",
    "NAMED",
    "Split",
    "load_dataset",
    "named_datasets",
    "resolve_cache_dir",
    "resolve_data_dir",
]


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


STREAM_BYTES_ENV = "TFBENCH_STREAM_BYTES"
DEFAULT_STREAM_BYTES = 1 << 30


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


def _check_paper(ds: EncodedDataset, min_count: int) -> None:
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
            stacklevel=3,
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
    if group_field is not None and (not isinstance(group_field, str) or not group_field):
        raise ConfigError(f"option group_field: expected a column name, got {group_field!r}")
    opts = Options(
        min_count=_int_option("min_count", min_count, 1),
        split_seed=_int_option("split_seed", split_seed, 0),
        synthetic_rows=_int_option("synthetic_rows", synthetic_rows, 10),
        synthetic_seed=_int_option("synthetic_seed", synthetic_seed, 0),
        numeric=_numeric_option(numeric),
        group_field=group_field,
    )
    source = resolve_source(spec, data_dir, opts)
    try:
        descriptor = source.descriptor()
    except OSError as exc:
        raise DataError(f"cannot read dataset file {exc.filename}: {exc.strerror}") from None
    key = _cache.make_key(descriptor)

    base_info = {
        "spec": str(spec),
        "source": source.kind,
        "path": source.path,
        "files": [str(p) for p in source.files],
        "options": descriptor["options"],
    }

    if stream is not None and not isinstance(stream, bool):
        raise ConfigError(f"option stream: expected true, false or none, got {stream!r}")
    if stream and source.stream is None:
        raise ConfigError(f"option stream: dataset '{source.name}' is not a CSV folder; only CSV folders are prepared by streaming")
    if stream and not use_cache:
        raise ConfigError("option stream: streaming preparation writes its arrays into the cache; it needs the cache on")
    if stream is None:
        stream = use_cache and source.stream is not None and source.size_bytes() >= stream_threshold()

    status = "off"
    path = None
    if use_cache:
        cache_root = resolve_cache_dir(cache_dir)
        path = _cache.dir_path(cache_root, key) if stream else _cache.cache_path(cache_root, key)
        status = "miss"
        # Either layout of the entry will do: they hold the same arrays.
        for candidate, read in ((_cache.cache_path(cache_root, key), _cache.load), (_cache.dir_path(cache_root, key), _cache.load_dir)):
            if not candidate.exists():
                continue
            try:
                ds = read(candidate)
            except _cache.CacheCorrupt as exc:
                _cache.discard(candidate, str(exc))
                status = "rebuilt"
                continue
            ds.name = source.name
            ds.info.update(base_info)
            ds.info.update(
                cache="hit",
                cache_path=str(candidate),
                encode_seconds=0.0,
                load_seconds=round(time.perf_counter() - t_start, 4),
            )
            _check_paper(ds, opts.min_count)
            return ds

    if stream:
        ds = _stream_build(source, key, path, base_info, status, t_start)
        _check_paper(ds, opts.min_count)
        return ds

    t_encode = time.perf_counter()
    try:
        raw = source.build()
    except OSError as exc:
        where = exc.filename if exc.filename is not None else source.path
        raise DataError(f"cannot read {where}: {exc.strerror or exc}") from None
    fields, splits = encode(raw, opts.min_count)
    encode_seconds = time.perf_counter() - t_encode

    info = dict(raw.info)
    info.update(base_info)
    info.update(
        rows={name: len(splits[name]) for name in SPLIT_NAMES},
        positive_rate={name: round(float(splits[name].y.mean()), 6) for name in SPLIT_NAMES},
        cache=status,
        cache_path=str(path) if path is not None else None,
        encode_seconds=round(encode_seconds, 4),
    )
    ds = EncodedDataset(
        name=source.name,
        fingerprint=key,
        fields=fields,
        numeric_fields=list(raw.numeric_names),
        group_field=raw.group_field,
        train=splits["train"],
        valid=splits["valid"],
        test=splits["test"],
        info=info,
    )
    if use_cache and path is not None:
        try:
            _cache.save(path, ds)
        except OSError as exc:
            warnings.warn(f"could not write dataset cache {path}: {exc}", CacheWarning, stacklevel=2)
            ds.info["cache_error"] = str(exc)
    ds.info["load_seconds"] = round(time.perf_counter() - t_start, 4)
    _check_paper(ds, opts.min_count)
    return ds


def _stream_build(source, key: str, path: Path, base_info: dict, status: str, t_start: float) -> EncodedDataset:
    """Prepare ``source`` by streaming into the memory-mapped cache entry ``path``."""
    t_encode = time.perf_counter()
    try:
        builder = _cache.DirBuilder(path)
    except OSError as exc:
        raise DataError(f"cannot create the dataset cache folder {path}: {exc.strerror or exc}") from None
    try:
        prepared = source.stream(builder)
        info = dict(prepared.info)
        info.update(base_info)
        info.update(
            rows=dict(prepared.rows),
            positive_rate={
                name: round(float(builder.array_view(f"{name}/y").mean()), 6) for name in SPLIT_NAMES
            },
            cache=status,
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
    ds.info.update(base_info)
    ds.info["load_seconds"] = round(time.perf_counter() - t_start, 4)
    return ds
