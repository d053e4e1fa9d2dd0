"""The paper's five datasets (TF4CTR §IV-A, Tables III and IV), read from their public layouts.

Each :class:`PaperDataset` names its folder under the data root, the files a user gets from
the public archive, the fields (in the order the model sees them), the gAUC group, how the
raw columns become categorical tokens, and the statistics the paper and the authors' runs
report. :func:`compare` checks a prepared dataset against those statistics; ``load_dataset``
turns every difference into one :class:`DataWarning`.

The catalogue is :mod:`tfbench.data.paper_datasets`; how each dataset is read and prepared is
:mod:`tfbench.data.paper_loaders`. Both are re-exported here.
"""

from __future__ import annotations

import math

from tfbench.data.encode import SPLIT_NAMES
from tfbench.data.paper_datasets import (
    BARS_FILES,
    CRITEO_FIELDS,
    CRITEO_NUMERIC,
    FRAPPE_FIELDS,
    KKBOX_FIELDS,
    KKBOX_SEQUENCES,
    ML1M_FILES,
    MLTAG_FIELDS,
    PAPER_DATASETS,
    Expected,
    PaperDataset,
)
from tfbench.data.paper_loaders import (
    ML1M_FIELDS,
    BarsLoader,
    age_bucket,
    criteo_bucket,
    criteo_tokens,
    isrc_country,
    load_ml1m,
    time_split_bounds,
)
from tfbench.data.types import EncodedDataset

# Bump when a change in paper_datasets.py or paper_loaders.py changes the encoded arrays (part of
# the cache key).
PREP_VERSION = 1


class DataWarning(UserWarning):
    """A prepared named dataset differs from the statistics the paper reports for it."""


def compare(ds: EncodedDataset, spec: PaperDataset, min_count: int) -> list[str]:
    """The statistics of ``ds`` that differ from ``spec.expected``, one phrase each."""
    exp = spec.expected
    out = []
    if min_count != exp.min_count:
        out.append(f"min_count {min_count} (the paper used {exp.min_count})")
    for split in SPLIT_NAMES:
        n = len(ds.splits()[split])
        if n != exp.rows[split]:
            out.append(f"rows {split} {n:,} (expected {exp.rows[split]:,})")
    total = sum(len(s) for s in ds.splits().values())
    positives = sum(float(s.y.sum()) for s in ds.splits().values())
    percent = 100.0 * positives / total if total else 0.0
    if abs(percent - exp.positive_percent) > 0.05 + 1e-9:
        out.append(f"positive ratio {percent:.1f}% (expected {exp.positive_percent:.1f}%)")
    if ds.num_fields != exp.fields:
        out.append(f"fields {ds.num_fields} (expected {exp.fields})")
    features = sum(ds.vocab_sizes)
    if features != exp.run_features:
        out.append(
            f"features {features:,} (expected {exp.run_features:,}, the sum of the vocabulary sizes in the authors'"
            f" runs; Table III: {exp.features:,})"
        )
    return out


def positive_percent(ds: EncodedDataset) -> float:
    total = sum(len(s) for s in ds.splits().values())
    return 100.0 * sum(float(s.y.sum()) for s in ds.splits().values()) / total if total else math.nan
