"""The source files' sha256 is memoised in the cache folder on (path, size, mtime_ns, ctime_ns, inode)."""

from __future__ import annotations

import hashlib
import os
import warnings

from tfbench.data import file_hash, load_dataset


def _csv_folder(root):
    folder = root / "csv"
    folder.mkdir()
    for split, n in (("train", 40), ("valid", 10), ("test", 10)):
        rows = ["label,a,b"] + [f"{i % 2},a{i % 5},b{i % 3}" for i in range(n)]
        (folder / f"{split}.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_a_cache_hit_does_not_rehash_unchanged_files_and_a_changed_file_is_rehashed(tmp_path, monkeypatch):
    folder, cache = _csv_folder(tmp_path), tmp_path / "cache"
    hashed = []
    real = file_hash.file_sha256
    monkeypatch.setattr(file_hash, "file_sha256", lambda path, *a: hashed.append(path.name) or real(path, *a))

    def load():
        hashed.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load_dataset(str(folder), cache_dir=cache)

    first = load()
    assert sorted(hashed) == ["test.csv", "train.csv", "valid.csv"]
    again = load()                                  # as a new process would: only the sidecars are read
    assert hashed == [] and again.fingerprint == first.fingerprint and again.info["cache"] == "hit"

    train = folder / "train.csv"
    train.write_text(train.read_text() + "1,a9,b9\n")        # another size
    grown = load()
    assert hashed == ["train.csv"] and grown.fingerprint != first.fingerprint

    # the same size and a new mtime (a byte changed in place): hashed again, and the memo holds the new digest
    text = train.read_text()
    train.write_text(text.replace("a9", "a8"))
    st = train.stat()
    os.utime(train, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed = load()
    assert hashed == ["train.csv"] and changed.fingerprint != grown.fingerprint
    assert file_hash.source_sha256(train, cache) == hashlib.sha256(train.read_bytes()).hexdigest()


def test_without_the_cache_nothing_is_memoised(tmp_path, monkeypatch):
    folder = _csv_folder(tmp_path)
    monkeypatch.setenv("TFBENCH_CACHE_DIR", str(tmp_path / "cache"))
    hashed = []
    real = file_hash.file_sha256
    monkeypatch.setattr(file_hash, "file_sha256", lambda path, *a: hashed.append(path.name) or real(path, *a))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_dataset(str(folder), use_cache=False)
        load_dataset(str(folder), use_cache=False)
    assert len(hashed) == 6 and not (tmp_path / "cache").exists()
