"""libFM files: one row per line, ``label idx:val idx:val ...``.

Labels are -1/1 or 0/1 (-1 becomes 0). There is exactly one ``idx:val`` token per field,
in a fixed field order: the i-th token after the label belongs to field i and the field's
raw value is ``idx`` (``val`` must be a number and is otherwise ignored). Blank lines are
skipped. Line numbers in errors are 1-based physical lines.

Parsing is vectorised: a byte scan checks the token structure of every line (token count,
exactly one ':' per feature token and none in the label), then pandas' C parser reads the
numbers. Only when that finds a problem does a per-line Python pass run, to name the exact
line and token.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from tfbench.data._blocks import iter_line_blocks
from tfbench.data.encode import RawData, RawSplit, random_split
from tfbench.errors import DataError

SPLIT_FILES = {"train": "train.libfm", "valid": "valid.libfm", "test": "test.libfm"}

_WS = np.zeros(256, dtype=bool)
_WS[[9, 10, 11, 12, 13, 32]] = True
_LABEL_RE = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_INT_RE = re.compile(r"[-+]?[0-9]+")


def default_field_names(n_fields: int) -> list[str]:
    return [f"f{i + 1}" for i in range(n_fields)]


def _token_desc(n_fields: int) -> str:
    return f"{n_fields + 1} (a label and {n_fields} index:value pair{'s' if n_fields != 1 else ''})"


def _explain_line(path: Path, line_no: int, text: str, n_fields: int) -> DataError | None:
    """The error for one line, or None if the line is valid (slow path, errors only)."""
    tokens = text.split()
    if not tokens:
        return None
    if len(tokens) != n_fields + 1:
        return DataError(f"{path}, line {line_no}: {len(tokens)} tokens, expected {_token_desc(n_fields)}")
    label = tokens[0]
    if not _LABEL_RE.fullmatch(label) or float(label) not in (-1.0, 0.0, 1.0):
        return DataError(f"{path}, line {line_no}: label '{label}' is not -1, 0 or 1")
    for pos, tok in enumerate(tokens[1:], start=1):
        idx, sep, val = tok.partition(":")
        ok = bool(sep) and _INT_RE.fullmatch(idx) is not None and ":" not in val
        if ok:
            try:
                ok = math.isfinite(float(val))
            except ValueError:
                ok = False
        if not ok:
            return DataError(
                f"{path}, line {line_no}: token {pos + 1} '{tok}' is not of the form int:number (field {pos})"
            )
    return None


def _slow_find_error(path: Path, block: bytes, first_line: int, n_fields: int) -> DataError:
    text = block.decode("utf-8", errors="replace")
    for offset, line in enumerate(text.split("\n")):
        err = _explain_line(path, first_line + offset, line, n_fields)
        if err is not None:
            return err
    return DataError(f"{path}: cannot parse libFM data near line {first_line}")


def _parse_block(
    path: Path, block: bytes, first_line: int, n_fields: int | None
) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Parse one block of whole lines; returns (labels float32 [n], indices int64 [n, F], F)."""
    arr = np.frombuffer(block, dtype=np.uint8)
    ws = _WS[arr]
    tok_start = ~ws
    tok_start[1:] &= ws[:-1]
    starts = np.flatnonzero(tok_start)
    nl = np.flatnonzero(arr == 10)
    tok_line = np.searchsorted(nl, starts)  # 0-based line of each token within the block
    ntok = np.bincount(tok_line, minlength=len(nl))
    nonblank = np.flatnonzero(ntok > 0)
    if len(nonblank) == 0:
        return np.empty(0, np.float32), np.empty((0, n_fields or 0), np.int64), n_fields
    if n_fields is None:
        n_fields = int(ntok[nonblank[0]]) - 1
        if n_fields < 1:
            raise DataError(
                f"{path}, line {first_line + int(nonblank[0])}: only a label, expected a label and index:value pairs"
            )
    width = n_fields + 1
    bad = nonblank[ntok[nonblank] != width]
    if len(bad):
        k = int(bad[0])
        raise DataError(f"{path}, line {first_line + k}: {int(ntok[k])} tokens, expected {_token_desc(n_fields)}")

    # Exactly one ':' in every feature token and none in the label token.
    colon_tok = np.searchsorted(starts, np.flatnonzero(arr == 58), side="right") - 1
    per_tok = np.bincount(colon_tok, minlength=len(starts))
    expected = np.ones(len(starts), dtype=np.int64)
    expected[::width] = 0
    wrong = np.flatnonzero(per_tok != expected)
    if len(wrong):
        raise _slow_find_error(path, block, first_line, n_fields)

    n_rows = len(nonblank)
    try:
        df = pd.read_csv(
            io.BytesIO(block.replace(b":", b" ")), sep=r"\s+", header=None, engine="c", skip_blank_lines=True
        )
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError):
        raise _slow_find_error(path, block, first_line, n_fields) from None
    ok = df.shape == (n_rows, 2 * n_fields + 1)
    if ok:
        kinds = [dt.kind for dt in df.dtypes]
        ok = (
            kinds[0] in "iuf"
            and all(k in "iu" for k in kinds[1::2])
            and all(k in "iuf" for k in kinds[2::2])
        )
    if ok:
        values = df.iloc[:, 2::2].to_numpy(dtype=np.float64)
        ok = bool(np.isfinite(values).all())
    if not ok:
        raise _slow_find_error(path, block, first_line, n_fields)

    labels = df.iloc[:, 0].to_numpy(dtype=np.float64)
    bad_label = np.flatnonzero((labels != -1.0) & (labels != 0.0) & (labels != 1.0))
    if len(bad_label):
        raise _slow_find_error(path, block, first_line, n_fields)  # names the line and the label as written
    y = (labels > 0).astype(np.float32)
    idx = df.iloc[:, 1::2].to_numpy(dtype=np.int64)
    return y, idx, n_fields


def parse_libfm_file(path: Path, n_fields: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parse a libFM file into (labels float32 [N] in {0,1}, raw indices int64 [N, F])."""
    ys, idxs = [], []
    try:
        for block, first_line in iter_line_blocks(path):
            y, idx, n_fields = _parse_block(path, block, first_line, n_fields)
            if len(y):
                ys.append(y)
                idxs.append(idx)
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror})") from None
    if not ys:
        raise DataError(f"{path}: empty file, no libFM rows")
    return np.concatenate(ys), np.concatenate(idxs)


def _parse_all(files: list[Path], field_names: list[str] | None) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[str]]:
    n_fields = len(field_names) if field_names is not None else None
    parsed = []
    for path in files:
        y, idx = parse_libfm_file(path, n_fields)
        n_fields = idx.shape[1]
        parsed.append((y, idx))
    names = field_names if field_names is not None else default_field_names(n_fields or 0)
    return parsed, names


def _to_raw(y: np.ndarray, idx: np.ndarray) -> RawSplit:
    return RawSplit(
        cat=[np.ascontiguousarray(idx[:, j]) for j in range(idx.shape[1])],
        num=np.empty((len(y), 0), dtype=np.float32),
        y=y,
    )


def find_layout(folder: Path) -> tuple[str, dict[str, Path] | list[Path]]:
    """('split', {train,valid,test: path}) or ('concat', sorted *.libfm files) for a folder."""
    present = {s: folder / f for s, f in SPLIT_FILES.items() if (folder / f).is_file()}
    if len(present) == 3:
        return "split", present
    if present:
        missing = ", ".join(SPLIT_FILES[s] for s in SPLIT_FILES if s not in present)
        raise DataError(
            f"{folder}: has {', '.join(p.name for p in present.values())} but not {missing};"
            " give all of train.libfm/valid.libfm/test.libfm, or other *.libfm names to split 7:2:1 at random"
        )
    files = sorted(p for p in folder.glob("*.libfm") if p.is_file())
    if not files:
        raise DataError(f"{folder}: no *.libfm files")
    return "concat", files


def load_libfm_split(files: dict[str, Path], field_names: list[str] | None, group_field: str | None) -> RawData:
    """train/valid/test libFM files used as the split."""
    order = ["train", "valid", "test"]
    parsed, names = _parse_all([files[s] for s in order], field_names)
    return RawData(
        field_names=names,
        numeric_names=[],
        group_field=group_field,
        splits={s: _to_raw(y, idx) for s, (y, idx) in zip(order, parsed)},
        info={"source": "libfm", "files": {s: str(files[s]) for s in order}, "split": "given"},
    )


def load_libfm_concat(
    files: list[Path], field_names: list[str] | None, group_field: str | None, split_seed: int, where: str
) -> RawData:
    """libFM files concatenated in the given order, then split 7:2:1 at random with ``split_seed``."""
    parsed, names = _parse_all(files, field_names)
    y = np.concatenate([p[0] for p in parsed])
    idx = np.concatenate([p[1] for p in parsed])
    return RawData(
        field_names=names,
        numeric_names=[],
        group_field=group_field,
        splits=random_split(_to_raw(y, idx), split_seed, where),
        info={"source": "libfm", "files": [str(p) for p in files], "split": f"random 7:2:1 (seed {split_seed})"},
    )
