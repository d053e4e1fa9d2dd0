"""A prepared dataset's statistics beside the paper's (Table III): what ``tfbench data info``
prints and what the ``table3`` report tabulates, computed in one place so the two cannot differ."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from tfbench.data.named import PAPER_DATASETS, DataWarning
from tfbench.data.paper_datasets import Expected
from tfbench.data.types import EncodedDataset


@dataclass(frozen=True)
class SplitStatistics:
    name: str
    rows: int
    positives: int
    positive_percent: float          # 100 × mean label (NaN for an empty split)


@dataclass(frozen=True)
class FieldStatistics:
    name: str
    kind: str                        # "categorical" or "multi-valued, max K, pooling", ", gAUC group" added
    vocab_size: int                  # padding and OOV entries included
    authors_vocab: int | None        # the authors' run log's size for this field, if known


@dataclass(frozen=True)
class DatasetStatistics:
    name: str
    path: str
    min_count: int
    cache: object                    # the cache's verdict ("hit", "miss", ...) as the loader reports it
    splits: tuple[SplitStatistics, ...]
    fields: tuple[FieldStatistics, ...]
    positive_percent: float          # over all splits
    expected: Expected | None        # the paper's and the authors' numbers (None: not a paper dataset)
    paper_differences: tuple[str, ...]

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.splits)

    @property
    def num_fields(self) -> int:
        return len(self.fields)

    @property
    def features(self) -> int:
        """Table III's "#Features": the sum of the per-field vocabulary sizes."""
        return sum(f.vocab_size for f in self.fields)


def default_min_count(name: str) -> int:
    """The paper's OOV threshold for a paper dataset (10 for Criteo, else 2); 2 for the others."""
    spec = PAPER_DATASETS.get(name)
    return spec.expected.min_count if spec is not None else 2


def dataset_statistics(ds: EncodedDataset, name: str, min_count: int) -> DatasetStatistics:
    """The statistics of a prepared dataset, with the paper's for the dataset ``name`` if it has them."""
    spec = PAPER_DATASETS.get(name)
    exp = spec.expected if spec is not None else None
    # positives counted exactly (the labels are float32: their float32 mean is off in the 7th digit)
    counts = {name: (len(split), int(np.count_nonzero(split.y))) for name, split in ds.splits().items()}
    splits = tuple(SplitStatistics(name, n, k, 100.0 * k / n if n else float("nan")) for name, (n, k) in counts.items())
    rows, positives = sum(n for n, _ in counts.values()), sum(k for _, k in counts.values())
    fields = []
    for f in ds.fields:
        kind = f"multi-valued, max {f.max_len}, {f.pooling}" if f.is_sequence else "categorical"
        if ds.group_field == f.name:
            kind += ", gAUC group"
        fields.append(FieldStatistics(f.name, kind, f.vocab_size, exp.vocab_sizes.get(f.name) if exp else None))
    return DatasetStatistics(
        name=ds.name, path=str(ds.info.get("path") or ""), min_count=min_count, cache=ds.info.get("cache"),
        splits=splits, fields=tuple(fields), positive_percent=100.0 * positives / rows if rows else float("nan"),
        expected=exp,
        paper_differences=tuple(ds.info.get("paper_differences") or ()) if exp is not None else (),
    )


def prepare_statistics(name: str, min_count: int | None = None, data_dir: str | None = None) -> DatasetStatistics:
    """Prepare (or load from the cache) the named dataset and return its statistics.

    The loader's DataWarnings are silenced: the differences to the paper are part of the result
    (``paper_differences``), for the caller to print."""
    from tfbench.data import load_dataset

    if min_count is None:
        min_count = default_min_count(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        ds = load_dataset(name, data_dir=data_dir, min_count=min_count)
    return dataset_statistics(ds, name, min_count)
