"""Typed containers handed from the data stage to the training core."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


POOLINGS = ("mean", "sum")


@dataclass(frozen=True)
class CategoricalField:
    """A categorical field. Indices run 0..vocab_size-1; ``oov_index`` is shared by rare and unseen values.

    A field with ``max_len > 0`` is a multi-valued (sequence) field: each row holds up to
    ``max_len`` tokens, stored in ``max_len`` consecutive columns of ``x_cat`` (padding index 0
    after the last token), and the model pools the tokens' embeddings (``pooling``: ``mean`` or
    ``sum`` over the non-padding tokens) into one field embedding. A plain field has
    ``max_len == 0``, one column, and no pooling.
    """

    name: str
    vocab_size: int
    oov_index: int
    max_len: int = 0
    pooling: str | None = None

    def __post_init__(self):
        if self.max_len < 0:
            raise ValueError(f"field {self.name}: max_len must be >= 0, got {self.max_len}")
        if self.max_len > 0 and self.pooling not in POOLINGS:
            raise ValueError(f"sequence field {self.name}: pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.max_len == 0 and self.pooling is not None:
            raise ValueError(f"field {self.name}: pooling applies only to sequence fields (max_len > 0)")

    @property
    def is_sequence(self) -> bool:
        return self.max_len > 0

    @property
    def width(self) -> int:
        """Columns of ``x_cat`` the field occupies."""
        return self.max_len if self.max_len > 0 else 1


@dataclass
class Split:
    """One split, encoded.

    x_cat:  int64 [N, C]   one column per plain categorical field, ``max_len`` columns per
                           sequence field (C = sum of the fields' widths, in field order)
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

    @property
    def has_sequences(self) -> bool:
        return any(f.is_sequence for f in self.fields)

    def field_layout(self) -> list[tuple[int, str | None]]:
        """Per field: (columns in x_cat, pooling or None); what ``build_model(..., layout=)`` takes."""
        return [(f.width, f.pooling) for f in self.fields]

    def columns_of(self, name: str) -> slice:
        """The x_cat columns of field ``name``."""
        start = 0
        for f in self.fields:
            if f.name == name:
                return slice(start, start + f.width)
            start += f.width
        raise KeyError(name)

    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "valid": self.valid, "test": self.test}
