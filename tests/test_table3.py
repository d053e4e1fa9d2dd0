"""Table III from the prepared datasets, checked against an independent recount of the files."""

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import needs_frappe
from tfbench.cli.main import app
from tfbench.data.paper_datasets import FRAPPE_FIELDS
from tfbench.errors import ConfigError
from tfbench.studies import expand, load_study


def write_tiny_frappe(root: Path, seed: int = 3) -> dict[str, pd.DataFrame]:
    """A BARS Frappe_x1 folder with a few hundred rows: skewed values, so that some are seen once
    in train (OOV under min_count 2) and some appear only in valid or test."""
    rng = np.random.default_rng(seed)
    frames = {}
    for split, n in (("train", 300), ("valid", 90), ("test", 45)):
        data = {"label": rng.integers(0, 2, n)}
        for j, name in enumerate(FRAPPE_FIELDS):
            size = 3 + 7 * j                                  # 3 .. 66 values, Zipf-like draws
            data[name] = [f"{name}{v}" for v in np.minimum(rng.zipf(1.6, n), size)]
        frames[split] = pd.DataFrame(data)
    folder = root / "Frappe_x1"
    folder.mkdir(parents=True)
    for split, frame in frames.items():
        frame.to_csv(folder / f"{split}.csv", index=False)
    return frames


def recount(frames: dict[str, pd.DataFrame], min_count: int = 2) -> dict:
    """Rows and positives per split; features = per field, the train values seen min_count times or
    more, plus padding and OOV."""
    train = frames["train"]
    vocab = {f: int((train[f].value_counts() >= min_count).sum()) + 2 for f in FRAPPE_FIELDS}
    return {"rows": {s: len(f) for s, f in frames.items()},
            "positives": {s: int(f["label"].sum()) for s, f in frames.items()},
            "features": sum(vocab.values())}


@pytest.fixture
def tiny_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    frames = write_tiny_frappe(root)
    monkeypatch.setenv("TFBENCH_DATA_DIR", str(root))
    monkeypatch.setenv("TFBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TFBENCH_DB", f"sqlite:///{tmp_path / 'results.db'}")
    return frames


def test_table3_counts_equal_a_recount_of_the_files(tiny_root, tmp_path):
    want = recount(tiny_root)
    runner = CliRunner()
    r = runner.invoke(app, ["run", "table3"])
    assert r.exit_code == 0 and "nothing to train" in r.output, r.output
    r = runner.invoke(app, ["report", "table3", "--format", "csv", "--datasets", "frappe,kkbox",
                            "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    got = pd.read_csv(tmp_path / "rep" / "table3.csv").set_index("split")
    assert list(got.index) == ["train", "valid", "test", "all"] and set(got["dataset"]) == {"frappe"}
    for split in ("train", "valid", "test"):
        assert got.loc[split, "rows"] == want["rows"][split]
        assert got.loc[split, "positives"] == want["positives"][split]
        assert got.loc[split, "positive_percent"] == pytest.approx(
            100.0 * want["positives"][split] / want["rows"][split], rel=1e-12)
    assert got.loc["all", "rows"] == sum(want["rows"].values())
    assert got.loc["all", "positives"] == sum(want["positives"].values())
    assert (got["fields"] == len(FRAPPE_FIELDS)).all() and (got["features"] == want["features"]).all()
    # the paper's Table III beside ours, from the study file
    assert got.loc["all", "paper_rows"] == 288_609 and got.loc["all", "paper_features"] == 5_382
    assert got.loc["all", "paper_positive_percent"] == 33.3 and got.loc["all", "paper_users"] == 957
    assert got.loc["train", "paper_rows"] == 202_027           # the authors' run, per split

    r = runner.invoke(app, ["report", "table3", "--format", "markdown", "--datasets", "frappe,kkbox",
                            "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    md = (tmp_path / "rep" / "table3.md").read_text()
    assert f"| frappe (Frappe) | {sum(want['rows'].values()):,} | 288,609 | 10 | 10 | {want['features']:,} | 5,382 |" in md
    assert "Not present in the data root, so not shown: kkbox" in md
    assert "frappe differs from the paper's statistics: rows train 300 (expected 202,027)" in md


def test_data_info_prints_the_same_numbers(tiny_root):
    want = recount(tiny_root)
    r = CliRunner().invoke(app, ["data", "info", "frappe"], env={"COLUMNS": "160"})
    assert r.exit_code == 0, r.output
    assert re.search(rf"total\s*│\s*10 fields \(paper 10\)\s*│\s*{want['features']:,}\s*│", r.output), r.output
    assert re.search(rf"all\s*│\s*{sum(want['rows'].values()):,}\s*│\s*288,609\s*│", r.output), r.output


def test_table3_with_no_dataset_present_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("TFBENCH_DATA_DIR", str(tmp_path / "empty"))
    r = CliRunner().invoke(app, ["report", "table3", "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0 and "none of the datasets of table3" in r.output, r.output
    assert not (tmp_path / "rep").exists()


def test_table3_study_transcribes_table_iii():
    s = load_study("table3")
    assert not s.trains and expand(s) == []
    assert s.paper["Criteo"] == {"users": None, "items": None, "samples": 45_840_617, "fields": 39,
                                 "features": 5_549_252, "positive_percent": 25.6, "split": "Random (8:1:1)"}
    assert s.paper["KKBox"]["fields"] == 19 and s.paper["ML-1M"]["features"] == 9_776
    assert s.paper["ML-tag"]["samples"] == 2_006_859 and s.paper["Frappe"]["items"] == 4_082


def test_bad_paper_rows_are_study_file_errors(tmp_path):
    path = tmp_path / "t3.yaml"
    path.write_text("name: t3\nkind: analytic\nreport: dataset_stats\npaper: {Frappe: {samples: 5}}\n")
    with pytest.raises(ConfigError, match="t3.yaml: 'paper.Frappe' must map exactly users, items"):
        load_study(str(path))


@needs_frappe
def test_table3_on_the_real_frappe_nfm_matches_its_files(tmp_path, monkeypatch):
    folder = Path(os.environ["TFBENCH_DATA_DIR"]) / "frappe-nfm"
    labels = np.concatenate([np.loadtxt(f, usecols=0, dtype=np.int64, comments=None,
                                        converters={0: lambda s: int(float(s))})
                             for f in sorted(folder.glob("*.libfm"))])
    monkeypatch.setenv("TFBENCH_CACHE_DIR", str(tmp_path / "cache"))
    r = CliRunner().invoke(app, ["report", "table3", "--format", "csv", "--datasets", "frappe-nfm",
                                 "--out", str(tmp_path / "rep")])
    assert r.exit_code == 0, r.output
    got = pd.read_csv(tmp_path / "rep" / "table3.csv").set_index("split")
    assert got.loc["all", "rows"] == len(labels) and got.loc["all", "positives"] == int((labels == 1).sum())
    assert got.loc[["train", "valid", "test"], "rows"].sum() == len(labels) and (got["fields"] == 10).all()
