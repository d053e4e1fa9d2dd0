import contextlib
import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import torch

from tfbench.losses import make_objective
from tfbench.runner import build_for, train_settings
from tfbench.train import fit, resolve_device, seed_everything

SHARED = os.environ.get("TFBENCH_DATA_DIR")

# An admin URL of a PostgreSQL server (.ci/run starts one and sets it); the database tests run on
# SQLite always and on PostgreSQL when it is set, each test in a database of its own.
PG_ENV = "TFBENCH_TEST_PG_URL"
PG_SKIP = f"no PostgreSQL server: set {PG_ENV} to an admin URL (.ci/run starts a server and sets it)"
needs_postgres = pytest.mark.skipif(not os.environ.get(PG_ENV), reason=PG_SKIP)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=needs_postgres)]


@contextlib.contextmanager
def new_pg_database():
    """A new, empty PostgreSQL database on the test server (dropped after); yields its URL."""
    admin_url = sa.engine.make_url(os.environ[PG_ENV])
    name = f"tfb_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextlib.contextmanager
def new_database(backend: str, folder: Path):
    """A new, empty database on ``backend`` ("sqlite": a file in ``folder``); yields its URL."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / f'results-{uuid.uuid4().hex[:8]}.db'}"
    else:
        with new_pg_database() as url:
            yield url


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def db_url(backend, tmp_path):
    """An empty database: a new SQLite file, or a new PostgreSQL database (dropped after)."""
    with new_database(backend, tmp_path) as url:
        yield url


@pytest.fixture
def pg_url():
    """An empty PostgreSQL database (dropped after); skips without a server."""
    if not os.environ.get(PG_ENV):
        pytest.skip(PG_SKIP)
    with new_pg_database() as url:
        yield url


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
