"""Tests of the data stage: readers, validation errors, vocabularies, synthetic data, cache."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from tfbench.data import (
    CacheWarning,
    load_dataset,
    named_datasets,
    resolve_cache_dir,
    resolve_data_dir,
)
from tfbench.data.encode import split_sizes
from tfbench.data.synthetic import FIELD_NAMES as SYN_FIELDS
from tfbench.errors import ConfigError, DataError

HEADER = "label,user,item,city"


def write_bars(folder: Path, train: list[str], valid: list[str], test: list[str], header: str = HEADER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("valid", valid), ("test", test)):
        (folder / f"{name}.csv").write_text("\n".join([header, *rows]) + "\n")
    return folder


def simple_bars(tmp_path: Path) -> Path:
    train = ["1,u1,a,x", "0,u1,a,x", "1,u2,a,y", "0,u2,b,y", "0,u3,b,x", "1,u3,c,y", "0,u4,c,x", "1,u5,d,x"]
    valid = ["1,u1,a,x", "0,u6,d,y", "1,u2,e,z"]
    test = ["0,u2,b,x", "1,u7,c,y", "0,u6,e,x"]
    return write_bars(tmp_path / "bars", train, valid, test)


def load(spec, tmp_path: Path, **kw):
    kw.setdefault("cache_dir", tmp_path / "cache")
    return load_dataset(str(spec), **kw)


def error_of(spec, tmp_path: Path, **kw) -> str:
    with pytest.raises(DataError) as info:
        load(spec, tmp_path, **kw)
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


# --------------------------------------------------------------------------- CSV folders


def test_csv_round_trip(tmp_path):
    ds = load(simple_bars(tmp_path), tmp_path)
    assert ds.name == "bars"
    assert [f.name for f in ds.fields] == ["user", "item", "city"]
    assert ds.group_field == "user"
    assert ds.numeric_fields == []
    assert [len(ds.train), len(ds.valid), len(ds.test)] == [8, 3, 3]
    for split in ds.splits().values():
        assert split.x_cat.dtype == np.int64 and split.x_cat.shape == (len(split), 3)
        assert split.x_num.dtype == np.float32 and split.x_num.shape == (len(split), 0)
        assert split.y.dtype == np.float32
        assert split.group.dtype == np.int64
        assert (split.x_cat >= 1).all()  # 0 is padding, never produced for a real row
    np.testing.assert_array_equal(ds.train.y, [1, 0, 1, 0, 0, 1, 0, 1])
    np.testing.assert_array_equal(ds.valid.y, [1, 0, 1])
    # equal users share a group id across splits; users unseen in train get their own ids
    g = {"train": ds.train.group, "valid": ds.valid.group, "test": ds.test.group}
    assert g["train"][0] == g["train"][1] == g["valid"][0]  # u1
    assert g["train"][2] == g["valid"][2] == g["test"][0]  # u2
    assert g["valid"][1] == g["test"][2]  # u6, unseen in train
    assert g["test"][1] not in set(g["train"]) | set(g["valid"])  # u7
    assert len(set(g["train"])) == 5


def test_vocab_built_on_train_only_with_min_count(tmp_path):
    # item counts in train: a=3, b=2, c=2, d=1; e appears only in valid/test.
    ds = load(simple_bars(tmp_path), tmp_path, min_count=2)
    item = ds.fields[1]
    # known: a->1 (3), b->2, c->3 (tie on 2 broken by value), d rare -> OOV 4; unseen e -> OOV
    assert (item.vocab_size, item.oov_index) == (5, 4)
    np.testing.assert_array_equal(ds.train.x_cat[:, 1], [1, 1, 1, 2, 2, 3, 3, 4])
    np.testing.assert_array_equal(ds.valid.x_cat[:, 1], [1, 4, 4])  # a, d (rare), e (unseen)
    np.testing.assert_array_equal(ds.test.x_cat[:, 1], [2, 3, 4])  # b, c, e
    # user counts in train: u1=2, u2=2, u3=2, u4=1, u5=1 -> u1,u2,u3 known, OOV 4
    user = ds.fields[0]
    assert (user.vocab_size, user.oov_index) == (5, 4)
    np.testing.assert_array_equal(ds.train.x_cat[:, 0], [1, 1, 2, 2, 3, 3, 4, 4])
    np.testing.assert_array_equal(ds.valid.x_cat[:, 0], [1, 4, 2])
    # city: x=5, y=3 in train; z unseen
    np.testing.assert_array_equal(ds.valid.x_cat[:, 2], [1, 2, 3])

    ds1 = load(simple_bars(tmp_path), tmp_path, min_count=1)
    item = ds1.fields[1]
    assert (item.vocab_size, item.oov_index) == (6, 5)
    np.testing.assert_array_equal(ds1.valid.x_cat[:, 1], [1, 4, 5])  # d known now, e still OOV


def test_numeric_columns_and_explicit_group(tmp_path):
    header = "label,price,user_id,shop,score"
    folder = write_bars(
        tmp_path / "num",
        ["1,1.5,a,s1,2", "0,2.5,b,s1,3", "1,-1,a,s2,4"],
        ["0,0.25,a,s1,1e3"],
        ["1,7,c,s2,0"],
        header=header,
    )
    ds = load(folder, tmp_path, numeric=["score", "price"])
    assert ds.numeric_fields == ["price", "score"]  # header order
    assert [f.name for f in ds.fields] == ["user_id", "shop"]
    assert ds.group_field == "user_id"  # auto-detected
    np.testing.assert_allclose(ds.train.x_num, [[1.5, 2], [2.5, 3], [-1, 4]])
    np.testing.assert_allclose(ds.valid.x_num, [[0.25, 1000]])
    assert ds.train.x_num.dtype == np.float32
    ds2 = load(folder, tmp_path, numeric=["score", "price"], group_field="shop")
    assert ds2.group_field == "shop"
    assert ds2.train.group[0] == ds2.valid.group[0] != ds2.train.group[2]


def test_no_group_column_means_no_group(tmp_path):
    folder = write_bars(tmp_path / "ng", ["1,a", "0,b"], ["1,a"], ["0,b"], header="label,item")
    ds = load(folder, tmp_path)
    assert ds.group_field is None
    assert ds.train.group is None and ds.test.group is None


def test_label_spellings_crlf_and_blank_lines(tmp_path):
    folder = tmp_path / "crlf"
    folder.mkdir()
    (folder / "train.csv").write_bytes(b"label,user\r\n1.0,a\r\n\r\n0.0,b\r\n1,a\r\n")
    (folder / "valid.csv").write_bytes(b"label,user\r\n0,a\r\n")
    (folder / "test.csv").write_bytes(b"label,user\n1,b")  # no final newline
    ds = load(folder, tmp_path)
    np.testing.assert_array_equal(ds.train.y, [1, 0, 1])
    np.testing.assert_array_equal(ds.test.y, [1])


# --------------------------------------------------------------------------- CSV errors


def test_missing_file(tmp_path):
    folder = simple_bars(tmp_path)
    (folder / "test.csv").unlink()
    msg = error_of(folder, tmp_path)
    assert "test.csv" in msg and "missing" in msg


def test_missing_label_column(tmp_path):
    folder = write_bars(tmp_path / "nl", ["1,a"], ["1,a"], ["1,a"], header="click,user")
    msg = error_of(folder, tmp_path)
    assert "train.csv" in msg and "'label'" in msg


@pytest.mark.parametrize(
    "rows, line, word",
    [
        (["1,u1,a,x", "0,u2,b"], 3, "missing"),
        (["1,u1,a,x", "0,u2,b,y", "1,u3,c,z,extra"], 4, "extra"),
        (["1,u1,a,x", "", "0,u2,b"], 4, "missing"),  # blank line still counts
    ],
)
def test_ragged_row(tmp_path, rows, line, word):
    folder = write_bars(tmp_path / "rag", ["1,u1,a,x"], ["1,u1,a,x"], ["1,u1,a,x"])
    (folder / "valid.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    msg = error_of(folder, tmp_path)
    assert "valid.csv" in msg and f"line {line}:" in msg and word in msg


def test_ragged_row_with_quoted_fields(tmp_path):
    folder = write_bars(tmp_path / "q", ['1,"u,1",a,x', '0,"u2",b'], ["1,u1,a,x"], ["1,u1,a,x"])
    msg = error_of(folder, tmp_path)
    assert "train.csv" in msg and "line 3:" in msg


def test_quoted_fields_are_read(tmp_path):
    folder = write_bars(tmp_path / "q2", ['1,"u,1",a,x', '0,"u,1",b,y'], ['1,"u,1",a,x'], ["1,u2,a,x"])
    ds = load(folder, tmp_path, min_count=1)
    assert ds.train.x_cat[0, 0] == ds.train.x_cat[1, 0] == ds.valid.x_cat[0, 0] == 1
    assert ds.test.x_cat[0, 0] == ds.fields[0].oov_index


@pytest.mark.parametrize("bad", ["2", "yes", "-1", ""])
def test_bad_label(tmp_path, bad):
    folder = write_bars(tmp_path / "bl", ["1,u1,a,x", "0,u2,b,y", f"{bad},u3,c,z"], ["1,u1,a,x"], ["1,u1,a,x"])
    msg = error_of(folder, tmp_path)
    assert "train.csv" in msg and "line 4:" in msg and f"'{bad}'" in msg


def test_bad_numeric_value(tmp_path):
    folder = write_bars(tmp_path / "bn", ["1,u1,1.0", "0,u2,abc"], ["1,u1,2"], ["1,u1,3"], header="label,user,price")
    msg = error_of(folder, tmp_path, numeric=["price"])
    assert "train.csv" in msg and "line 3:" in msg and "'price'" in msg and "'abc'" in msg


def test_empty_split(tmp_path):
    folder = write_bars(tmp_path / "es", ["1,u1,a,x"], ["1,u1,a,x"], [])
    msg = error_of(folder, tmp_path)
    assert "test.csv" in msg and "empty" in msg


def test_header_mismatch(tmp_path):
    folder = write_bars(tmp_path / "hm", ["1,u1,a,x"], ["1,u1,a,x"], ["1,u1,a,x"])
    (folder / "valid.csv").write_text("label,user,city,item\n1,u1,x,a\n")
    msg = error_of(folder, tmp_path)
    assert "valid.csv" in msg and "header" in msg and "column 3" in msg


def test_bad_options(tmp_path):
    folder = simple_bars(tmp_path)
    assert "'nope'" in error_of(folder, tmp_path, numeric=["nope"])
    assert "group_field" in error_of(folder, tmp_path, group_field="nope")
    with pytest.raises(ConfigError):
        load(folder, tmp_path, min_count=0)
    assert "numeric" in error_of("synthetic", tmp_path, numeric=["x"], synthetic_rows=100)


def test_unknown_dataset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    msg = error_of("foo", tmp_path)
    assert msg == (
        "unknown dataset 'foo': known datasets are synthetic, frappe-nfm, frappe, ml-tag, ml-1m, kkbox, criteo;"
        " or give a folder with train.csv/valid.csv/test.csv"
    )


def test_frappe_missing_says_where(tmp_path):
    msg = error_of("frappe-nfm", tmp_path, data_dir=tmp_path / "nowhere")
    assert str(tmp_path / "nowhere" / "frappe-nfm") in msg
    assert "TFBENCH_DATA_DIR" in msg and "--data-dir" in msg


# --------------------------------------------------------------------------- libFM


def write_libfm(path: Path, labels, rows) -> Path:
    lines = [" ".join([str(lab)] + [f"{v}:1" for v in row]) for lab, row in zip(labels, rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_libfm_concat_split(tmp_path):
    folder = tmp_path / "fm"
    folder.mkdir()
    rng = np.random.default_rng(0)
    rows = np.stack([rng.integers(0, 5, 50), 100 + rng.integers(0, 8, 50), 200 + rng.integers(0, 3, 50)], axis=1)
    labels = np.where(rng.random(50) < 0.4, 1, -1)
    write_libfm(folder / "b.libfm", labels[30:], rows[30:])
    write_libfm(folder / "a.libfm", labels[:30], rows[:30])
    ds = load(folder, tmp_path, min_count=1)
    assert [f.name for f in ds.fields] == ["f1", "f2", "f3"]
    assert ds.group_field is None
    assert [len(ds.train), len(ds.valid), len(ds.test)] == [35, 10, 5]
    y_all = np.concatenate([ds.train.y, ds.valid.y, ds.test.y])
    assert set(np.unique(y_all)) <= {0.0, 1.0}
    assert y_all.sum() == (labels == 1).sum()
    # deterministic for a seed, different for another seed
    again = load(folder, tmp_path, min_count=1, use_cache=False)
    np.testing.assert_array_equal(again.train.x_cat, ds.train.x_cat)
    np.testing.assert_array_equal(again.test.y, ds.test.y)
    other = load(folder, tmp_path, min_count=1, split_seed=7)
    assert not np.array_equal(other.train.x_cat, ds.train.x_cat)
    # the raw index is the field value: at most (distinct values + padding + OOV) per field
    assert all(f.vocab_size <= len(set(rows[:, j])) + 2 for j, f in enumerate(ds.fields))


def test_libfm_given_split_and_labels(tmp_path):
    folder = tmp_path / "fm3"
    folder.mkdir()
    write_libfm(folder / "train.libfm", [1, -1, 1, -1], [[1, 10], [1, 11], [2, 10], [3, 12]])
    write_libfm(folder / "valid.libfm", [-1, 1], [[1, 10], [9, 12]])
    write_libfm(folder / "test.libfm", [0, 1], [[2, 11], [3, 99]])
    ds = load(folder, tmp_path, group_field="f1")
    np.testing.assert_array_equal(ds.train.y, [1, 0, 1, 0])
    np.testing.assert_array_equal(ds.test.y, [0, 1])
    assert ds.group_field == "f1"
    # f1 train counts: 1->2, 2->1, 3->1: only 1 known; OOV = 2
    np.testing.assert_array_equal(ds.train.x_cat[:, 0], [1, 1, 2, 2])
    np.testing.assert_array_equal(ds.valid.x_cat[:, 0], [1, 2])
    # f2 train counts: 10->2, 11->1, 12->1
    np.testing.assert_array_equal(ds.test.x_cat[:, 1], [2, 2])


@pytest.mark.parametrize(
    "line, expect",
    [
        ("1 3:1", "2 tokens"),
        ("1 3:1 7:1 9:1", "4 tokens"),
        ("1 3-1 7:1", "'3-1'"),
        ("1 3:1:2 7", "'3:1:2'"),
        ("1 x:1 7:1", "'x:1'"),
        ("1 3:abc 7:1", "'3:abc'"),
        ("1 3.5:1 7:1", "'3.5:1'"),
        ("2 3:1 7:1", "label '2'"),
        ("1:1 3:1 7", "label '1:1'"),
    ],
)
def test_libfm_errors(tmp_path, line, expect):
    path = tmp_path / "bad.libfm"
    path.write_text("1 1:1 5:1\n-1 2:1 6:1\n\n" + line + "\n0 1:1 5:1\n")
    msg = error_of(path, tmp_path)
    assert "bad.libfm" in msg and "line 4:" in msg and expect in msg, msg


def test_libfm_parser_reads_a_large_file_exactly(tmp_path):
    """90,000 rows through the vectorised parser give back every index and label (its speed is
    measured by bench/bench_libfm.py; a test never fails on a time)."""
    rng = np.random.default_rng(1)
    n = 90_000
    rows = rng.integers(0, 5000, size=(n, 10))
    labels = np.where(rng.random(n) < 0.3, 1, -1)
    fmt = "%d " + " ".join(["%d:1"] * 10)
    text = "\n".join(map(fmt.__mod__, map(tuple, np.column_stack([labels, rows]).tolist())))
    path = tmp_path / "big.libfm"
    path.write_text(text + "\n")
    from tfbench.data.libfm_source import parse_libfm_file

    y, idx = parse_libfm_file(path)
    np.testing.assert_array_equal(idx, rows)
    np.testing.assert_array_equal(y, (labels > 0).astype(y.dtype))


# --------------------------------------------------------------------------- synthetic


def test_synthetic_deterministic_and_seeded(tmp_path):
    a = load("synthetic", tmp_path, synthetic_rows=5000, use_cache=False)
    b = load("synthetic", tmp_path, synthetic_rows=5000, use_cache=False)
    c = load("synthetic", tmp_path, synthetic_rows=5000, synthetic_seed=99, use_cache=False)
    assert [f.name for f in a.fields] == SYN_FIELDS
    assert a.group_field == "user"
    assert [len(a.train), len(a.valid), len(a.test)] == list(split_sizes(5000))
    for name in ("train", "valid", "test"):
        np.testing.assert_array_equal(a.splits()[name].x_cat, b.splits()[name].x_cat)
        np.testing.assert_array_equal(a.splits()[name].y, b.splits()[name].y)
    assert not np.array_equal(a.train.y, c.train.y)
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_synthetic_signal_is_mostly_in_interactions(tmp_path):
    """Logistic regression on one-hot fields (first order only) stays near chance, while the same
    regression given the crossed pairs and the triple of the interacting fields (the teacher's own
    structure) learns it: so a model must model interactions to do well on this data.

    Measured on 20k rows (2,000 test rows): first order 0.554, with the crosses 0.80 (teacher 0.88).
    """
    import itertools

    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import OneHotEncoder

    from tfbench.data import synthetic

    ds = load("synthetic", tmp_path, synthetic_rows=20_000)
    y_all = np.concatenate([s.y for s in ds.splits().values()])
    assert 0.30 <= y_all.mean() <= 0.37

    def lr_auc(features):
        train, test = features(ds.train.x_cat), features(ds.test.x_cat)
        enc = OneHotEncoder(handle_unknown="ignore").fit(train)
        lr = LogisticRegression(max_iter=500).fit(enc.transform(train), ds.train.y)
        return roc_auc_score(ds.test.y, lr.decision_function(enc.transform(test)))

    col = {name: i for i, name in enumerate(SYN_FIELDS)}

    def crossed(x):
        # x_cat holds vocabulary indices < 100 for the interacting fields, so a*100 + b is injective
        cols = [x[:, i] for i in range(x.shape[1])]
        cols += [x[:, col[a]] * 100 + x[:, col[b]] for a, b in itertools.combinations(synthetic.PAIR_FIELDS, 2)]
        cols += [x[:, col[a]] * 10_000 + x[:, col[b]] * 100 + x[:, col[c]] for a, b, c in synthetic.TRIPLES]
        return np.stack(cols, axis=1)

    first_order, with_crosses = lr_auc(lambda x: x), lr_auc(crossed)
    assert 0.52 < first_order < 0.60, first_order
    assert with_crosses > 0.75, with_crosses
    assert ds.info["synthetic"]["teacher_auc"] < 0.95  # not trivially separable


# --------------------------------------------------------------------------- cache


def assert_same(a, b):
    assert a.fingerprint == b.fingerprint
    assert a.fields == b.fields and a.numeric_fields == b.numeric_fields and a.group_field == b.group_field
    for name in ("train", "valid", "test"):
        sa, sb = a.splits()[name], b.splits()[name]
        for attr in ("x_cat", "x_num", "y", "group"):
            va, vb = getattr(sa, attr), getattr(sb, attr)
            assert va.dtype == vb.dtype and va.shape == vb.shape
            np.testing.assert_array_equal(va, vb)


def test_cache_hit_and_misses(tmp_path):
    folder = simple_bars(tmp_path)
    first = load(folder, tmp_path)
    assert first.info["cache"] == "miss"
    assert Path(first.info["cache_path"]).is_file()
    second = load(folder, tmp_path)
    assert second.info["cache"] == "hit"
    assert second.info["cache_path"] == first.info["cache_path"]
    assert_same(first, second)
    assert load(folder, tmp_path, min_count=1).info["cache"] == "miss"  # changed option
    # modified source file -> new key
    with open(folder / "test.csv", "a") as fh:
        fh.write("1,u1,a,x\n")
    third = load(folder, tmp_path)
    assert third.info["cache"] == "miss" and third.fingerprint != first.fingerprint
    assert len(third.test) == 4
    assert not list((tmp_path / "cache").glob("*.tmp"))  # nothing half-written left behind


def test_synthetic_100k_cold_and_warm(tmp_path):
    t = time.perf_counter()
    cold = load("synthetic", tmp_path, synthetic_rows=100_000)
    assert time.perf_counter() - t < 2.0  # generate + encode + write the cache
    t = time.perf_counter()
    warm = load("synthetic", tmp_path, synthetic_rows=100_000)
    assert time.perf_counter() - t < 1.0
    assert (cold.info["cache"], warm.info["cache"]) == ("miss", "hit")
    assert_same(cold, warm)
    assert [len(cold.train), len(cold.valid), len(cold.test)] == [70_000, 20_000, 10_000]
    assert 0.25 <= cold.info["synthetic"]["positive_rate"] <= 0.42


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_corrupt_cache_is_rebuilt(tmp_path, damage):
    first = load("synthetic", tmp_path, synthetic_rows=3000)
    path = Path(first.info["cache_path"])
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # flip a byte inside an array payload, past the zip headers
        pos = len(data) // 3
        path.write_bytes(data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1 :])
    elif damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    else:
        path.write_bytes(b"")
    with pytest.warns(CacheWarning):
        again = load("synthetic", tmp_path, synthetic_rows=3000)
    assert again.info["cache"] == "rebuilt"
    assert_same(first, again)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load("synthetic", tmp_path, synthetic_rows=3000).info["cache"] == "hit"


def test_use_cache_false_writes_nothing(tmp_path):
    ds = load("synthetic", tmp_path, synthetic_rows=2000, use_cache=False)
    assert ds.info["cache"] == "off"
    assert not (tmp_path / "cache").exists()


# --------------------------------------------------------------------------- registry


def test_dirs_and_named_datasets(tmp_path, monkeypatch):
    monkeypatch.delenv("TFBENCH_DATA_DIR", raising=False)
    monkeypatch.delenv("TFBENCH_CACHE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir() == tmp_path / "data"
    assert resolve_cache_dir() == tmp_path / ".tfbench-cache"
    monkeypatch.setenv("TFBENCH_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("TFBENCH_CACHE_DIR", str(tmp_path / "envc"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_cache_dir() == tmp_path / "envc"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_cache_dir(tmp_path / "argc") == tmp_path / "argc"

    listing = {d["name"]: d for d in named_datasets(tmp_path / "root")}
    assert set(listing) == {"synthetic", "frappe-nfm", "frappe", "ml-tag", "ml-1m", "kkbox", "criteo"}
    assert listing["synthetic"]["available"] is True
    assert listing["frappe-nfm"]["available"] is False
    assert listing["frappe-nfm"]["rows"] == 86_582
    assert listing["frappe-nfm"]["path"] == str(tmp_path / "root" / "frappe-nfm")
    for name in ("frappe.validation.libfm", "frappe.test.libfm"):
        (tmp_path / "root" / "frappe-nfm").mkdir(parents=True, exist_ok=True)
        (tmp_path / "root" / "frappe-nfm" / name).write_text("1 1:1\n")
    assert {d["name"]: d for d in named_datasets(tmp_path / "root")}["frappe-nfm"]["available"] is True


def test_bare_name_under_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    simple_bars(tmp_path / "root")
    ds = load("bars", tmp_path, data_dir=tmp_path / "root")
    assert ds.name == "bars" and len(ds.train) == 8


# --------------------------------------------------------------------------- real data

_DATA_ENV = os.environ.get("TFBENCH_DATA_DIR", "")
_HAS_FRAPPE = bool(_DATA_ENV) and (Path(_DATA_ENV) / "frappe-nfm" / "frappe.test.libfm").is_file()


@pytest.mark.skipif(not _HAS_FRAPPE, reason="set TFBENCH_DATA_DIR to ../shared/datasets to run")
def test_real_frappe(tmp_path):
    ds = load("frappe-nfm", tmp_path)
    sizes = [len(ds.train), len(ds.valid), len(ds.test)]
    assert sum(sizes) == 86_582
    assert sizes == list(split_sizes(86_582)) == [60_607, 17_316, 8_659]
    assert [f.name for f in ds.fields] == [
        "user", "item", "daytime", "weekday", "isweekend", "homework", "cost", "weather", "country", "city",
    ]
    assert ds.group_field == "user"
    y_all = np.concatenate([s.y for s in ds.splits().values()])
    assert abs(y_all.mean() - 1 / 3) < 0.01
    assert ds.info["cache"] == "miss"
    warm = load("frappe-nfm", tmp_path)
    assert warm.info["cache"] == "hit"
    assert_same(ds, warm)


def test_cache_file_format_change_rebuilds_but_keeps_the_fingerprint(tmp_path, monkeypatch):
    """The fingerprint is part of every run key: a new cache file layout must not change it
    (stored runs stay valid), while a file in the old layout is rebuilt, never misread."""
    import tfbench.data.cache as cache

    first = load_dataset("synthetic", synthetic_rows=2000, cache_dir=tmp_path)
    monkeypatch.setattr("tfbench.data.cache_format.FORMAT_VERSION", cache.FORMAT_VERSION + 1)  # where it is read
    with pytest.warns(cache.CacheWarning, match="format"):
        again = load_dataset("synthetic", synthetic_rows=2000, cache_dir=tmp_path)
    assert again.info["cache"] == "rebuilt" and again.fingerprint == first.fingerprint
    np.testing.assert_array_equal(again.train.x_cat, first.train.x_cat)
    assert load_dataset("synthetic", synthetic_rows=2000, cache_dir=tmp_path).info["cache"] == "hit"
