"""The main job (`tfbench train --dataset synthetic`) ends by saying where its results went: the
database (password masked; a SQLite file as its absolute path) and the dataset cache folder
(issue #17: the defaults ./results.db and ./.tfbench-cache were never named)."""

from __future__ import annotations

from typer.testing import CliRunner

from tfbench.cli.main import app
from tfbench.db import ResultStore

FAST = ["--synthetic-rows", "2000", "--embedding-dim", "4", "--mlp-s", "8", "--mlp-c", "8,8",
        "--batch-size", "500", "--epochs", "1"]


def test_main_job_names_the_default_database_and_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TFBENCH_DB", raising=False)
    monkeypatch.delenv("TFBENCH_CACHE_DIR", raising=False)
    first = CliRunner().invoke(app, ["train", "--dataset", "synthetic", *FAST])
    assert first.exit_code == 0, first.output
    last = first.output.strip().splitlines()[-1]
    entry = next((tmp_path / ".tfbench-cache").iterdir()).name        # the entry this run wrote
    assert last == (f"stored in sqlite:///results.db (file {tmp_path / 'results.db'}); "
                    f"dataset cache {tmp_path / '.tfbench-cache'} (miss: {entry})")
    assert [r.status for r in ResultStore(f"sqlite:///{tmp_path / 'results.db'}").list_runs()] == ["done"]
    # the reused run says the same, now from the cache
    again = CliRunner().invoke(app, ["train", "--dataset", "synthetic", *FAST])
    assert "already done" in again.output
    assert again.output.strip().splitlines()[-1] == last.replace("(miss:", "(hit:")


def test_the_database_url_is_shown_with_its_password_masked(tmp_path):
    from tfbench.cli.train import where_results_went

    text = where_results_went("postgresql+psycopg://bench:s3cret@db.example:5432/tfbench", {"cache": "off"})
    assert text == "stored in postgresql+psycopg://bench:***@db.example:5432/tfbench; dataset cache none (the cache is off)"
    assert "s3cret" not in text
