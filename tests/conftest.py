import os
from pathlib import Path

import pytest
import torch

from tfbench.losses import make_objective
from tfbench.runner import build_for, train_settings
from tfbench.train import fit, resolve_device, seed_everything

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


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory):
    """20k rows of the embedded synthetic data, shared by the training tests."""
    from tfbench.data import load_dataset

    return load_dataset("synthetic", synthetic_rows=20_000, cache_dir=tmp_path_factory.mktemp("cache"))


def train_once(cfg, data):
    """Train one RunConfig on an already loaded dataset on the CPU, as a run would."""
    seed_everything(cfg.seed)
    model = build_for(cfg, data)
    objective = make_objective(cfg.resolved_loss, **cfg.loss_hyperparameters())
    return fit(model, data, objective, train_settings(cfg), resolve_device("cpu"))


def field_batch(vocab, n=6, seed=0):
    """A deterministic [n, F] batch of field indices within the given vocabulary sizes."""
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, v, (n,), generator=g) for v in vocab], dim=1)


def t64(a):
    return torch.tensor(a, dtype=torch.float64)


def np_(t):
    return t.detach().numpy()


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie counts as ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True
