"""The paper's five datasets, read from small files the tests write in each public layout."""

from __future__ import annotations

import dataclasses
import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from tfbench.cli.main import app
from tfbench.config import RunConfig
from tfbench.data import DataWarning, load_dataset, named_datasets
from tfbench.data import named as named_mod
from tfbench.errors import DataError
from tfbench.losses import make_objective
from tfbench.models import embedding_modules
from tfbench.runner import build_for, train_settings
from tfbench.train import fit, resolve_device, seed_everything


def write_split_files(folder: Path, header: str, rows: dict[str, list[str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        (folder / f"{split}.csv").write_text("\n".join([header, *rows[split]]) + "\n")
    return folder


def load(name, root, tmp_path, **kw):
    """Load a named dataset; return (dataset, the DataWarning messages)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset(name, data_dir=root, cache_dir=tmp_path / "cache", **kw)
    return ds, [str(w.message) for w in caught if issubclass(w.category, DataWarning)]


def error_of(name, root, tmp_path, **kw) -> str:
    with pytest.raises(DataError) as info:
        load_dataset(name, data_dir=root, cache_dir=tmp_path / "cache", **kw)
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


def column(ds, split, name):
    return getattr(ds, split).x_cat[:, ds.columns_of(name)]


def filler(rng: random.Random, n: int, make) -> list[str]:
    return [make(rng) for _ in range(n)]


# --------------------------------------------------------------------------- frappe

FRAPPE_HEADER = "label,user,item,daytime,weekday,isweekend,homework,cost,weather,country,city"


def frappe_row(rng, user=None, item=None, label=None):
    user = user or f"u{rng.randrange(20)}"
    item = item or f"i{rng.randrange(30)}"
    label = rng.randrange(2) if label is None else label
    return (f"{label},{user},{item},{rng.choice(['morning', 'night'])},{rng.choice(['monday', 'sunday'])},"
            f"{rng.choice(['workday', 'weekend'])},unknown,free,{rng.choice(['sunny', 'rainy'])},"
            f"{rng.choice(['Spain', 'Germany'])},{rng.randrange(5)}")


def frappe_files(root: Path) -> Path:
    rng = random.Random(1)
    rows = {
        "train": filler(rng, 400, frappe_row) + [frappe_row(rng, item="seen_once"), frappe_row(rng, item="seen_twice"),
                                                  frappe_row(rng, item="seen_twice")],
        "valid": filler(rng, 100, frappe_row) + [frappe_row(rng, item="seen_once"), frappe_row(rng, item="only_valid")],
        "test": filler(rng, 60, frappe_row) + [frappe_row(rng, item="seen_twice")],
    }
    return write_split_files(root / "Frappe_x1", FRAPPE_HEADER, rows)


def test_frappe_fields_oov_and_warning(tmp_path):
    root = tmp_path / "data"
    frappe_files(root)
    ds, warned = load("frappe", root, tmp_path)
    assert [f.name for f in ds.fields] == ["user", "item", "daytime", "weekday", "isweekend", "homework", "cost",
                                           "weather", "country", "city"]
    assert ds.group_field == "user" and not ds.has_sequences
    assert [len(ds.train), len(ds.valid), len(ds.test)] == [403, 102, 61]
    item = next(f for f in ds.fields if f.name == "item")
    # seen once in train -> OOV (min_count 2); seen twice -> its own index; unseen -> OOV
    assert column(ds, "train", "item")[400, 0] == item.oov_index
    assert column(ds, "train", "item")[401, 0] == column(ds, "test", "item")[60, 0] != item.oov_index
    assert column(ds, "valid", "item")[100, 0] == column(ds, "valid", "item")[101, 0] == item.oov_index
    # 30 regular items + seen_twice known, + padding + OOV
    assert item.vocab_size == 30 + 1 + 2
    assert len(warned) == 1
    msg = warned[0]
    assert "frappe" in msg and "rows train 403 (expected 202,027)" in msg and "rows test 61 (expected 28,860)" in msg
    assert "positive ratio" in msg
    # total vocabulary against the authors' Frappe run (942 + 4084 + ... = 5,383; Table III 5,382)
    assert "(expected 5,383, the sum of the vocabulary sizes in the authors' runs; Table III: 5,382)" in msg


def test_no_warning_when_the_statistics_match(tmp_path, monkeypatch):
    root = tmp_path / "data"
    frappe_files(root)
    first, _ = load("frappe", root, tmp_path, use_cache=False)
    pos = 100.0 * sum(float(s.y.sum()) for s in first.splits().values()) / 566
    spec = named_mod.PAPER_DATASETS["frappe"]
    same = dataclasses.replace(
        spec.expected, rows={"train": 403, "valid": 102, "test": 61}, positive_percent=round(pos, 1),
        features=sum(first.vocab_sizes), vocab_sizes={},
    )
    monkeypatch.setitem(named_mod.PAPER_DATASETS, "frappe", dataclasses.replace(spec, expected=same))
    ds, warned = load("frappe", root, tmp_path)
    assert warned == [] and ds.info["paper_differences"] == []


def test_frappe_bad_label_and_missing_column(tmp_path):
    root = tmp_path / "data"
    folder = frappe_files(root)
    lines = (folder / "valid.csv").read_text().splitlines()
    lines[3] = "2" + lines[3][1:]
    (folder / "valid.csv").write_text("\n".join(lines) + "\n")
    msg = error_of("frappe", root, tmp_path)
    assert msg.startswith(f"{folder / 'valid.csv'}, line 4: label '2' is not 0 or 1")

    text = (folder / "train.csv").read_text().replace(",city\n", ",town\n", 1)
    (folder / "train.csv").write_text(text)
    msg = error_of("frappe", root, tmp_path)
    assert msg.startswith(f"{folder / 'train.csv'}, line 1: missing column 'city'") and "frappe" in msg


def test_missing_folder_says_where(tmp_path):
    msg = error_of("kkbox", tmp_path / "nowhere", tmp_path)
    assert str(tmp_path / "nowhere" / "KKBox_x1") in msg and "TFBENCH_DATA_DIR" in msg and "huggingface" in msg


# --------------------------------------------------------------------------- ml-tag


def test_ml_tag(tmp_path):
    root = tmp_path / "data"
    rng = random.Random(2)
    row = lambda r: f"{r.randrange(2)},{r.randrange(40)},{r.randrange(60)},{r.randrange(80)}"  # noqa: E731
    rows = {"train": filler(rng, 700, row) + ["1,7,5,tag_once"], "valid": filler(rng, 200, row) + ["0,999,5,3"],
            "test": filler(rng, 100, row)}
    write_split_files(root / "MovielensLatest_x1", "label,user_id,item_id,tag_id", rows)
    ds, warned = load("ml-tag", root, tmp_path)
    assert [f.name for f in ds.fields] == ["user_id", "item_id", "tag_id"]
    assert ds.group_field == "user_id"
    tag, user = ds.fields[2], ds.fields[0]
    assert ds.train.x_cat[700, 2] == tag.oov_index
    assert ds.valid.x_cat[200, 0] == user.oov_index  # user 999 unseen in train
    # the unseen user still has a gAUC group of its own
    assert ds.valid.group[200] not in set(ds.train.group)
    assert warned and "rows train 701 (expected 1,404,801)" in warned[0]


# --------------------------------------------------------------------------- ml-1m

# (UserID, MovieID, Rating, Timestamp): timestamps out of order, with ties kept in file order
ML1M_RATINGS = [
    (1, 10, 5, 500), (2, 11, 3, 100), (3, 10, 4, 300), (1, 12, 1, 900), (4, 13, 4, 100),
    (2, 10, 2, 700), (3, 11, 5, 200), (5, 12, 4, 800), (4, 10, 3, 600), (5, 14, 4, 400),
    (1, 11, 4, 1000), (2, 12, 5, 150), (3, 13, 3, 950), (4, 11, 2, 250), (5, 10, 5, 850),
    (1, 13, 4, 350), (2, 14, 1, 50), (3, 12, 4, 1000), (4, 12, 5, 650), (5, 11, 3, 750),
]
ML1M_USERS = [(1, "F", 1, 10, "48067"), (2, "M", 56, 16, "70072"), (3, "M", 25, 15, "55117"),
              (4, "M", 45, 7, "02460"), (5, "F", 25, 20, "M\u00e9xico")]  # a latin-1 byte in a zip code


def write_ml1m(root: Path, ratings=ML1M_RATINGS, users=ML1M_USERS) -> Path:
    folder = root / "ml-1m"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.dat").write_bytes("".join("::".join(map(str, r)) + "\n" for r in ratings).encode("latin-1"))
    (folder / "users.dat").write_bytes("".join("::".join(map(str, u)) + "\n" for u in users).encode("latin-1"))
    return folder


def test_ml1m_time_split_label_and_fields(tmp_path):
    root = tmp_path / "data"
    write_ml1m(root)
    ds, warned = load("ml-1m", root, tmp_path, min_count=1)
    assert [f.name for f in ds.fields] == ["UserID", "MovieID", "Gender", "Age", "Occupation"]
    assert ds.group_field == "UserID"
    # stable sort by timestamp; n = 20 -> train the first 16, valid the next 2, test the last 2
    by_time = sorted(range(20), key=lambda k: ML1M_RATINGS[k][3])  # sorted() is stable
    expect = {"train": by_time[:16], "valid": by_time[16:18], "test": by_time[18:]}
    assert [ML1M_RATINGS[k][3] for k in expect["valid"]] == [900, 950]
    assert [ML1M_RATINGS[k][3] for k in expect["test"]] == [1000, 1000]  # (1, 11) before (3, 12): file order
    vocab = {name: {} for name in ("UserID", "MovieID")}
    for split, rows in expect.items():
        got = getattr(ds, split)
        np.testing.assert_array_equal(got.y, [1.0 if ML1M_RATINGS[k][2] >= 4 else 0.0 for k in rows])
        # the same (UserID, MovieID) pairs in the same order: map indices back through train
        for j, name in enumerate(("UserID", "MovieID")):
            for k, idx in zip(rows, got.x_cat[:, j]):
                raw = ML1M_RATINGS[k][j]
                if split == "train":
                    assert vocab[name].setdefault(raw, idx) == idx
                elif raw in vocab[name]:
                    assert idx == vocab[name][raw]
    # Gender/Age/Occupation come from users.dat: user 2's rows share Age 56 and Occupation 16
    age = ds.fields[3]
    user2 = [i for i, k in enumerate(expect["train"]) if ML1M_RATINGS[k][0] == 2]
    assert len({int(ds.train.x_cat[i, 3]) for i in user2}) == 1 and age.vocab_size == 4 + 2
    assert any("min_count 1 (the paper used 2)" in w for w in warned)
    assert any("rows train 16 (expected 800,167)" in w for w in warned)


def test_ml1m_split_sizes_and_order_on_more_rows(tmp_path):
    rng = random.Random(3)
    ratings = [(rng.randrange(1, 6), rng.randrange(10, 40), rng.randrange(1, 6), rng.randrange(10**6)) for _ in range(503)]
    root = tmp_path / "data"
    write_ml1m(root, ratings=ratings)
    ds, _ = load("ml-1m", root, tmp_path)
    assert [len(ds.train), len(ds.valid), len(ds.test)] == [402, 50, 51]  # floor(0.8 n), floor(0.9 n)
    ts = sorted(r[3] for r in ratings)
    assert ds.info["time_split"] == {"train_until": ts[401], "valid_until": ts[451]}
    assert ds.train.y.sum() == sum(1 for r in sorted(ratings, key=lambda r: r[3])[:402] if r[2] >= 4)


@pytest.mark.parametrize(
    "ratings,users,expect",
    [
        ([(1, 10, 7, 5)] + ML1M_RATINGS, ML1M_USERS, "ratings.dat, line 1: rating '7' is not an integer from 1 to 5"),
        (ML1M_RATINGS[:3] + [(1, 10, "x", 5)], ML1M_USERS, "ratings.dat, line 4: rating 'x' is not an integer"),
        (ML1M_RATINGS + [(9, 10, 4, 5)], ML1M_USERS, "ratings.dat, line 21: UserID '9' is not in users.dat"),
        (ML1M_RATINGS[:2] + [(1, 10, 4)], ML1M_USERS, "ratings.dat, line 3: 3 '::'-separated fields, expected 4"),
        (ML1M_RATINGS, ML1M_USERS[:2] + [(1, "M", 1, 1, "0")], "users.dat, line 3: UserID '1' appears twice"),
    ],
)
def test_ml1m_errors(tmp_path, ratings, users, expect):
    root = tmp_path / "data"
    write_ml1m(root, ratings=ratings, users=users)
    msg = error_of("ml-1m", root, tmp_path)
    assert expect in msg and str(root / "ml-1m") in msg


# --------------------------------------------------------------------------- kkbox

KKBOX_HEADER = ("label,msno,song_id,source_system_tab,source_screen_name,source_type,city,bd,gender,registered_via,"
                "language,genre_ids,artist_name,isrc,song_length,composer")


def kkbox_row(rng, genre=None, artist=None, isrc=None, bd=None, label=None):
    genre = genre if genre is not None else "|".join(str(rng.randrange(300, 310)) for _ in range(rng.randrange(1, 3)))
    artist = artist if artist is not None else f"artist{rng.randrange(8)}"
    isrc = isrc if isrc is not None else rng.choice(["TWA1", "USB2", "JPC3"]) + str(rng.randrange(100))
    bd = bd if bd is not None else str(rng.choice([0, 17, 25, 33, 44]))
    label = rng.randrange(2) if label is None else label
    return (f"{label},m{rng.randrange(30)},s{rng.randrange(50)},my library,Local playlist more,local-library,"
            f"{rng.randrange(1, 5)},{bd},{rng.choice(['male', 'female', ''])},7,3,{genre},{artist},{isrc},"
            f"{rng.randrange(10**5)},c{rng.randrange(9)}")


def test_kkbox_sequences_isrc_and_age(tmp_path):
    rng = random.Random(4)
    special = [
        kkbox_row(rng, genre="901|902|903|904", artist="Jay|Eason", isrc="GBXYZ1", bd="5"),    # row 300
        kkbox_row(rng, genre="901|902", artist="", isrc="", bd="96"),                          # row 301
        kkbox_row(rng, genre="", artist="Jay|solo_once", isrc="GBQQ", bd="61"),               # row 302
        kkbox_row(rng, genre="903|904|904", artist="Eason", isrc="QM1", bd="x"),              # row 303
    ]
    rows = {"train": filler(rng, 300, kkbox_row) + special,
            "valid": filler(rng, 40, kkbox_row) + [kkbox_row(rng, genre="901|777", artist="Jay|new", isrc="ZZ9", bd="100")],
            "test": filler(rng, 40, kkbox_row)}
    write_split_files(tmp_path / "data" / "KKBox_x1", KKBOX_HEADER, rows)
    ds, warned = load("kkbox", tmp_path / "data", tmp_path)
    assert [f.name for f in ds.fields] == [
        "msno", "song_id", "source_system_tab", "source_screen_name", "source_type", "city", "gender",
        "registered_via", "language", "genre_ids", "artist_name", "isrc", "bd"]
    assert ds.group_field == "msno" and ds.info["ignored_columns"] == ["song_length", "composer"]
    genre, artist = ds.fields[9], ds.fields[10]
    assert (genre.max_len, genre.pooling, artist.max_len, artist.pooling) == (3, "mean", 3, "mean")
    assert ds.train.x_cat.shape[1] == 11 + 3 + 3
    assert ds.field_layout()[9] == (3, "mean")

    # genre token counts in train: 901 2, 902 2, 903 2, 904 3 (the 4th token of row 300 counts, too)
    # all known with min_count 2; the random genres 300..309 are frequent and rank first
    g = column(ds, "train", "genre_ids")
    i901, i902, i903 = g[300]
    assert len({i901, i902, i903}) == 3 and genre.oov_index not in (i901, i902, i903) and 0 not in (i901, i902, i903)
    np.testing.assert_array_equal(g[301], [i901, i902, 0])
    np.testing.assert_array_equal(g[302], [0, 0, 0])  # empty: all padding
    i904 = g[303][1]
    assert g[303][0] == i903 and g[303][2] == i904 and i904 not in (i901, i902, i903, 0, genre.oov_index)
    np.testing.assert_array_equal(column(ds, "valid", "genre_ids")[40], [i901, genre.oov_index, 0])  # 777 unseen

    # artist: Jay 2, Eason 2 -> known; solo_once 1 -> OOV; "" -> no token
    a = column(ds, "train", "artist_name")
    jay, eason = a[300][0], a[300][1]
    assert jay not in (0, artist.oov_index) and eason not in (0, jay, artist.oov_index)
    np.testing.assert_array_equal(a[301], [0, 0, 0])
    np.testing.assert_array_equal(a[302], [jay, artist.oov_index, 0])
    np.testing.assert_array_equal(column(ds, "valid", "artist_name")[40], [jay, artist.oov_index, 0])

    # isrc -> country code: GB twice (rows 300, 302) -> known; QM once -> OOV; "" -> OOV (missing); ZZ unseen
    isrc = next(f for f in ds.fields if f.name == "isrc")
    c = column(ds, "train", "isrc")[:, 0]
    assert c[300] == c[302] != isrc.oov_index
    assert c[303] == isrc.oov_index and c[301] == isrc.oov_index
    assert column(ds, "valid", "isrc")[40, 0] == isrc.oov_index

    # bd -> age bucket: 5 -> "1" (once: OOV), 96/x/100 -> missing -> OOV, 61 -> "7" (once: OOV);
    # the random ages 17/25/33/44 -> buckets 2/3/4/5; 0 -> missing
    assert named_mod.age_bucket(np.array(["0", "1", "10", "11", "20", "25", "60", "61", "95", "96", "-3", "x", ""],
                                         dtype=object)).tolist() == \
        ["", "1", "1", "2", "2", "3", "6", "7", "7", "", "", "", ""]
    bd = next(f for f in ds.fields if f.name == "bd")
    assert bd.vocab_size == 4 + 2  # buckets 2..5 known; missing never gets an index of its own
    b = column(ds, "train", "bd")[:, 0]
    assert (b[300:304] == bd.oov_index).all()
    assert named_mod.isrc_country(np.array(["TWA123", "Q", ""], dtype=object)).tolist() == ["TW", "Q", ""]
    assert warned and "rows valid 41 (expected 737,743)" in warned[0]


def test_kkbox_cache_hit_keeps_layout_and_trains(tmp_path):
    rng = random.Random(5)
    rows = {"train": filler(rng, 300, kkbox_row), "valid": filler(rng, 60, kkbox_row), "test": filler(rng, 60, kkbox_row)}
    write_split_files(tmp_path / "data" / "KKBox_x1", KKBOX_HEADER, rows)
    first, w1 = load("kkbox", tmp_path / "data", tmp_path)
    again, w2 = load("kkbox", tmp_path / "data", tmp_path)
    assert first.info["cache"] == "miss" and again.info["cache"] == "hit"
    assert again.fields == first.fields and w1 == w2 and w2
    np.testing.assert_array_equal(again.train.x_cat, first.train.x_cat)
    cfg = RunConfig.from_dict(dict(dataset="kkbox", model="tf4ctr", embedding_dim=4, mlp_s=[8], mlp_c=[8],
                                   epochs=1, batch_size=128, monitor="AUC"))
    # the model pools the multi-valued fields (runner.build_for passes the layout); trained on the
    # cache hit it is the model trained on the miss, and the test metrics it reports are those of
    # its own predictions on the test split: sklearn's AUC, the log loss (probabilities clipped to
    # [1e-7, 1 - 1e-7]) and the gAUC of a per-user (msno) loop
    results, models = [], []
    for ds in (first, again):
        seed_everything(cfg.seed)
        models.append(build_for(cfg, ds))
        objective = make_objective(cfg.resolved_loss, **cfg.loss_hyperparameters())
        results.append(fit(models[-1], ds, objective, train_settings(cfg), resolve_device("cpu")))
    assert all(t.pooled for t in embedding_modules(models[1]))
    assert results[1].test == results[0].test
    test = again.test
    with torch.no_grad():
        z = models[1].eval()(torch.as_tensor(test.x_cat), torch.as_tensor(test.x_num)).logit.double().numpy()
    y = test.y.astype(np.float64)
    got = results[1].test
    assert got["AUC"] == pytest.approx(roc_auc_score(y, z), abs=1e-12)
    p = np.clip(1 / (1 + np.exp(-z)), 1e-7, 1 - 1e-7)
    assert got["logloss"] == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), rel=1e-9)
    total, weight = 0.0, 0
    for user in np.unique(test.group):
        rows = test.group == user
        if 0 < y[rows].sum() < rows.sum():
            total += roc_auc_score(y[rows], z[rows]) * rows.sum()
            weight += rows.sum()
    assert weight > 0 and got["gAUC"] == pytest.approx(total / weight, abs=1e-12)


def test_kkbox_missing_column(tmp_path):
    rng = random.Random(6)
    header = KKBOX_HEADER.replace(",isrc", "")
    rows = {s: [",".join(p for i, p in enumerate(kkbox_row(rng).split(",")) if i != 13) for _ in range(5)]
            for s in ("train", "valid", "test")}
    folder = write_split_files(tmp_path / "data" / "KKBox_x1", header, rows)
    msg = error_of("kkbox", tmp_path / "data", tmp_path)
    assert msg.startswith(f"{folder / 'train.csv'}, line 1: missing column 'isrc'")


# --------------------------------------------------------------------------- criteo

CRITEO_HEADER = "Label," + ",".join(f"I{i}" for i in range(1, 14)) + "," + ",".join(f"C{i}" for i in range(1, 27))


def test_criteo_discretisation_by_hand():
    values = ["0", "1", "2", "3", "100", "", "-1", "-2", "2.5", "1000", "7"]
    # x > 2: floor(ln(x)^2): ln 3 = 1.0986 -> 1.2069 -> 1; ln 100 = 4.6052 -> 21.208 -> 21;
    # ln 2.5 = 0.9163 -> 0.8396 -> 0; ln 1000 = 6.9078 -> 47.717 -> 47; ln 7 = 1.9459 -> 3.7866 -> 3
    # x <= 2: x itself (negative values too); missing: its own token ""
    expected = ["0", "1", "2", "1", "21", "", "-1", "-2", "0", "47", "3"]
    assert named_mod.criteo_bucket(np.array(values, dtype=object)).tolist() == expected


def criteo_row(rng, i1=None, c1=None, label=None):
    ints = [str(rng.choice([0, 1, 5, 20, 300])) if rng.random() > 0.1 else "" for _ in range(13)]
    if i1 is not None:
        ints[0] = i1
    cats = [f"{rng.randrange(4):08x}" for _ in range(26)]
    if c1 is not None:
        cats[0] = c1
    label = rng.randrange(2) if label is None else label
    return ",".join([str(label), *ints, *cats])


def test_criteo_tokens_min_count_and_label(tmp_path):
    rng = random.Random(7)
    train = filler(rng, 600, criteo_row)
    train += [criteo_row(rng, i1="", c1="") for _ in range(12)]          # 12 missing I1 and C1
    train += [criteo_row(rng, i1="3", c1="rare") for _ in range(9)]       # I1 3 -> "1"; C1 'rare' 9 times
    train += [criteo_row(rng, i1="-1", c1="tenx") for _ in range(10)]     # C1 'tenx' 10 times
    valid = filler(rng, 80, criteo_row) + [criteo_row(rng, i1="", c1="tenx"), criteo_row(rng, i1="-7", c1="rare")]
    test = filler(rng, 80, criteo_row)
    write_split_files(tmp_path / "data" / "Criteo_x4", CRITEO_HEADER, {"train": train, "valid": valid, "test": test})
    ds, warned = load("criteo", tmp_path / "data", tmp_path, min_count=10)
    assert [f.name for f in ds.fields] == [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]
    assert ds.group_field is None and ds.numeric_fields == []
    i1, c1 = ds.fields[0], ds.fields[13]
    x = ds.train.x_cat
    missing_i1 = x[600, 0]
    assert (x[600:612, 0] == missing_i1).all() and missing_i1 != i1.oov_index  # missing: its own token
    assert (x[612:621, 0] != missing_i1).all()
    # I1 = 3 -> token "1", the same index as the literal 1s of the filler rows
    ones = [k for k, r in enumerate(train[:600]) if r.split(",")[1] == "1"]
    assert ones and (x[612:621, 0] == x[ones[0], 0]).all()
    assert x[621, 0] != i1.oov_index and (x[621:631, 0] == x[621, 0]).all()  # "-1" 10 times: known at min_count 10
    # C1: missing -> OOV (as FuxiCTR); 'rare' 9 times -> OOV under min_count 10; 'tenx' 10 times -> known
    assert (x[600:612, 13] == c1.oov_index).all() and (x[612:621, 13] == c1.oov_index).all()
    assert (x[621:631, 13] != c1.oov_index).all()
    assert ds.valid.x_cat[80, 13] == x[621, 13] and ds.valid.x_cat[81, 13] == c1.oov_index
    assert ds.valid.x_cat[80, 0] == missing_i1 and ds.valid.x_cat[81, 0] == i1.oov_index  # -7 unseen
    # labels read from `Label`
    np.testing.assert_array_equal(ds.train.y[:5], [float(r.split(",")[0]) for r in train[:5]])
    assert warned and "rows train 631 (expected 36,672,493)" in warned[0] and "min_count" not in warned[0]
    _, warned2 = load("criteo", tmp_path / "data", tmp_path, min_count=2)
    assert "min_count 2 (the paper used 10)" in warned2[0]


def test_criteo_errors(tmp_path):
    rng = random.Random(8)
    rows = {s: filler(rng, 30, criteo_row) for s in ("train", "valid", "test")}
    rows["test"][4] = criteo_row(rng, i1="abc")
    folder = write_split_files(tmp_path / "data" / "Criteo_x4", CRITEO_HEADER, rows)
    msg = error_of("criteo", tmp_path / "data", tmp_path)
    assert msg == f"{folder / 'test.csv'}, column 'I1', line 6: 'abc' is not a finite number (Criteo's I1-I13 are numeric)"

    write_split_files(tmp_path / "data" / "Criteo_x4", CRITEO_HEADER.replace("Label", "label"), rows)
    msg = error_of("criteo", tmp_path / "data", tmp_path)
    assert msg.startswith(f"{folder / 'train.csv'}, line 1: no 'Label' column in the header")

    rows = {s: filler(rng, 30, criteo_row) for s in ("train", "valid", "test")}
    rows["train"][0] = "yes" + rows["train"][0][1:]
    write_split_files(tmp_path / "data" / "Criteo_x4", CRITEO_HEADER, rows)
    msg = error_of("criteo", tmp_path / "data", tmp_path)
    assert msg == f"{folder / 'train.csv'}, line 2: Label 'yes' is not 0 or 1"


# --------------------------------------------------------------------------- CLI


def test_cli_datasets_and_data_info(tmp_path):
    root = tmp_path / "data"
    frappe_files(root)
    write_ml1m(root)
    runner = CliRunner()
    listing = {d["name"]: d for d in named_datasets(root)}
    assert listing["frappe"]["available"] and listing["ml-1m"]["available"] and not listing["criteo"]["available"]
    assert listing["kkbox"]["rows"] == 5_901_932 + 2 * 737_743 and listing["ml-1m"]["path"] == str(root / "ml-1m")
    r = runner.invoke(app, ["datasets", "--data-dir", str(root)])
    assert r.exit_code == 0, r.output
    for name in ("frappe", "ml-tag", "ml-1m", "kkbox", "criteo"):
        assert name in r.output
    r = runner.invoke(app, ["data", "info", "ml-1m", "--data-dir", str(root)], env={"TFBENCH_CACHE_DIR": str(tmp_path / "c")})
    assert r.exit_code == 0, r.output
    out = r.output
    assert "800,167" in out and "100,021" in out and "16" in out  # paper rows beside ours
    assert "57.5%" in out and "6,042" in out and "3,548" in out
    assert "9,626 (Table III 9,776)" in out  # the authors' vocabularies add up to 9,626
    assert "UserID" in out and "gAUC group" in out and "differs from the paper: rows train 16 (expected 800,167)" in out
    r = runner.invoke(app, ["data", "info", "criteo", "--data-dir", str(root)])
    assert r.exit_code == 2 and "dataset 'criteo' not found" in r.output
