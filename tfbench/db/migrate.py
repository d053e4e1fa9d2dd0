"""Bringing a results database to the current schema with Alembic (``tfbench/db/migrations``).

:func:`upgrade` is what :class:`~tfbench.db.store.ResultStore` calls on opening a database:

* A database whose ``tfb_alembic_version`` already names the head revision costs one SELECT and
  nothing else (the common case: every command and every study worker opens the store); Alembic
  is not even imported then. :data:`HEAD` names the head for that check, and a test keeps it
  equal to the head of the revision files.
* Otherwise the migration runs in ONE transaction that first takes the migration lock: on SQLite
  the store's ``BEGIN IMMEDIATE`` (the database's single write lock, waited for up to the busy
  timeout), on PostgreSQL ``pg_advisory_xact_lock`` (released at commit or rollback). Inside the
  lock the version is read again, so of several processes opening a database at once one
  migrates and the others, finding it at head when they get the lock, do nothing. (On SQLite
  even the first SELECT waits for a migration in progress, since every transaction of the
  store's engine begins IMMEDIATE.) DDL is transactional on both, so a failure or a crash
  mid-migration leaves the database as it was.
* The version table is ``tfb_alembic_version``: Optuna keeps its own ``alembic_version`` in the
  same database, and neither ever sees the other's.

A database without a version table is a fresh one (the baseline creates the tables) or one made
by tfbench before Alembic, which the baseline adopts (see ``versions/0001_baseline.py``).
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa

from tfbench.db.schema import TABLE_PREFIX

VERSION_TABLE = "tfb_alembic_version"
# The newest revision in migrations/versions/ (tests/test_db_migrations.py checks it): bump it
# with every new revision.
HEAD = "0003_run_threads"
MIGRATIONS = Path(__file__).resolve().with_name("migrations")
# Key of the PostgreSQL advisory lock that serialises tfbench's migrations (any fixed bigint).
PG_LOCK_KEY = zlib.crc32(b"tfbench.db.migrate")


def tfbench_object(obj, name, type_, reflected, compare_to) -> bool:
    """Autogenerate's filter: tfbench's own tables (and what is on them), never Optuna's."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    table_name = name if type_ == "table" else (table.name if table is not None else "")
    return table_name.startswith(TABLE_PREFIX) and table_name != VERSION_TABLE


def alembic_config(connection=None):
    """The Alembic configuration of tfbench's migrations, optionally bound to ``connection``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def _scripts():
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The head of the revision files (what :data:`HEAD` must name)."""
    heads = _scripts().get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"tfbench's migrations have {len(heads)} heads ({', '.join(heads)}); expected one")
    return heads[0]


def current_revision(connection) -> str | None:
    """The revision recorded in the database, None when it has no version table (or no row)."""
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def _lock(connection) -> None:
    """Take the migration lock for the rest of the transaction. SQLite: the store's engine began
    it with BEGIN IMMEDIATE, which is the lock. PostgreSQL: a transaction-scoped advisory lock.
    Elsewhere nothing beyond the transaction itself."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})


def _known(revision: str) -> bool:
    from alembic.util import CommandError

    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False


def upgrade(engine: sa.engine.Engine) -> bool:
    """Bring the database of ``engine`` to the head revision; returns whether anything ran."""
    with engine.connect() as conn:
        if current_revision(conn) == HEAD:
            return False
    from alembic import command

    with engine.begin() as conn:
        _lock(conn)
        current = current_revision(conn)  # again, under the lock: another process may have migrated
        if current == HEAD:
            return False
        if current is not None and not _known(current):
            raise RuntimeError(
                f"the results database {engine.url.render_as_string(hide_password=True)} is at schema revision"
                f" {current}, which this tfbench does not know (its newest is {HEAD}): it was written by a newer"
                " tfbench; upgrade tfbench to use it"
            )
        command.upgrade(alembic_config(conn), "head")
    return True


def readable_state(engine: sa.engine.Engine, shown_url: str) -> str:
    """For a reader, which creates nothing: "head" (ready), or "behind" (a tfbench database at an
    older revision, or one from before Alembic, that :func:`upgrade` brings up to date). A
    database without tfbench's tables, or from a newer tfbench, is a one-line ConfigError."""
    from tfbench.errors import ConfigError

    with engine.connect() as conn:
        current = current_revision(conn)
        if current == HEAD:
            return "head"
        if current is None:
            if not sa.inspect(conn).has_table(f"{TABLE_PREFIX}runs"):
                raise ConfigError(f"{shown_url} is not a tfbench results database (it has no tfbench tables); check --db")
            return "behind"
    if not _known(current):
        raise ConfigError(
            f"the results database {shown_url} is at schema revision {current}, which this tfbench does not know"
            f" (its newest is {HEAD}): it was written by a newer tfbench; upgrade tfbench to read it"
        )
    return "behind"
