"""Streaming preparation of large BARS-style CSV folders (Criteo_x4 has 45.8 M rows).

The in-memory path (``csv_source`` + ``encode``) reads a whole split into a DataFrame of Python
strings; this one never holds more than one block of a file (``CHUNK_BYTES`` of whole lines,
parsed by pyarrow's CSV reader) plus the vocabularies, and gives the SAME encoding:

* Pass 1 reads the train file block by block. Plain fields are counted in Arrow
  (``value_counts``); for a field with a transform (Criteo's ⌊ln(x)²⌋, KKBox's ISRC country
  and age bucket) or a multi-valued one, each block's distinct values are taken once (a
  dictionary encoding of the block's column) and transformed or split into tokens. The counts
  go into a running table of (token, count) per field, merged with pyarrow's hash aggregation
  when the pending blocks outgrow it; multi-valued fields count every token occurrence. The
  vocabulary is then built by ``encode.vocab_from_counts``, the rule the in-memory path uses
  (descending count, ties by ascending value, ``min_count``, OOV = V + 1, 0 = padding); only
  the known tokens are kept for the lookup. The label (and the gAUC group, whose ids number
  the sorted distinct raw values of all three splits) of valid and test are read in this pass
  too, which also gives every split's row count.
* Pass 2 encodes every split block by block into preallocated ``.npy`` files (x_cat int64,
  x_num float32, y float32, group int64), written front to back through
  :class:`~tfbench.data.cache_folder.DirBuilder` under a temporary folder name that is renamed into
  the cache when complete, with the sizes and sha256 of every file in its ``meta.json``.
  Plain fields are looked up in Arrow (``index_in`` against the known tokens).

Peak memory is one block's columns and its encoded rows, the token tables of pass 1 (compact
Arrow strings) and the known-token lookups; it does not grow with the number of rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tfbench.data import csv_source
from tfbench.data.encode import SPLIT_NAMES, SequenceSpec, split_tokens
from tfbench.data.stream_read import _batches, _distinct, _labels, _numeric, _pyarrow
from tfbench.data.stream_vocab import _Counts, _make_vocab, _object_index
from tfbench.data.types import CategoricalField
from tfbench.errors import DataError

CHUNK_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class CsvPlan:
    """What to read from a BARS-style folder and how (the streaming twin of a CSV loader).

    ``fields`` None: every column but the label and ``numeric`` is a categorical field (a
    generic ``--data`` folder) and the gAUC group is ``group_field`` or found by name;
    otherwise exactly ``fields`` in this order (named datasets) with ``group_field`` as given.
    ``missing_to_oov``: fields whose empty value maps to OOV instead of being a token.
    """

    label: str = csv_source.LABEL
    fields: tuple[str, ...] | None = None
    numeric: tuple[str, ...] = ()
    group_field: str | None = None
    transforms: Mapping[str, Callable[..., np.ndarray]] = field(default_factory=dict)
    sequences: Mapping[str, SequenceSpec] = field(default_factory=dict)
    missing_to_oov: frozenset[str] = frozenset()
    dataset: str | None = None
    source: str = "csv"


@dataclass
class Prepared:
    """What pass 1 and 2 found besides the arrays (which are in the builder's folder)."""

    fields: list[CategoricalField]
    numeric_names: list[str]
    group_field: str | None
    rows: dict[str, int]
    info: dict


def prepare_csv(folder: Path, plan: CsvPlan, min_count: int, builder, chunk_bytes: int | None = None) -> Prepared:
    """Encode the folder's three splits into ``builder`` (a :class:`~tfbench.data.cache_folder.DirBuilder`),
    reading ``chunk_bytes`` (default :data:`CHUNK_BYTES`) of CSV at a time."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    _, pc, _ = _pyarrow()
    layout = csv_source.check_folder(
        folder, list(plan.numeric), plan.group_field, plan.label,
        required=list(plan.fields) if plan.fields is not None else None, dataset=plan.dataset,
    )
    files, header = layout.files, layout.header
    if plan.fields is None:
        fields, numeric, group = list(layout.field_names), list(layout.numeric_names), layout.group_field
    else:
        fields, numeric, group = list(plan.fields), [], plan.group_field
    seqs = {f: plan.sequences[f] for f in fields if f in plan.sequences}
    if group is not None and group in seqs:
        raise DataError(f"group field '{group}' is multi-valued; the gAUC group must be a plain field")
    widths = [seqs[f].max_len if f in seqs else 1 for f in fields]
    starts = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(int)
    width = int(sum(widths))

    def where(split: str, fname: str) -> str:
        return f"{files[split]}, column '{fname}'"

    # ---- pass 1: train token counts; labels, rows and group values of every split
    counters = {f: _Counts() for f in fields}
    group_values = _Counts()
    rows = {}
    for split in SPLIT_NAMES:
        columns = [plan.label, *fields, *numeric] if split == "train" else [plan.label] + ([group] if group else [])
        n = 0
        for batch in _batches(files[split], header, list(dict.fromkeys(columns)), chunk_bytes):
            _labels(batch.column(plan.label), files[split], plan.label, n)
            for fname in fields if split == "train" else ([group] if group else []):
                plain = fname not in seqs and fname not in plan.transforms
                if plain and fname != group:  # counted in Arrow, no Python strings
                    counted = pc.value_counts(batch.column(fname))
                    counters[fname].add(counted.field("values"), counted.field("counts"))
                    continue
                codes, tokens = _distinct(batch.column(fname), where(split, fname), n, plan.transforms.get(fname))
                per_value = np.bincount(codes, minlength=len(tokens))
                if fname == group:
                    group_values.add(tokens, per_value)
                if split != "train":
                    continue
                if fname in seqs:
                    value_of, _, flat = split_tokens(tokens, seqs[fname].separator)
                    counters[fname].add(flat, per_value[value_of])
                else:
                    counters[fname].add(tokens, per_value)
            if split == "train":
                for col in numeric:
                    _numeric(batch.column(col), files[split], col, n)
            n += batch.num_rows
        if n == 0:
            raise DataError(f"{files[split]}: empty split, the file has a header but no data rows")
        rows[split] = n

    vocabs = {
        f: _make_vocab(counters.pop(f), min_count, f in plan.missing_to_oov and f not in seqs) for f in fields
    }
    group_index = _object_index(group_values.sorted()[0]) if group is not None else None
    del group_values

    # ---- pass 2: encode every split into preallocated .npy files
    for split in SPLIT_NAMES:
        n_rows = rows[split]
        out_cat = builder.array(f"{split}/x_cat", np.int64, (n_rows, width))
        out_num = builder.array(f"{split}/x_num", np.float32, (n_rows, len(numeric)))
        out_y = builder.array(f"{split}/y", np.float32, (n_rows,))
        out_group = builder.array(f"{split}/group", np.int64, (n_rows,)) if group is not None else None
        n = 0
        columns = list(dict.fromkeys([plan.label, *fields, *numeric]))
        for batch in _batches(files[split], header, columns, chunk_bytes):
            b = batch.num_rows
            if n + b > n_rows:
                raise DataError(f"{files[split]}: the file changed while it was being prepared (more rows than before)")
            block = np.zeros((b, width), dtype=np.int64)
            for j, fname in enumerate(fields):
                col = int(starts[j])
                if fname not in seqs and fname not in plan.transforms and fname != group:
                    block[:, col] = vocabs[fname].encode_arrow(batch.column(fname))
                    continue
                codes, tokens = _distinct(batch.column(fname), where(split, fname), n, plan.transforms.get(fname))
                if fname in seqs:
                    spec = seqs[fname]
                    value_of, pos, flat = split_tokens(tokens, spec.separator)
                    per_value = np.zeros((len(tokens), spec.max_len), dtype=np.int64)  # 0 = padding
                    kept = pos < spec.max_len
                    per_value[value_of[kept], pos[kept]] = vocabs[fname].encode(flat[kept])
                    block[:, col : col + spec.max_len] = per_value[codes]
                else:
                    block[:, col] = vocabs[fname].encode(tokens)[codes]
                if fname == group:
                    out_group.write(group_index.get_indexer(tokens).astype(np.int64)[codes])
            out_cat.write(block)
            num = np.empty((b, len(numeric)), dtype=np.float32)
            for k, col_name in enumerate(numeric):
                num[:, k] = _numeric(batch.column(col_name), files[split], col_name, n)
            out_num.write(num)
            out_y.write(_labels(batch.column(plan.label), files[split], plan.label, n))
            n += b
        if n != n_rows:
            raise DataError(f"{files[split]}: the file changed while it was being prepared ({n} rows, before {n_rows})")
        for w in (out_cat, out_num, out_y, out_group):
            if w is not None:
                w.close()

    fields_out = []
    for j, fname in enumerate(fields):
        v = vocabs[fname]
        if fname in seqs:
            spec = seqs[fname]
            fields_out.append(CategoricalField(fname, v.oov + 1, v.oov, max_len=spec.max_len, pooling=spec.pooling))
        else:
            fields_out.append(CategoricalField(fname, v.oov + 1, v.oov))
    info = {"source": plan.source, "path": str(folder), "files": {s: str(p) for s, p in files.items()}}
    if plan.fields is not None:
        ignored = [c for c in layout.field_names if c not in fields]
        if ignored:
            info["ignored_columns"] = ignored
    return Prepared(fields=fields_out, numeric_names=numeric, group_field=group, rows=rows, info=info)
