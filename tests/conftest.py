import os
from pathlib import Path

import pytest

SHARED = os.environ.get("TFBENCH_DATA_DIR")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A fresh results database and dataset cache per test; returns the db URL."""
    monkeypatch.setenv("TFBENCH_CACHE_DIR", str(tmp_path / "cache"))
    db = f"sqlite:///{tmp_path / 'results.db'}"
    monkeypatch.setenv("TFBENCH_DB", db)
    return db


def frappe_available() -> bool:
    return bool(SHARED) and (Path(SHARED) / "frappe-nfm").is_dir()


needs_frappe = pytest.mark.skipif(
    not frappe_available(), reason="set TFBENCH_DATA_DIR to ../shared/datasets to run (real Frappe data)"
)
