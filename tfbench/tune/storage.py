"""Optuna's storage on tfbench's results database.

Optuna keeps its own tables (``studies``, ``trials``, ... and its ``alembic_version``) beside
tfbench's ``tfb_*`` tables in the same database, so the Optuna dashboard and ``optuna`` itself see
the tuning studies and ``tfbench runs`` sees every trial's run.

On SQLite, Optuna's recommended setup for several processes is a generous lock timeout; we also
start every transaction with BEGIN IMMEDIATE (as tfbench's own store does), which turns the
read-then-write upgrade that fails at once with "database is locked" under concurrent writers
into an orderly wait for the write lock. On PostgreSQL or MySQL nothing of this is needed, and
several machines can share one URL.

A worker that dies mid-trial stops sending heartbeats; after the grace period the next worker
(or the next ``tfbench tune``) marks its trial failed and enqueues a retry with the same
parameters.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from tfbench.db.connect import read_only_url
from tfbench.db.store import BUSY_TIMEOUT_MS, default_db_url

DEFAULT_HEARTBEAT_S = 60
MAX_RETRY = 3


def _harden_sqlite(engine: sa.engine.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened while Optuna created its tables predate the listeners


def optuna_storage(url: str | None = None, heartbeat_s: int | None = DEFAULT_HEARTBEAT_S, harden: bool = True,
                   read_only: bool = False):
    """An Optuna RDBStorage on ``url`` (tfbench's database by default), with heartbeats and retries.

    ``harden`` (SQLite only): every transaction takes the write lock up front; what concurrent
    writers need, and what a reader (the dashboard) should not do. ``read_only``: the database
    must exist with Optuna's tables, and is opened without writing (SQLite: ``mode=ro``)."""
    import warnings

    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    # Heartbeats and their retry callback are marked experimental; they are what Optuna
    # documents for crash recovery, and a warning per worker would only be noise.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    url = url or default_db_url()
    is_sqlite = url.startswith("sqlite")
    kwargs = {}
    if heartbeat_s:
        kwargs = dict(
            heartbeat_interval=int(heartbeat_s), grace_period=2 * int(heartbeat_s),
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
        )
    engine_kwargs = {"connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000}} if is_sqlite else {"pool_pre_ping": True}
    last: Exception | None = None
    for attempt in range(5):
        try:
            if read_only:
                storage = RDBStorage(read_only_url(url), engine_kwargs=engine_kwargs, skip_table_creation=True, **kwargs)
            else:
                storage = RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
            break
        except sa.exc.OperationalError as e:
            # Two processes creating Optuna's tables in a fresh SQLite file at the same moment:
            # the loser sees "table ... already exists"; a second try finds them made.
            last = e
            time.sleep(0.5 * (attempt + 1))
    else:
        raise last  # type: ignore[misc]
    if is_sqlite and harden and not read_only:
        _harden_sqlite(storage.engine)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return storage
