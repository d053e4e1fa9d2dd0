"""Dataset fingerprints are part of every run key: they must never change by accident.

The values below were computed by the data stage as it was before the ``load_dataset`` pipeline
refactor (commit 0260885); a change to how a spec is resolved, what its descriptor holds or how
the key is hashed shows up here as a mismatch. Bump them only together with
``cache.KEY_VERSION`` (and accept that every stored run is retrained)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tfbench.data import load_dataset
from tfbench.data.cache import make_key
from tfbench.data.registry import Options, resolve_source
from conftest import needs_frappe

SYNTHETIC_DEFAULT = "e2a068a3ac99cf593b2fdb6f499acb082c7f5066d7bfed399f74cfbe344119d8"
FRAPPE_NFM = "255194ed62035552dc32f976d12407a4695203c6a6fb104620c58e05dd694b66"


def load(spec, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny paper datasets differ from Table III
        return load_dataset(spec, use_cache=False, **kw)


def test_synthetic_fingerprint_with_the_default_options_is_unchanged():
    # The key of synthetic data depends on its generator options only, so it is checked without
    # generating 100k rows, through the same resolve + descriptor + key steps load_dataset takes.
    opts = Options(min_count=2, split_seed=2023, synthetic_rows=100_000, synthetic_seed=2023, numeric=[], group_field=None)
    assert make_key(resolve_source("synthetic", None, opts).descriptor()) == SYNTHETIC_DEFAULT


def test_synthetic_fingerprints_are_unchanged():
    assert load("synthetic", synthetic_rows=200).fingerprint == "58dc3e85d0e6c5a87cbe9adef02dcea707bafbb42754899dd9a1f9e5bff6704d"
    assert (
        load("synthetic", synthetic_rows=300, synthetic_seed=7, split_seed=3, min_count=1).fingerprint
        == "a1c828a78f5fb4a78f83c4b992fdac0a863f560acad81c2f2b9ad7b1c82c675b"
    )


def _csv_folder(root: Path) -> Path:
    folder = root / "mycsv"
    folder.mkdir()
    for split, n in (("train", 30), ("valid", 10), ("test", 10)):
        rows = ["label,a,b,n"] + [f"{i % 2},a{i % 5},b{i % 3},{i * 0.5}" for i in range(n)]
        (folder / f"{split}.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_csv_and_libfm_fingerprints_are_unchanged(tmp_path):
    folder = _csv_folder(tmp_path)
    assert load(str(folder)).fingerprint == "928c63170e834e7b0c7b3804c1e03512a2428e2781ec6cf5c60c6d84408b8395"
    assert (
        load(str(folder), numeric=["n"], group_field="a").fingerprint
        == "909eeb7deae7a2edadfe2585568d859088d19c5b150b69ff2151907b6f77fba2"
    )
    lib = tmp_path / "one.libfm"
    lib.write_text("".join(f"{i % 2} {i % 4}:1 {4 + i % 3}:1\n" for i in range(40)))
    assert load(str(lib)).fingerprint == "66c06333c05140f09005ac28133aba71d98b161c7cf0f3a8f11812e6dfab2f1d"


def _paper_root(root: Path) -> Path:
    fr = root / "Frappe_x1"
    fr.mkdir(parents=True)
    header = "label,user,item,daytime,weekday,isweekend,homework,cost,weather,country,city"
    for split, n in (("train", 40), ("valid", 12), ("test", 12)):
        rows = [header] + [f"{i % 2},u{i % 5},i{i % 7},morning,sunday,weekend,unknown,free,sunny,Spain,{i % 3}" for i in range(n)]
        (fr / f"{split}.csv").write_text("\n".join(rows) + "\n")
    ml = root / "ml-1m"
    ml.mkdir()
    (ml / "ratings.dat").write_text("".join(f"{1 + i % 4}::{10 + i % 6}::{1 + i % 5}::{1000 + i}\n" for i in range(50)))
    (ml / "users.dat").write_text("".join(f"{u}::{'M' if u % 2 else 'F'}::25::{u}::0000{u}\n" for u in range(1, 5)))
    return root


def test_paper_dataset_fingerprints_are_unchanged_in_memory_and_streamed(tmp_path):
    root = _paper_root(tmp_path / "data")
    frappe = "7acf113095deecb303796b7b352cc905a8d4b4d6b35974a3b3dc1037a106482f"
    assert load("frappe", data_dir=root).fingerprint == frappe
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        streamed = load_dataset("frappe", data_dir=root, cache_dir=tmp_path / "cache", stream=True)
    assert streamed.fingerprint == frappe and streamed.info["prepared"] == "streaming"
    assert load("ml-1m", data_dir=root).fingerprint == "5344679a7f465a04c292c87a1483bb41e671f1b21a68eac1cf714173f7703d18"


@needs_frappe
def test_frappe_nfm_fingerprints_are_unchanged():
    assert load("frappe-nfm").fingerprint == FRAPPE_NFM
    assert load("frappe-nfm", min_count=1, split_seed=7).fingerprint == "4ee98149de4e09e25ee0a14fd07c0e93672fecee0845f97ca34447b14f39f787"


@pytest.mark.parametrize("spec", ["synthetic"])
def test_a_cache_hit_returns_the_same_fingerprint(spec, tmp_path):
    first = load_dataset(spec, synthetic_rows=200, cache_dir=tmp_path)
    again = load_dataset(spec, synthetic_rows=200, cache_dir=tmp_path)
    assert (first.info["cache"], again.info["cache"]) == ("miss", "hit")
    assert first.fingerprint == again.fingerprint == "58dc3e85d0e6c5a87cbe9adef02dcea707bafbb42754899dd9a1f9e5bff6704d"
