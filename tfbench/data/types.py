"""Typed containers handed from the data stage to the training core."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class CategoricalField:
    """A categorical field. Indices run 0..vocab_size-1; ``oov_index`` is shared by rare and unseen values."""

    name: str
    vocab_size: int
    oov_index: int


@dataclass
class Split:
    """One split, encoded.

    x_cat:  int64 [N, F]   one index per categorical field
    x_num:  float32 [N, K] numeric fields (K may be 0)
    y:      float32 [N]    labels in {0, 1}
    group:  int64 [N] or None: the gAUC group (user) of each row
    """

    x_cat: np.ndarray
    x_num: np.ndarray
    y: np.ndarray
    group: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class EncodedDataset:
    name: str
    fingerprint: str                       # hash of source content + preprocessing options
    fields: list[CategoricalField]
    numeric_fields: list[str]
    group_field: str | None                # name of the field used as gAUC group, if any
    train: Split
    valid: Split
    test: Split
    info: dict = field(default_factory=dict)  # free-form provenance (source paths, options, cache hit)

    @property
    def num_fields(self) -> int:
        return len(self.fields)

    @property
    def vocab_sizes(self) -> list[int]:
        return [f.vocab_size for f in self.fields]

    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "valid": self.valid, "test": self.test}
