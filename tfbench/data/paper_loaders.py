"""How each of the paper's datasets is read from its public layout and prepared into raw splits.

Preparation, per dataset (values are read as strings; vocabularies are built on train only
with the run's ``min_count``, see ``encode.py``):

* In the BARS folders an empty value of a plain field is missing and maps to the field's OOV
  index, as FuxiCTR's ``na_value`` does in the authors' runs (exception: Criteo's I* below).
  Columns beyond the dataset's fields are ignored.
* ``frappe`` (BARS Frappe_x1) and ``ml-tag`` (BARS MovielensLatest_x1): the CSV columns as
  they are; the files are already split 7:2:1.
* ``ml-1m``: ``ratings.dat`` joined with ``users.dat`` (``::``-separated, latin-1); label 1
  when the rating is at least 4; rows stably sorted by timestamp, the first ⌊0.8 n⌋ are
  train, the next up to ⌊0.9 n⌋ valid, the rest test.
* ``kkbox`` (BARS KKBox_x1): ``isrc`` becomes its first two characters (the ISRC country
  code), ``bd`` an age bucket (1: 1–10, 2: 11–20, … 6: 51–60, 7: 61–95; outside 1–95 or not a
  number: missing), ``genre_ids`` and ``artist_name`` are multi-valued fields (tokens split
  at ``|``, at most 3 kept, mean-pooled); the files are already split 8:1:1.
* ``criteo`` (Criteo_x4): ``I1``–``I13`` are discretised to the token ⌊ln(x)²⌋ for x > 2 and
  int(x) (truncated toward zero) otherwise, negative values included; a missing value is its
  own token (FuxiCTR fills it with 0 instead). The label column is ``Label``; the files are
  already split 8:1:1. The paper's min_count is 10 here (the studies set it; ``--min-count``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tfbench.data import csv_source
from tfbench.data.encode import SPLIT_NAMES, RawData, RawSplit, SequenceSpec
from tfbench.errors import DataError


# ---------------------------------------------------------------------------------------- BARS CSV


@dataclass(frozen=True)
class BarsLoader:
    """A loader for a BARS folder: read, keep ``fields`` in this order, apply the transforms
    (``transform(values, where, line_of)``). An empty value of a plain field maps to OOV,
    except in the fields of ``keep_missing``, where it is a token of its own. ``plan`` gives
    the same preparation to the streaming path (``stream.py``) for large files."""

    name: str
    fields: tuple[str, ...]
    group: str | None
    label: str = "label"
    transforms: dict[str, Callable[..., np.ndarray]] = field(default_factory=dict)
    sequences: dict[str, SequenceSpec] = field(default_factory=dict)
    keep_missing: tuple[str, ...] = ()

    @property
    def missing_to_oov(self) -> frozenset[str]:
        return frozenset(f for f in self.fields if f not in self.sequences and f not in self.keep_missing)

    def plan(self, group: str | None):
        from tfbench.data.stream import CsvPlan

        return CsvPlan(
            label=self.label, fields=tuple(self.fields), group_field=group, transforms=dict(self.transforms),
            sequences=dict(self.sequences), missing_to_oov=self.missing_to_oov, dataset=self.name,
        )

    def __call__(self, folder: Path) -> RawData:
        fields, transforms = self.fields, self.transforms
        raw = csv_source.load_csv_folder(folder, [], self.group, label=self.label, required=list(fields), dataset=self.name)
        files = csv_source.split_files(folder)
        pick = [raw.field_names.index(f) for f in fields]
        splits = {}
        for split in SPLIT_NAMES:
            rs = raw.splits[split]
            cat = [rs.cat[k] for k in pick]
            for j, fname in enumerate(fields):
                if fname in transforms:
                    where = f"{files[split]}, column '{fname}'"
                    cat[j] = transforms[fname](cat[j], where, rs.line_of)
            splits[split] = RawSplit(cat=cat, num=rs.num, y=rs.y, line_of=rs.line_of)
        ignored = [c for c in raw.field_names if c not in fields]
        info = dict(raw.info)
        if ignored:
            info["ignored_columns"] = ignored
        return RawData(
            field_names=list(fields),
            numeric_names=[],
            group_field=self.group,
            splits=splits,
            info=info,
            sequences=dict(self.sequences),
            missing_to_oov=self.missing_to_oov,
        )


def _bars_loader(
    name: str,
    fields: tuple[str, ...],
    group: str | None,
    label: str = "label",
    transforms: dict[str, Callable[..., np.ndarray]] | None = None,
    sequences: dict[str, SequenceSpec] | None = None,
    keep_missing: tuple[str, ...] = (),
) -> BarsLoader:
    return BarsLoader(name, tuple(fields), group, label, dict(transforms or {}), dict(sequences or {}), tuple(keep_missing))


# ---------------------------------------------------------------------------------------- Criteo


def criteo_bucket(values: np.ndarray, where: str = "value", line_of=None) -> np.ndarray:
    """Criteo's numeric discretisation: token ⌊ln(x)²⌋ for x > 2, int(x) otherwise, "" stays "" (missing)."""
    s = pd.Series(values, dtype=object).astype(str).str.strip()
    missing = (s == "").to_numpy()
    x = pd.to_numeric(s.where(~missing, "nan"), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~missing & ~np.isfinite(x)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        at = f"line {line_of(k)}" if line_of is not None else f"row {k + 1}"
        raise DataError(f"{where}, {at}: '{values[k]}' is not a finite number (Criteo's I1-I13 are numeric)")
    return criteo_tokens(x, missing)


def criteo_tokens(x: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """The tokens of parsed finite numbers ``x`` (``missing``: no value): the second half of
    :func:`criteo_bucket`, also used by the streaming path on numbers parsed by pyarrow."""
    out = np.empty(len(x), dtype=object)
    out[missing] = ""
    ok = ~missing
    big = ok & (x > 2)
    small = ok & ~big
    with np.errstate(invalid="ignore", divide="ignore"):
        out[big] = np.floor(np.log(x[big]) ** 2).astype(np.int64).astype(str)
    out[small] = np.trunc(x[small]).astype(np.int64).astype(str)
    return out


# The streaming path may parse the numbers itself (in Arrow) and call this instead; values
# Arrow does not parse as finite numbers go through criteo_bucket.
criteo_bucket.numeric_tokens = criteo_tokens


# ---------------------------------------------------------------------------------------- KKBox


def isrc_country(values: np.ndarray, where: str = "", line_of=None) -> np.ndarray:
    """The ISRC country code: the first two characters ("" when missing)."""
    return pd.Series(values, dtype=object).astype(str).str.slice(0, 2).to_numpy(dtype=object)


def age_bucket(values: np.ndarray, where: str = "", line_of=None) -> np.ndarray:
    """KKBox ``bd`` as FuxiCTR buckets it: 1–10 → "1", 11–20 → "2", … 51–60 → "6", 61–95 → "7";
    below 1, above 95 or not a number → "" (missing)."""
    age = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    out = np.full(len(age), "", dtype=object)
    valid = (age >= 1) & (age <= 95)
    bucket = np.minimum(np.ceil(age[valid] / 10.0), 7).astype(np.int64)
    out[valid] = bucket.astype(str)
    return out


# ---------------------------------------------------------------------------------------- ML-1M


def _read_dat(path: Path, columns: list[str]) -> tuple[list[list[str]], list[int]]:
    """Rows of a ``::``-separated MovieLens file (latin-1) and their 1-based line numbers."""
    try:
        text = path.read_bytes().decode("latin-1")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    rows, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("::")
        if len(parts) != len(columns):
            raise DataError(
                f"{path}, line {number}: {len(parts)} '::'-separated field{'s' if len(parts) != 1 else ''},"
                f" expected {len(columns)} ({'::'.join(columns)})"
            )
        rows.append(parts)
        lines.append(number)
    if not rows:
        raise DataError(f"{path}: no data rows (expected lines {'::'.join(columns)})")
    return rows, lines


def _integers(values: np.ndarray, path: Path, lines: list[int], what: str, low=None, high=None) -> np.ndarray:
    nums = pd.to_numeric(pd.Series(values, dtype=object).str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(nums) | (nums != np.floor(nums))
    if low is not None:
        bad |= nums < low
    if high is not None:
        bad |= nums > high
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        rng = f" from {low} to {high}" if low is not None else ""
        raise DataError(f"{path}, line {lines[k]}: {what} '{values[k]}' is not an integer{rng}")
    return nums.astype(np.int64)


ML1M_FIELDS = ("UserID", "MovieID", "Gender", "Age", "Occupation")


def time_split_bounds(n: int) -> tuple[int, int]:
    """End of train and of valid in an 8:1:1 split of ``n`` time-sorted rows: ⌊0.8 n⌋, ⌊0.9 n⌋."""
    return (8 * n) // 10, (9 * n) // 10


def load_ml1m(folder: Path) -> RawData:
    ratings_path, users_path = folder / "ratings.dat", folder / "users.dat"
    ratings, r_lines = _read_dat(ratings_path, ["UserID", "MovieID", "Rating", "Timestamp"])
    users, u_lines = _read_dat(users_path, ["UserID", "Gender", "Age", "Occupation", "Zip-code"])
    r = np.array(ratings, dtype=object)
    u = np.array(users, dtype=object)
    user_ids = pd.Series(u[:, 0]).str.strip()
    dup = user_ids.duplicated().to_numpy()
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        raise DataError(f"{users_path}, line {u_lines[k]}: UserID '{user_ids.iat[k]}' appears twice")
    rating = _integers(r[:, 2], ratings_path, r_lines, "rating", 1, 5)
    ts = _integers(r[:, 3], ratings_path, r_lines, "timestamp")
    r_users = pd.Series(r[:, 0]).str.strip()
    pos = pd.Index(user_ids).get_indexer(r_users)
    if (pos < 0).any():
        k = int(np.flatnonzero(pos < 0)[0])
        raise DataError(f"{ratings_path}, line {r_lines[k]}: UserID '{r_users.iat[k]}' is not in {users_path.name}")
    columns = {
        "UserID": r_users.to_numpy(dtype=object),
        "MovieID": pd.Series(r[:, 1]).str.strip().to_numpy(dtype=object),
        "Gender": pd.Series(u[pos, 1]).str.strip().to_numpy(dtype=object),
        "Age": pd.Series(u[pos, 2]).str.strip().to_numpy(dtype=object),
        "Occupation": pd.Series(u[pos, 3]).str.strip().to_numpy(dtype=object),
    }
    y = (rating >= 4).astype(np.float32)
    order = np.argsort(ts, kind="stable")
    a, b = time_split_bounds(len(order))
    if a == 0 or b == a or b == len(order):
        raise DataError(f"{ratings_path}: only {len(order)} ratings, too few to split 8:1:1 into non-empty train/valid/test")
    splits = {}
    for name, rows in zip(SPLIT_NAMES, (order[:a], order[a:b], order[b:])):
        lines = np.asarray(r_lines)[rows]
        splits[name] = RawSplit(
            cat=[columns[f][rows] for f in ML1M_FIELDS],
            num=np.empty((len(rows), 0), dtype=np.float32),
            y=y[rows],
            line_of=lambda k, lines=lines: int(lines[k]),
        )
    return RawData(
        field_names=list(ML1M_FIELDS),
        numeric_names=[],
        group_field="UserID",
        splits=splits,
        info={"source": "ml-1m", "path": str(folder), "files": {"ratings": str(ratings_path), "users": str(users_path)},
              "time_split": {"train_until": int(ts[order[a - 1]]), "valid_until": int(ts[order[b - 1]])}},
    )
