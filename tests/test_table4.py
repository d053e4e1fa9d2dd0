"""Table IV from the dataset registry, checked against the fields the loaders actually produce."""

import random
import warnings

import pandas as pd
import pytest
from typer.testing import CliRunner

from test_datasets_named import KKBOX_HEADER, filler, kkbox_row, write_split_files
from test_table3 import write_tiny_frappe
from tfbench.cli.main import app
from tfbench.data import DataWarning, load_dataset
from tfbench.errors import ConfigError
from tfbench.report.dataset_features import _names
from tfbench.studies import load_study


def loaded_fields(name, root, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        ds = load_dataset(name, data_dir=root, cache_dir=tmp_path / "cache")
    return [(f.name, f.is_sequence) for f in ds.fields]


def parse_features(text: str) -> list[tuple[str, bool]]:
    """"(13) msno, genre_ids (multi-valued), ..." -> [(name, multi-valued?)], runs like I1–I13 expanded."""
    count, _, names = text.partition(") ")
    out = []
    for item in names.split(", "):
        multi = item.endswith(" (multi-valued)")
        item = item.removesuffix(" (multi-valued)")
        if "–" in item:
            first, last = item.split("–")
            prefix = first.rstrip("0123456789")
            out += [(f"{prefix}{i}", multi) for i in range(int(first[len(prefix):]), int(last[len(prefix):]) + 1)]
        else:
            out.append((item, multi))
    assert int(count.lstrip("(")) == len(out)
    return out


def test_table4_lists_the_fields_the_loaders_produce(tmp_path, monkeypatch):
    root = tmp_path / "data"
    write_tiny_frappe(root)
    rng = random.Random(4)
    write_split_files(root / "KKBox_x1", KKBOX_HEADER,
                      {s: filler(rng, n, kkbox_row) for s, n in (("train", 60), ("valid", 20), ("test", 20))})
    monkeypatch.setenv("TFBENCH_DB", f"sqlite:///{tmp_path / 'results.db'}")
    out = tmp_path / "rep"
    r = CliRunner().invoke(app, ["report", "table4", "--format", "csv", "--out", str(out)])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(out / "table4.csv").set_index("dataset")
    assert list(table.index) == ["criteo", "kkbox", "ml-1m", "ml-tag", "frappe"]      # no data needed
    for name in ("kkbox", "frappe"):
        assert parse_features(table.loc[name, "features"]) == loaded_fields(name, root, tmp_path), name
    assert [n for n, _ in parse_features(table.loc["criteo", "features"])] == \
        [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]
    assert table.loc["kkbox", "paper_features"].startswith("msno, song_id, source_system_tab")

    r = CliRunner().invoke(app, ["report", "table4", "--format", "markdown", "--out", str(out)])
    assert r.exit_code == 0, r.output
    md = (out / "table4.md").read_text()
    ours = {n for n, _ in loaded_fields("kkbox", root, tmp_path)}
    paper = [n.strip() for n in load_study("table4").paper["KKBox"]["feature_list"].split(",")]
    only_paper = [n for n in paper if n not in ours]
    assert only_paper == ["dates", "song_length", "composer", "lyricist", "name"]
    assert (f"KKBox: the paper lists {len(paper)} features, tfbench uses {len(ours)}; "
            f"only in the paper: {', '.join(only_paper)}.") in md
    assert "ML-1M: the paper lists" not in md                                          # same lists: no note


def test_names_write_runs_and_keep_the_rest():
    assert _names([f"I{i}" for i in range(1, 14)] + ["C1", "C2"]) == "I1–I13, C1, C2"
    assert _names(["user", "item"]) == "user, item" and _names(["C1", "C3", "C4", "C5"]) == "C1, C3–C5"


def test_table4_paper_rows_must_be_text(tmp_path):
    path = tmp_path / "t4.yaml"
    path.write_text("name: t4\nkind: analytic\nreport: dataset_features\ndatasets: [frappe]\n"
                    "paper: {Frappe: {feature_list: [user]}}\n")
    with pytest.raises(ConfigError, match="'paper.Frappe' must map exactly feature_list, preprocessing"):
        load_study(str(path))
    path.write_text("name: t4\nkind: analytic\nreport: dataset_features\ndatasets: [frappe-nfm]\n")
    with pytest.raises(ConfigError, match="'datasets' holds 'frappe-nfm', which is not one of the paper's"):
        load_study(str(path))
