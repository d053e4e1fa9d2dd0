"""Reading stage of the streaming preparation: CSV blocks through pyarrow, distinct values, labels, numbers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from tfbench.data import csv_source
from tfbench.data._blocks import iter_line_blocks
from tfbench.errors import DataError


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise DataError("streaming preparation needs pyarrow (pip install pyarrow)") from None
    return pa, pc, pacsv


def _batches(path: Path, header: list[str], columns: list[str], chunk_bytes: int) -> Iterator:
    """Record batches of ``columns`` (all read as strings, never null) of one CSV file.

    The file is cut into blocks of whole lines here (``_blocks.iter_line_blocks``) and each
    block is parsed on its own (in parallel inside the block), so at most one block is in
    memory; pyarrow's own streaming reader reads ahead of a slow consumer by up to dozens of
    blocks. Values may be quoted but may not contain line breaks (BARS files have none).
    """
    pa, _, pacsv = _pyarrow()
    convert = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in header}, strings_can_be_null=False, include_columns=columns
    )
    try:
        for block, first_line in iter_line_blocks(path, chunk_bytes):
            read = pacsv.ReadOptions(column_names=header, skip_rows=1 if first_line == 1 else 0,
                                     use_threads=True, block_size=max(1 << 20, len(block) // 4 + 1))
            table = pacsv.read_csv(pa.BufferReader(block), read_options=read, convert_options=convert)
            del block
            if table.num_rows:
                yield table.combine_chunks().to_batches()[0]
    except pa.ArrowInvalid as exc:
        raise _parse_error(path, header, exc) from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None


def _parse_error(path: Path, header: list[str], exc: Exception) -> DataError:
    msg = " ".join(str(exc).split())
    if "UTF8" in msg or "UTF-8" in msg:
        return DataError(f"{path}: not valid UTF-8 text ({msg})")
    try:  # find the ragged row's line number with the in-memory path's scanner
        csv_source._scan_field_counts(path, len(header))
    except DataError as located:
        return located
    return DataError(f"{path}: cannot parse CSV ({msg})")


class _Rows:
    """1-based file line of a data row, assuming no blank lines (the header is line 1)."""

    def __init__(self, first: int):
        self.first = first

    def __call__(self, k: int) -> int:
        return self.first + k + 2


def _distinct(column, where: str, base: int, transform=None) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, tokens)``: the block's distinct values (after ``transform``) as an object array
    and, per row, the position of its value in it (duplicates after the transform are fine)."""
    encoded = column.dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    if transform is not None and hasattr(transform, "numeric_tokens"):
        fast = _numeric_tokens(encoded.dictionary, transform.numeric_tokens)
        if fast is not None:
            return codes, fast
    tokens = encoded.dictionary.to_numpy(zero_copy_only=False)
    if transform is not None:
        try:
            tokens = transform(tokens, where, None)
        except DataError:
            # report the first bad row of the block, with its line, as the in-memory path does
            transform(column.to_numpy(zero_copy_only=False), where, _Rows(base))
            raise
    return codes, np.asarray(tokens, dtype=object)


def _numeric_tokens(values, numeric_tokens) -> np.ndarray | None:
    """A numeric transform's tokens with the numbers parsed by Arrow ("" is missing); None when
    a value does not parse as a finite number, so that the transform itself handles (and
    reports) it."""
    pa, pc, _ = _pyarrow()
    missing = pc.equal(values, "")
    try:
        x = pc.cast(pc.if_else(missing, pa.scalar(None, pa.string()), values), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    missing = missing.to_numpy(zero_copy_only=False)
    x = x.to_numpy(zero_copy_only=False)
    if not np.isfinite(x[~missing]).all():
        return None
    return np.asarray(numeric_tokens(x, missing), dtype=object)


def _labels(column, path: Path, label: str, base: int) -> np.ndarray:
    codes, values = _distinct(column, "", base)
    mapped = pd.Series(values, dtype=object).map(csv_source._LABEL_VALUES)
    if mapped.isna().any():
        mapped = pd.Series(values, dtype=object).str.strip().map(csv_source._LABEL_VALUES)
    bad = mapped.isna().to_numpy()
    if bad.any():
        k = int(np.flatnonzero(bad[codes])[0])
        raise DataError(f"{path}, line {base + k + 2}: {label} '{values[codes[k]]}' is not 0 or 1")
    return mapped.to_numpy(dtype=np.float32)[codes]


def _numeric(column, path: Path, name: str, base: int) -> np.ndarray:
    raw = column.to_numpy(zero_copy_only=False)
    values = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}, line {base + k + 2}: numeric column '{name}' has value '{raw[k]}', which is not a finite number"
        )
    return values.astype(np.float32)
