"""Streaming preparation (tfbench/data/stream.py) against the in-memory path, and its cache folder.

The in-memory path (csv_source + encode, tested on its own in test_data.py and
test_datasets_named.py) is the reference: on the same files the streaming path must give the
same fields, vocabulary sizes and arrays, element for element, while reading the files in many
small blocks (CHUNK_BYTES and the merge threshold are shrunk so that every code path that only
matters at scale, block boundaries and count-table merges, runs here on a few thousand rows).
"""

from __future__ import annotations

import json
import random
import warnings

import numpy as np
import pytest

from tfbench.data import CacheWarning, load_dataset
from tfbench.data import cache as cache_mod
from tfbench.data import stream as stream_mod
from tfbench.errors import ConfigError, DataError

from test_datasets_named import CRITEO_HEADER, KKBOX_HEADER, filler, kkbox_row, write_split_files


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(stream_mod, "CHUNK_BYTES", 16 * 1024)  # about a hundred rows per block
    monkeypatch.setattr("tfbench.data.stream_vocab._MERGE_MIN_ROWS", 64)  # merge the token tables often


def heavy_criteo_row(rng: random.Random) -> str:
    """Criteo_x4-shaped row: I* with missing, negatives, decimals and large counts; C* with
    heavy-tailed values so that many tokens sit near min_count 10 (ties included)."""
    ints = []
    for i in range(13):
        r = rng.random()
        if r < 0.2:
            ints.append("")
        elif r < 0.25:
            ints.append(str(-rng.randrange(1, 4)))
        elif r < 0.3:
            ints.append(f"{rng.uniform(0, 5):.2f}")
        else:
            ints.append(str(int(rng.paretovariate(0.7))))
    cats = []
    for j in range(26):
        if rng.random() < 0.1:
            cats.append("")
        else:
            k = int(rng.paretovariate(0.6 + 0.05 * (j % 5))) % (40 + 400 * (j % 4))
            cats.append(f"{(k * 2654435761 + j) & 0xFFFFFFFF:08x}")
    return ",".join([str(int(rng.random() < 0.26)), *ints, *cats])


def both(name, root, tmp_path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mem = load_dataset(name, data_dir=root, cache_dir=tmp_path / "mem", stream=False, **kw)
        streamed = load_dataset(name, data_dir=root, cache_dir=tmp_path / "stream", stream=True, **kw)
    return mem, streamed


def assert_same(mem, streamed):
    assert streamed.fingerprint == mem.fingerprint  # same key: either layout serves the same runs
    assert streamed.fields == mem.fields
    assert streamed.vocab_sizes == mem.vocab_sizes
    assert (streamed.numeric_fields, streamed.group_field) == (mem.numeric_fields, mem.group_field)
    for split in ("train", "valid", "test"):
        a, b = mem.splits()[split], streamed.splits()[split]
        assert isinstance(b.x_cat, np.memmap) and not b.x_cat.flags.writeable
        for name in ("x_cat", "x_num", "y", "group"):
            x, y = getattr(a, name), getattr(b, name)
            if x is None:
                assert y is None
                continue
            assert x.dtype == y.dtype and x.shape == y.shape, (split, name)
            np.testing.assert_array_equal(x, y, err_msg=f"{split}/{name}")
    for key in ("rows", "positive_rate", "source", "files", "ignored_columns", "paper_dataset"):
        assert streamed.info.get(key) == mem.info.get(key), key
    assert streamed.info["prepared"] == "streaming"


def test_criteo_streaming_equals_in_memory(tmp_path):
    rng = random.Random(11)
    rows = {s: filler(rng, n, heavy_criteo_row) for s, n in (("train", 2500), ("valid", 300), ("test", 300))}
    # numbers the streaming path parses in Arrow, and some it leaves to criteo_bucket (" 5", "  ")
    for k, odd in enumerate(["1e3", "+4", "5.", "007", "-0", " 5", "  ", ".5", "1E2"] * 12):
        split = "train" if k % 3 else "valid"
        at = (k * 7) % len(rows[split])
        row = rows[split][at].split(",")
        row[1 + k % 13] = odd
        rows[split][at] = ",".join(row)
    write_split_files(tmp_path / "data" / "Criteo_x4", CRITEO_HEADER, rows)
    assert (tmp_path / "data" / "Criteo_x4" / "train.csv").stat().st_size > 20 * stream_mod.CHUNK_BYTES
    mem, streamed = both("criteo", tmp_path / "data", tmp_path, min_count=10)
    assert_same(mem, streamed)
    # the data exercise what matters: tokens right at min_count, OOV, missing I* as a token
    oov = np.array([f.oov_index for f in streamed.fields])
    rare = (streamed.train.x_cat == oov).mean(axis=0)
    assert (rare[13:] > 0.1).all() and len(set(streamed.vocab_sizes)) > 10  # many tokens below min_count


def test_kkbox_sequences_and_group_stream_equal(tmp_path):
    rng = random.Random(12)
    rows = {s: filler(rng, n, kkbox_row) for s, n in (("train", 1500), ("valid", 200), ("test", 200))}
    rows["train"] += [kkbox_row(rng, genre="901|902|903|904", artist="a|b|c|d|e", isrc="", bd="x")] * 3
    rows["valid"] += [kkbox_row(rng, genre="901|555", artist="", isrc="ZZ1", bd="300")]
    write_split_files(tmp_path / "data" / "KKBox_x1", KKBOX_HEADER, rows)
    mem, streamed = both("kkbox", tmp_path / "data", tmp_path)
    assert_same(mem, streamed)
    assert streamed.group_field == "msno" and streamed.train.group is not None
    assert streamed.info["ignored_columns"] == ["song_length", "composer"]


def test_generic_folder_numeric_and_group_stream_equal(tmp_path):
    rng = random.Random(13)
    folder = tmp_path / "mydata"
    make = lambda r: (f"{r.randrange(2)},u{r.randrange(150)},{r.choice(['a', 'b', 'c', ''])},"  # noqa: E731
                      f"{r.uniform(-3, 3):.4f},i{int(r.paretovariate(0.8)) % 500}")
    rows = {s: filler(rng, n, make) for s, n in (("train", 2000), ("valid", 300), ("test", 300))}
    rows["test"].append("1,u_only_in_test,a,0.5,i1")
    write_split_files(folder, "label,user_id,kind,score,item", rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mem = load_dataset(str(folder), cache_dir=tmp_path / "mem", numeric=["score"], stream=False)
        streamed = load_dataset(str(folder), cache_dir=tmp_path / "stream", numeric=["score"], stream=True)
    assert_same(mem, streamed)
    assert streamed.numeric_fields == ["score"] and streamed.group_field == "user_id"
    assert streamed.test.group[-1] == streamed.test.group.max()  # "u_only_in_test" sorts last of all users


def test_stream_is_chosen_by_size_and_cache_hits_either_layout(tmp_path, monkeypatch):
    rng = random.Random(14)
    rows = {s: filler(rng, 200, heavy_criteo_row) for s in ("train", "valid", "test")}
    write_split_files(tmp_path / "data" / "Criteo_x4", CRITEO_HEADER, rows)
    kw = dict(data_dir=tmp_path / "data", cache_dir=tmp_path / "c", min_count=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monkeypatch.setenv("TFBENCH_STREAM_BYTES", "1000")
        first = load_dataset("criteo", **kw)
        assert first.info["prepared"] == "streaming" and first.info["cache_path"].endswith(".mm")
        monkeypatch.setenv("TFBENCH_STREAM_BYTES", "1e12")
        again = load_dataset("criteo", **kw)  # below the threshold now, but the .mm entry serves
        assert again.info["cache"] == "hit" and isinstance(again.train.x_cat, np.memmap)
        assert load_dataset("criteo", **kw, stream=False).info["cache"] == "hit"
        with pytest.raises(ConfigError, match="needs the cache on"):
            load_dataset("criteo", **kw, stream=True, use_cache=False)
        with pytest.raises(ConfigError, match="only CSV folders"):
            load_dataset("synthetic", synthetic_rows=100, cache_dir=tmp_path / "s", stream=True)


def _entry(tmp_path):
    (entry,) = (tmp_path / "c").glob("*.mm")
    return entry


@pytest.mark.parametrize("damage", ["truncate", "flip", "no-meta", "meta-edit", "missing-file"])
def test_corrupt_memmap_entry_is_detected_and_rebuilt(tmp_path, damage):
    rng = random.Random(15)
    rows = {s: filler(rng, 100, heavy_criteo_row) for s in ("train", "valid", "test")}
    write_split_files(tmp_path / "data" / "Criteo_x4", CRITEO_HEADER, rows)
    kw = dict(data_dir=tmp_path / "data", cache_dir=tmp_path / "c", min_count=10, stream=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        good = load_dataset("criteo", **kw)
    reference = np.array(good.train.x_cat)
    del good
    entry = _entry(tmp_path)
    target = entry / "train.x_cat.npy"
    if damage == "truncate":
        with open(target, "r+b") as fh:
            fh.truncate(target.stat().st_size - 8)
    elif damage == "flip":  # same size, one byte changed in the middle
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
    elif damage == "no-meta":  # what a build killed before its last step would look like
        (entry / "meta.json").unlink()
    elif damage == "meta-edit":
        body = json.loads((entry / "meta.json").read_text())
        body["arrays"]["train/x_cat"]["shape"][0] -= 1
        (entry / "meta.json").write_text(json.dumps(body))
    else:
        (entry / "valid.y.npy").unlink()
    cache_mod._verified.clear()  # a new process: nothing verified yet
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rebuilt = load_dataset("criteo", **kw)
    assert rebuilt.info["cache"] == "rebuilt"
    assert any(issubclass(w.category, CacheWarning) and "rebuilding" in str(w.message) for w in caught)
    np.testing.assert_array_equal(rebuilt.train.x_cat, reference)
    cache_mod._verified.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert load_dataset("criteo", **kw).info["cache"] == "hit"


def test_half_written_build_is_never_used_and_stale_folders_are_removed(tmp_path, monkeypatch):
    rng = random.Random(16)
    rows = {s: filler(rng, 200, heavy_criteo_row) for s in ("train", "valid", "test")}
    rows["test"][150] = "1,abc," + rows["test"][150].split(",", 2)[2]  # I1 is 'abc'
    folder = write_split_files(tmp_path / "data" / "Criteo_x4", CRITEO_HEADER, rows)
    kw = dict(data_dir=tmp_path / "data", cache_dir=tmp_path / "c", min_count=10, stream=True)
    with pytest.raises(DataError) as info:
        load_dataset("criteo", **kw)
    # the error is found in pass 2, after train and valid were written: the same message as in memory
    assert str(info.value) == (f"{folder / 'test.csv'}, column 'I1', line 152: 'abc' is not a finite number"
                               " (Criteo's I1-I13 are numeric)")
    # the temporary folder is gone, nothing renamed into place (file-hashes/ memoises the source
    # files' sha256, which stays valid whatever the build did)
    assert [p.name for p in (tmp_path / "c").iterdir()] in ([], ["file-hashes"])

    # a folder left by a killed builder (its process is gone) is removed by the next build
    key_dir = cache_mod.dir_path(tmp_path / "c", "k")
    stale = tmp_path / "c" / f".{key_dir.name}.tmp-999999999-abcd"
    stale.mkdir(parents=True)
    (stale / "train.x_cat.npy").write_bytes(b"junk")
    builder = cache_mod.DirBuilder(key_dir)
    assert not stale.exists() and builder.tmp.exists()
    builder.abort()
    assert not builder.tmp.exists()


def test_errors_match_the_in_memory_path(tmp_path):
    rng = random.Random(17)
    rows = {s: filler(rng, 120, heavy_criteo_row) for s in ("train", "valid", "test")}
    rows["valid"][90] = "2" + rows["valid"][90][1:]
    folder = write_split_files(tmp_path / "data" / "Criteo_x4", CRITEO_HEADER, rows)
    messages = []
    for stream in (False, True):
        with pytest.raises(DataError) as info:
            load_dataset("criteo", data_dir=tmp_path / "data", cache_dir=tmp_path / "c", stream=stream)
        messages.append(str(info.value))
    assert messages[0] == messages[1] == f"{folder / 'valid.csv'}, line 92: Label '2' is not 0 or 1"

    rows["valid"][90] = "1" + rows["valid"][90][1:]
    rows["train"][70] += ",extra"
    write_split_files(folder, CRITEO_HEADER, rows)
    with pytest.raises(DataError) as info:
        load_dataset("criteo", data_dir=tmp_path / "data", cache_dir=tmp_path / "c", stream=True)
    assert str(info.value).startswith(f"{folder / 'train.csv'}, line 72: row has 41 fields but the header has 40")
