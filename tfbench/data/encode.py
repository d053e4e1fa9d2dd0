"""Raw (unencoded) data containers, the 7:2:1 random split, and train-only vocabularies.

Every source (CSV folder, libFM files, synthetic generator) produces a :class:`RawData`:
per split, one array of raw values per categorical field (strings or integers), a float
matrix of numeric fields and a 0/1 label vector. :func:`encode` turns it into the
:class:`~tfbench.data.types.EncodedDataset` arrays the training core consumes.

Vocabulary rules (per categorical field, built on the TRAIN split only):

* index 0 is reserved for padding and never produced for a real row;
* values seen at least ``min_count`` times in train get 1..V, in order of descending
  train frequency, ties broken by the value itself (ascending; strings compare as
  strings, integers as integers), so the result is deterministic;
* every other value (rare in train, or unseen in train) maps to the shared OOV index
  V + 1; ``vocab_size`` is V + 2.

Fields named in ``RawData.missing_to_oov`` never give the empty value ``""`` an index of its
own: it maps to OOV (FuxiCTR's ``na_value``).

Sequence (multi-valued) fields, named in ``RawData.sequences``: each raw value is a string
of tokens joined by the field's separator (``"7|12|3"``; empty tokens and the empty string
mean "no token"). Every token occurrence in train counts toward the vocabulary (the full
list, before truncation), with the same min_count/OOV rules; a row keeps its first
``max_len`` tokens, encoded in order, and the remaining columns hold the padding index 0.

Group ids (for gAUC) are taken from the raw values of the group field BEFORE OOV
collapsing: all distinct raw values of that field across train/valid/test are sorted and
numbered 0..G-1, so equal users get equal ids in every split and rare or unseen users
still form their own groups. The ids are independent of the field's vocabulary indices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tfbench.data.types import POOLINGS, CategoricalField, Split
from tfbench.errors import DataError

SPLIT_NAMES = ("train", "valid", "test")


@dataclass(frozen=True)
class SequenceSpec:
    """How a multi-valued field is read and pooled: tokens joined by ``separator``, at most
    ``max_len`` kept per row, pooled with ``pooling`` (``mean`` or ``sum``) in the model."""

    max_len: int
    separator: str = "|"
    pooling: str = "mean"

    def __post_init__(self):
        if self.max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {self.max_len}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if not self.separator:
            raise ValueError("separator must be a non-empty string")


@dataclass
class RawSplit:
    """One split before encoding: raw categorical values per field, numeric matrix, labels."""

    cat: list[np.ndarray]  # one 1-D array per categorical field (object strings or ints)
    num: np.ndarray  # float32 [N, K]
    y: np.ndarray  # float32 [N], values in {0, 1}
    line_of: Callable[[int], int] | None = None  # row k -> 1-based line in its file (file sources)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def take(self, rows: np.ndarray) -> "RawSplit":
        return RawSplit(cat=[c[rows] for c in self.cat], num=self.num[rows], y=self.y[rows])


@dataclass
class RawData:
    """All three splits of a dataset before encoding."""

    field_names: list[str]
    numeric_names: list[str]
    group_field: str | None
    splits: dict[str, RawSplit]
    info: dict = field(default_factory=dict)
    sequences: dict[str, SequenceSpec] = field(default_factory=dict)  # multi-valued fields by name
    missing_to_oov: frozenset[str] = frozenset()  # fields whose empty value "" maps to OOV


def split_sizes(n: int) -> tuple[int, int, int]:
    """Sizes of a 7:2:1 split of ``n`` rows: floor(0.7 n), floor(0.2 n), and the rest."""
    n_train = (7 * n) // 10
    n_valid = (2 * n) // 10
    return n_train, n_valid, n - n_train - n_valid


def random_split(raw: RawSplit, seed: int, where: str) -> dict[str, RawSplit]:
    """Split rows 7:2:1 at random with a fixed numpy Generator permutation.

    Rows keep their original relative order inside each split (the permutation only
    decides membership), so a split is a deterministic function of (rows, seed).
    """
    n = len(raw)
    sizes = split_sizes(n)
    if min(sizes) == 0:
        raise DataError(f"{where}: only {n} rows, too few to split 7:2:1 into non-empty train/valid/test")
    perm = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum(sizes)
    parts = np.split(perm, bounds[:-1])
    return {name: raw.take(np.sort(part)) for name, part in zip(SPLIT_NAMES, parts)}


def vocab_from_counts(
    counts: np.ndarray, min_count: int, missing: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """The vocabulary rule on the train counts of distinct values sorted ascending.

    Returns ``(index_of_unique, V)`` where ``index_of_unique[k]`` is the encoded index of the
    k-th value: 1..V in order of descending count (ties: ascending value), or the OOV index
    V+1 for a value seen fewer than ``min_count`` times and where the boolean mask
    ``missing`` is set. Shared by the in-memory and the streaming path (``stream.py``).
    """
    counts = np.array(counts, dtype=np.int64, copy=True)
    if missing is not None:
        counts[missing] = 0
    # Stable sort on descending count keeps ascending-value order among equal counts.
    order = np.argsort(-counts, kind="stable")
    n_known = int(np.count_nonzero(counts >= min_count))
    index_of_unique = np.empty(len(counts), dtype=np.int64)
    index_of_unique[order] = np.arange(1, len(counts) + 1, dtype=np.int64)
    index_of_unique[index_of_unique > n_known] = n_known + 1
    return index_of_unique, n_known


def build_vocab(
    train_values: np.ndarray, min_count: int, missing: str | None = None
) -> tuple[pd.Index, np.ndarray, int, np.ndarray]:
    """Vocabulary of one field from its train values.

    Returns ``(uniques, index_of_unique, V, train_codes)``: ``uniques`` holds the distinct
    train values sorted ascending, ``index_of_unique[k]`` is the encoded index of
    ``uniques[k]`` (1..V, or the OOV index V+1), and ``train_codes`` gives, per train row,
    the position of its value in ``uniques``. A ``missing`` value (e.g. ``""``) never gets
    an index of its own: it maps to OOV however often it occurs (FuxiCTR's ``na_value``).
    """
    codes, uniques = pd.factorize(train_values, sort=True)
    counts = np.bincount(codes, minlength=len(uniques))
    mask = None if missing is None else np.asarray(uniques == missing, dtype=bool)
    index_of_unique, n_known = vocab_from_counts(counts, min_count, mask)
    return pd.Index(uniques), index_of_unique, n_known, codes


def _lookup(uniques: pd.Index, index_of_unique: np.ndarray, values: np.ndarray, oov: int) -> np.ndarray:
    pos = uniques.get_indexer(values)
    out = np.full(len(values), oov, dtype=np.int64)
    hit = pos >= 0
    out[hit] = index_of_unique[pos[hit]]
    return out


def group_ids(per_split_values: list[np.ndarray]) -> list[np.ndarray]:
    """Number the distinct raw group values of all splits together (sorted), per split."""
    lengths = [len(v) for v in per_split_values]
    codes, _ = pd.factorize(np.concatenate(per_split_values), sort=True)
    codes = codes.astype(np.int64, copy=False)
    return list(np.split(codes, np.cumsum(lengths)[:-1]))


def split_tokens(values: np.ndarray, separator: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flatten multi-valued strings into ``(row, position, token)`` arrays.

    Empty tokens are dropped (``""`` has no token, ``"a||b"`` has two); ``position`` counts
    the kept tokens of a row from 0.
    """
    exploded = pd.Series(values, dtype=object).astype(str).str.split(separator, regex=False).explode()
    tokens = exploded.to_numpy(dtype=object)
    rows = exploded.index.to_numpy(dtype=np.int64)
    keep = (tokens != "") & pd.notna(tokens)
    tokens, rows = tokens[keep], rows[keep]
    # position of each kept token inside its row (rows are non-decreasing after explode)
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if len(rows) else np.empty(0, dtype=np.int64)
    run_lengths = np.diff(np.r_[starts, len(rows)])
    positions = np.arange(len(rows), dtype=np.int64) - np.repeat(starts, run_lengths)
    return rows, positions, tokens


def _encode_sequence(raw: RawData, j: int, spec: SequenceSpec, min_count: int) -> tuple[CategoricalField, dict[str, np.ndarray]]:
    fname = raw.field_names[j]
    flat = {name: split_tokens(raw.splits[name].cat[j], spec.separator) for name in SPLIT_NAMES}
    uniques, index_of_unique, n_known, train_codes = build_vocab(flat["train"][2], min_count)
    oov = n_known + 1
    out = {}
    for name in SPLIT_NAMES:
        rows, pos, tokens = flat[name]
        codes = index_of_unique[train_codes] if name == "train" else _lookup(uniques, index_of_unique, tokens, oov)
        block = np.zeros((len(raw.splits[name]), spec.max_len), dtype=np.int64)  # 0 = padding
        kept = pos < spec.max_len
        block[rows[kept], pos[kept]] = codes[kept]
        out[name] = block
    f = CategoricalField(name=fname, vocab_size=n_known + 2, oov_index=oov, max_len=spec.max_len, pooling=spec.pooling)
    return f, out


def encode(raw: RawData, min_count: int) -> tuple[list[CategoricalField], dict[str, Split]]:
    """Encode raw splits with vocabularies built on train only (see module docstring)."""
    n_rows = {name: len(raw.splits[name]) for name in SPLIT_NAMES}
    unknown = set(raw.sequences) - set(raw.field_names)
    if unknown:
        raise DataError(f"sequence fields {sorted(unknown)} are not fields of the dataset")
    if raw.group_field is not None and raw.group_field in raw.sequences:
        raise DataError(f"group field '{raw.group_field}' is multi-valued; the gAUC group must be a plain field")
    widths = [raw.sequences[f].max_len if f in raw.sequences else 1 for f in raw.field_names]
    starts = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(int)
    x_cat = {name: np.empty((n_rows[name], int(sum(widths))), dtype=np.int64) for name in SPLIT_NAMES}
    fields: list[CategoricalField] = []
    for j, fname in enumerate(raw.field_names):
        col = int(starts[j])
        if fname in raw.sequences:
            f, blocks = _encode_sequence(raw, j, raw.sequences[fname], min_count)
            for name in SPLIT_NAMES:
                x_cat[name][:, col : col + f.max_len] = blocks[name]
            fields.append(f)
            continue
        missing = "" if fname in raw.missing_to_oov else None
        uniques, index_of_unique, n_known, train_codes = build_vocab(raw.splits["train"].cat[j], min_count, missing)
        oov = n_known + 1
        x_cat["train"][:, col] = index_of_unique[train_codes]
        for name in ("valid", "test"):
            x_cat[name][:, col] = _lookup(uniques, index_of_unique, raw.splits[name].cat[j], oov)
        fields.append(CategoricalField(name=fname, vocab_size=n_known + 2, oov_index=oov))

    groups: dict[str, np.ndarray | None] = {name: None for name in SPLIT_NAMES}
    if raw.group_field is not None:
        j = raw.field_names.index(raw.group_field)
        ids = group_ids([raw.splits[name].cat[j] for name in SPLIT_NAMES])
        groups = dict(zip(SPLIT_NAMES, ids))

    splits = {}
    for name in SPLIT_NAMES:
        rs = raw.splits[name]
        num = np.ascontiguousarray(rs.num, dtype=np.float32).reshape(n_rows[name], len(raw.numeric_names))
        splits[name] = Split(
            x_cat=x_cat[name],
            x_num=num,
            y=np.ascontiguousarray(rs.y, dtype=np.float32),
            group=groups[name],
        )
    return fields, splits
