"""Data stage: read a dataset, encode it with train-only vocabularies, cache the result.

Entry point: :func:`load_dataset` (``pipeline.py``: resolve → cache lookup → read → encode →
store). A spec is a named dataset (``synthetic``, ``frappe-nfm``, and the paper's ``frappe``,
``ml-tag``, ``ml-1m``, ``kkbox``, ``criteo``, see ``named.py``; these warn with a
:class:`DataWarning` when their statistics differ from the paper's), a BARS-style folder
(``train.csv``/``valid.csv``/``test.csv``), a folder of libFM files, or a single ``.libfm``
file. A bare name that is neither a named dataset nor an existing path is also looked up under
the data root. See ``registry.py`` for the resolution of a spec, ``encode.py`` for the
vocabulary and group-id rules and ``cache.py`` (with ``cache_format.py``, ``cache_folder.py``) for the
cache format.
"""

from __future__ import annotations

from tfbench.data.cache import CacheWarning
from tfbench.data.named import PAPER_DATASETS, DataWarning
from tfbench.data.pipeline import (
    DEFAULT_STREAM_BYTES,
    STREAM_BYTES_ENV,
    CacheEntry,
    SourceSpec,
    load_dataset,
    stream_threshold,
)
from tfbench.data.registry import NAMED, Options, named_datasets, resolve_cache_dir, resolve_data_dir, resolve_source
from tfbench.data.types import CategoricalField, EncodedDataset, Split
from tfbench.errors import DataError

__all__ = [
    "DEFAULT_STREAM_BYTES",
    "STREAM_BYTES_ENV",
    "CacheEntry",
    "CacheWarning",
    "CategoricalField",
    "DataError",
    "DataWarning",
    "PAPER_DATASETS",
    "EncodedDataset",
    "NAMED",
    "Options",
    "SourceSpec",
    "Split",
    "load_dataset",
    "named_datasets",
    "resolve_cache_dir",
    "resolve_data_dir",
    "resolve_source",
    "stream_threshold",
]
