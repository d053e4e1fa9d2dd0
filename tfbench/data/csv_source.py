"""BARS-style CSV folders: ``train.csv``, ``valid.csv`` and ``test.csv`` with a shared header.

The header must contain a ``label`` column (values 0/1, also written 0.0/1.0); every other
column is a categorical field read as strings, except the columns named in ``numeric``
(parsed as floats). Reading uses pandas' C parser; field counts are checked first with a
vectorised byte scan (or, for files with quoted fields or bare CR line ends, with the
``csv`` module) so that a ragged row is reported with its 1-based line number (the header
is line 1). Blank lines are skipped, as pandas does.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tfbench.data._blocks import iter_line_blocks
from tfbench.data.encode import SPLIT_NAMES, RawData, RawSplit
from tfbench.errors import DataError

SPLIT_FILES = {"train": "train.csv", "valid": "valid.csv", "test": "test.csv"}
LABEL = "label"
GROUP_CANDIDATES = ("user", "user_id", "msno", "UserID")
_LABEL_VALUES = {"0": 0.0, "1": 1.0, "0.0": 0.0, "1.0": 1.0}


def looks_like_csv_folder(folder: Path) -> bool:
    """True when ``folder`` holds at least one of train.csv / valid.csv / test.csv."""
    return any((folder / fname).is_file() for fname in SPLIT_FILES.values())


def split_files(folder: Path) -> dict[str, Path]:
    """The three split files of a folder; a missing one is a DataError."""
    files = {}
    for split, fname in SPLIT_FILES.items():
        path = folder / fname
        if not path.is_file():
            raise DataError(
                f"missing file {path}: a CSV dataset folder needs train.csv, valid.csv and test.csv"
            )
        files[split] = path
    return files


def _utf8_error(path: Path, exc: UnicodeDecodeError) -> DataError:
    return DataError(f"{path}: not valid UTF-8 text ({exc.reason} at byte {exc.start})")


def read_header(path: Path, label: str = LABEL) -> list[str]:
    """The header row of a CSV file, validated (non-empty, unique, named columns, a ``label`` column)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError as exc:
        raise _utf8_error(path, exc) from None
    except csv.Error as exc:
        raise DataError(f"{path}, line 1: cannot read the header ({exc})") from None
    if not header:
        raise DataError(f"{path}: empty file or empty first line, expected a header line with a '{label}' column")
    seen = set()
    for pos, name in enumerate(header, start=1):
        if name == "":
            raise DataError(f"{path}, line 1: column {pos} of the header has an empty name")
        if name in seen:
            raise DataError(f"{path}, line 1: duplicate column '{name}' in the header")
        seen.add(name)
    if label not in seen:
        raise DataError(f"{path}, line 1: no '{label}' column in the header (columns: {', '.join(header)})")
    return header


@dataclass
class _Layout:
    """Where each data record of a file sits, for error messages."""

    n_records: int
    blank_lines: np.ndarray | None = None  # fast path: 1-based numbers of blank lines after the header
    record_lines: list[int] | None = None  # csv-module path: 1-based line number of every record

    def line_of(self, k: int) -> int:
        """1-based line number of data record ``k`` (0-based)."""
        if self.record_lines is not None:
            return self.record_lines[k]
        line = k + 2
        for b in self.blank_lines if self.blank_lines is not None else ():
            if b <= line:
                line += 1
            else:
                break
        return line


def _ragged(path: Path, line: int, found: int, expected: int) -> DataError:
    return DataError(
        f"{path}, line {line}: row has {found} field{'s' if found != 1 else ''} but the header has {expected}"
        f" ({'missing' if found < expected else 'extra'} field{'s' if abs(found - expected) != 1 else ''})"
    )


def _scan_with_csv_module(path: Path, n_cols: int) -> _Layout:
    record_lines: list[int] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            next(reader, None)  # header
            for row in reader:
                if not row:
                    continue
                if len(row) != n_cols:
                    raise _ragged(path, reader.line_num, len(row), n_cols)
                record_lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise _utf8_error(path, exc) from None
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from None
    return _Layout(n_records=len(record_lines), record_lines=record_lines)


def _scan_field_counts(path: Path, n_cols: int) -> _Layout:
    """Check every non-blank line has ``n_cols`` comma-separated fields (vectorised)."""
    blank: list[np.ndarray] = []
    n_records = 0
    for block, first_line in iter_line_blocks(path):
        if b'"' in block or block.count(b"\r") != block.count(b"\r\n"):
            return _scan_with_csv_module(path, n_cols)
        arr = np.frombuffer(block, dtype=np.uint8)
        nl = np.flatnonzero(arr == 10)
        starts = np.empty_like(nl)
        starts[0] = 0
        starts[1:] = nl[:-1] + 1
        length = nl - starts
        has_cr = np.zeros(len(nl), dtype=bool)
        nonempty = length > 0
        has_cr[nonempty] = arr[nl[nonempty] - 1] == 13
        is_blank = (length - has_cr) == 0
        commas = np.bincount(np.searchsorted(nl, np.flatnonzero(arr == 44)), minlength=len(nl))
        line_numbers = np.arange(first_line, first_line + len(nl))
        is_data = ~is_blank & (line_numbers > 1)
        bad = np.flatnonzero(is_data & (commas + 1 != n_cols))
        if len(bad):
            k = bad[0]
            raise _ragged(path, int(line_numbers[k]), int(commas[k]) + 1, n_cols)
        blank.append(line_numbers[is_blank & (line_numbers > 1)])
        n_records += int(np.count_nonzero(is_data))
    blank_lines = np.concatenate(blank) if blank else np.empty(0, dtype=np.int64)
    return _Layout(n_records=n_records, blank_lines=blank_lines)


def _read_split(
    path: Path, header: list[str], numeric: list[str], label: str = LABEL
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Read one split file; return (frame of categorical columns, numeric matrix, labels)."""
    layout = _scan_field_counts(path, len(header))
    if layout.n_records == 0:
        raise DataError(f"{path}: empty split, the file has a header but no data rows")
    try:
        df = pd.read_csv(
            path,
            engine="c",
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            index_col=False,
            encoding="utf-8",
            skip_blank_lines=True,
        )
    except UnicodeDecodeError as exc:
        raise _utf8_error(path, exc) from None
    except (pd.errors.ParserError, ValueError) as exc:
        msg = " ".join(str(exc).split())
        raise DataError(f"{path}: cannot parse CSV ({msg})") from None
    columns = [str(c) for c in df.columns]
    if columns != header or len(df) != layout.n_records:
        raise DataError(
            f"{path}: cannot parse CSV consistently (pandas read {len(df)} rows and {len(columns)} columns,"
            f" expected {layout.n_records} rows and {len(header)} columns); check quoting"
        )

    labels = df[label].map(_LABEL_VALUES)
    if labels.isna().any():
        labels = df[label].str.strip().map(_LABEL_VALUES)
        if labels.isna().any():
            k = int(np.flatnonzero(labels.isna().to_numpy())[0])
            value = df[label].iat[k]
            raise DataError(f"{path}, line {layout.line_of(k)}: {label} '{value}' is not 0 or 1")
    y = labels.to_numpy(dtype=np.float32)

    num = np.empty((len(df), len(numeric)), dtype=np.float32)
    for j, col in enumerate(numeric):
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{path}, line {layout.line_of(k)}: numeric column '{col}' has value '{df[col].iat[k]}',"
                " which is not a finite number"
            )
        num[:, j] = values
    df.attrs["line_of"] = layout.line_of  # 1-based file line of data record k, for later error messages
    return df, num, y


def auto_group_field(fields: list[str]) -> str | None:
    for name in GROUP_CANDIDATES:
        if name in fields:
            return name
    return None


@dataclass
class FolderLayout:
    """A validated BARS-style folder: its split files, the shared header and the column roles."""

    files: dict[str, Path]
    header: list[str]
    field_names: list[str]  # categorical columns, header order
    numeric_names: list[str]  # numeric columns, header order
    group_field: str | None


def check_folder(
    folder: Path,
    numeric: list[str],
    group_field: str | None,
    label: str = LABEL,
    required: list[str] | None = None,
    dataset: str | None = None,
) -> FolderLayout:
    """Check the split files, their shared header and the options against it (no data read).

    ``label`` names the label column; ``required`` lists columns that must be in the header
    (named datasets: a missing one is reported with the file and the ``dataset`` name).
    """
    files = split_files(folder)
    header = read_header(files["train"], label)
    missing = [c for c in (required or []) if c not in header]
    if missing:
        what = f"dataset '{dataset}'" if dataset else "the dataset"
        raise DataError(
            f"{files['train']}, line 1: missing column{'s' if len(missing) > 1 else ''} {', '.join(repr(c) for c in missing)}"
            f" ({what} needs {', '.join([label, *required])}; the header has {', '.join(header)})"
        )
    for split in ("valid", "test"):
        other = read_header(files[split], label)
        if other != header:
            diff = next(
                (i for i, (a, b) in enumerate(zip(header, other)) if a != b),
                min(len(header), len(other)),
            )
            a = header[diff] if diff < len(header) else "(none)"
            b = other[diff] if diff < len(other) else "(none)"
            raise DataError(
                f"{files[split]}, line 1: header differs from {files['train']} at column {diff + 1}"
                f" ('{b}' instead of '{a}'); the three split files must share one header"
            )

    for col in numeric:
        if col == label:
            raise DataError(f"option numeric: '{label}' is the label column, not a numeric field")
        if col not in header:
            raise DataError(
                f"option numeric: column '{col}' is not in the header of {files['train']}"
                f" (columns: {', '.join(header)})"
            )
    numeric_set = set(numeric)
    numeric_names = [c for c in header if c in numeric_set]  # header order
    field_names = [c for c in header if c != label and c not in numeric_set]
    if not field_names:
        raise DataError(
            f"{files['train']}: no categorical columns (every column besides '{label}' is numeric);"
            " at least one categorical field is needed"
        )

    if group_field is not None:
        if group_field not in header or group_field == label:
            raise DataError(
                f"option group_field: '{group_field}' is not a categorical column of {files['train']}"
                f" (columns: {', '.join(field_names)})"
            )
        if group_field in numeric_set:
            raise DataError(f"option group_field: '{group_field}' is listed as numeric; the group field must be categorical")
    else:
        group_field = auto_group_field(field_names)
    return FolderLayout(files, header, field_names, numeric_names, group_field)


def load_csv_folder(
    folder: Path,
    numeric: list[str],
    group_field: str | None,
    label: str = LABEL,
    required: list[str] | None = None,
    dataset: str | None = None,
) -> RawData:
    """Read and validate a BARS-style folder into :class:`RawData` (see :func:`check_folder`)."""
    layout = check_folder(folder, numeric, group_field, label, required, dataset)
    files, header, field_names = layout.files, layout.header, layout.field_names
    numeric_names, group_field = layout.numeric_names, layout.group_field
    splits = {}
    for split in SPLIT_NAMES:
        df, num, y = _read_split(files[split], header, numeric_names, label)
        cat = [df[c].to_numpy(dtype=object) for c in field_names]
        splits[split] = RawSplit(cat=cat, num=num, y=y, line_of=df.attrs["line_of"])
    return RawData(
        field_names=field_names,
        numeric_names=numeric_names,
        group_field=group_field,
        splits=splits,
        info={"source": "csv", "path": str(folder), "files": {s: str(p) for s, p in files.items()}},
    )
