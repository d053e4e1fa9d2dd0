"""Vocabulary stage of the streaming preparation: running token counts, then the known-token lookups."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tfbench.data.encode import vocab_from_counts
from tfbench.data.stream_read import _pyarrow

_MERGE_MIN_ROWS = 1 << 20


class _Counts:
    """Running (token, count) table of one field; merged with a hash aggregation when the
    pending blocks hold more rows than the merged table (amortised cost, bounded memory)."""

    def __init__(self):
        self.merged = None
        self.pending: list = []
        self.pending_rows = 0

    def add(self, tokens, counts) -> None:
        """Add ``counts[k]`` occurrences of ``tokens[k]`` (numpy or Arrow arrays; repeats allowed)."""
        pa, _, _ = _pyarrow()
        if len(tokens) == 0:
            return
        self.pending.append(pa.table({"v": pa.array(tokens, type=pa.string()), "n": pa.array(counts, type=pa.int64())}))
        self.pending_rows += len(tokens)
        if self.pending_rows > max(_MERGE_MIN_ROWS, self.merged.num_rows if self.merged is not None else 0):
            self._merge()

    def _merge(self) -> None:
        pa, _, _ = _pyarrow()
        tables = ([self.merged] if self.merged is not None else []) + self.pending
        self.pending, self.pending_rows = [], 0
        if not tables:
            return
        grouped = pa.concat_tables(tables).group_by("v").aggregate([("n", "sum")])
        self.merged = pa.table({"v": grouped["v"], "n": grouped["n_sum"]})

    def sorted(self):
        """``(values, counts)``: distinct tokens ascending (an Arrow array) and their counts."""
        pa, pc, _ = _pyarrow()
        self._merge()
        if self.merged is None:
            return pa.array([], type=pa.string()), np.zeros(0, dtype=np.int64)
        table = self.merged.combine_chunks()
        order = pc.sort_indices(table["v"])  # byte order of UTF-8 = code point order = Python's str order
        values = table["v"].take(order).combine_chunks()
        counts = table["n"].take(order).to_numpy().astype(np.int64)
        return values, counts


@dataclass
class _Vocab:
    """The known tokens of a field (count >= min_count) and their indices; the rest is OOV."""

    known: object  # Arrow string array of the known tokens
    codes: np.ndarray  # their indices 1..V
    oov: int
    _lookup: pd.Index | None = None

    def _from_positions(self, pos: np.ndarray) -> np.ndarray:
        out = np.full(len(pos), self.oov, dtype=np.int64)
        hit = pos >= 0
        out[hit] = self.codes[pos[hit]]
        return out

    def encode(self, tokens: np.ndarray) -> np.ndarray:
        """Indices of an object array of tokens."""
        if self._lookup is None:
            self._lookup = _object_index(self.known)
        return self._from_positions(self._lookup.get_indexer(tokens))

    def encode_arrow(self, column) -> np.ndarray:
        """Indices of an Arrow string column (hash lookup in Arrow, no Python strings)."""
        _, pc, _ = _pyarrow()
        pos = pc.index_in(column, value_set=self.known).fill_null(-1)
        return self._from_positions(pos.to_numpy(zero_copy_only=False).astype(np.int64, copy=False))


def _object_index(values) -> pd.Index:
    return pd.Index(np.asarray(values.to_numpy(zero_copy_only=False), dtype=object), dtype=object)


def _make_vocab(counter: _Counts, min_count: int, missing_to_oov: bool) -> _Vocab:
    _, pc, _ = _pyarrow()
    values, counts = counter.sorted()
    missing = pc.equal(values, "").to_numpy(zero_copy_only=False) if missing_to_oov else None
    index_of_unique, n_known = vocab_from_counts(counts, min_count, missing)
    known = np.flatnonzero(index_of_unique <= n_known)
    return _Vocab(known=values.take(known), codes=index_of_unique[known], oov=n_known + 1)
