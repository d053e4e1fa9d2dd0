"""`load_dataset` is five steps (pipeline.py): resolve → lookup → read → encode → store. Each step
on its own, their composition by hand equal to `load_dataset`, and the warnings still pointing
at the caller's line after the refactor moved them into helpers."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from tfbench.data import CacheWarning, DataWarning, load_dataset, pipeline
from tfbench.data.encode import RawData
from tfbench.data.types import EncodedDataset

ROWS = 300


def opts(**kw):
    base = dict(min_count=2, split_seed=2023, synthetic_rows=ROWS, synthetic_seed=2023, numeric=None, group_field=None)
    return pipeline.parse_options(**(base | kw))


def test_the_steps_by_hand_give_what_load_dataset_gives(tmp_path):
    src = pipeline.resolve("synthetic", None, opts(), use_cache=True, stream=None)
    assert isinstance(src, pipeline.SourceSpec) and src.stream is False and src.info["source"] == "synthetic"
    entry = pipeline.lookup(src, tmp_path, use_cache=True)
    assert (entry.status, entry.path, entry.dataset) == ("miss", tmp_path / f"{src.fingerprint}.npz", None)
    raw = pipeline.read(src)
    assert isinstance(raw, RawData)
    ds = pipeline.encode_raw(src, raw, entry, started=0.0)
    assert isinstance(ds, EncodedDataset) and ds.fingerprint == src.fingerprint and ds.info["cache"] == "miss"
    pipeline.store(ds, entry)
    assert entry.path.is_file()

    hit = pipeline.lookup(src, tmp_path, use_cache=True)
    assert hit.status == "hit" and hit.path == entry.path and hit.dataset.info["cache"] == "hit"
    loaded = load_dataset("synthetic", synthetic_rows=ROWS, cache_dir=tmp_path)
    assert loaded.info["cache"] == "hit" and loaded.fingerprint == ds.fingerprint
    fresh = load_dataset("synthetic", synthetic_rows=ROWS, use_cache=False)
    for name in ("train", "valid", "test"):
        for arr in ("x_cat", "x_num", "y", "group"):
            np.testing.assert_array_equal(getattr(getattr(fresh, name), arr), getattr(getattr(ds, name), arr))
    assert [f.vocab_size for f in fresh.fields] == [f.vocab_size for f in ds.fields]


def test_lookup_with_the_cache_off_and_store_without_a_path():
    src = pipeline.resolve("synthetic", None, opts(), use_cache=False, stream=None)
    entry = pipeline.lookup(src, None, use_cache=False)
    assert entry == pipeline.CacheEntry(status="off", path=None)
    ds = pipeline.encode_raw(src, pipeline.read(src), entry, started=0.0)
    pipeline.store(ds, entry)  # nothing to write, no error
    assert ds.info["cache"] == "off" and ds.info["cache_path"] is None


def test_resolve_checks_the_stream_option_after_the_source(tmp_path):
    with pytest.raises(Exception, match="option stream: dataset 'synthetic' is not a CSV folder"):
        pipeline.resolve("synthetic", None, opts(), use_cache=True, stream=True)
    with pytest.raises(Exception, match="unknown dataset 'nope'"):
        pipeline.resolve("nope", tmp_path, opts(), use_cache=True, stream=True)


def _warning_of(category, call):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        call()
    hits = [w for w in seen if issubclass(w.category, category)]
    assert hits, [str(w.message) for w in seen]
    return hits[0]


def test_a_corrupt_entry_warns_at_the_callers_line_and_is_rebuilt(tmp_path):
    first = load_dataset("synthetic", synthetic_rows=ROWS, cache_dir=tmp_path)
    Path(first.info["cache_path"]).write_bytes(b"not an npz")
    w = _warning_of(CacheWarning, lambda: load_dataset("synthetic", synthetic_rows=ROWS, cache_dir=tmp_path))
    assert "ignoring unusable dataset cache" in str(w.message) and w.filename == __file__
    assert load_dataset("synthetic", synthetic_rows=ROWS, cache_dir=tmp_path).info["cache"] == "hit"


def test_an_unwritable_cache_warns_at_the_callers_line(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    box = {}
    w = _warning_of(CacheWarning, lambda: box.setdefault("ds", load_dataset("synthetic", synthetic_rows=ROWS, cache_dir=blocker)))
    assert "could not write dataset cache" in str(w.message) and w.filename == __file__
    assert "cache_error" in box["ds"].info and box["ds"].info["cache"] == "miss"


def test_a_paper_difference_warns_at_the_callers_line(tmp_path):
    folder = tmp_path / "Frappe_x1"
    folder.mkdir()
    header = "label,user,item,daytime,weekday,isweekend,homework,cost,weather,country,city"
    for split, n in (("train", 40), ("valid", 12), ("test", 12)):
        rows = [header] + [f"{i % 2},u{i % 5},i{i % 7},m,s,w,u,f,s,S,{i % 3}" for i in range(n)]
        (folder / f"{split}.csv").write_text("\n".join(rows) + "\n")
    w = _warning_of(DataWarning, lambda: load_dataset("frappe", data_dir=tmp_path, use_cache=False))
    assert "differs from the statistics the paper reports" in str(w.message) and w.filename == __file__
