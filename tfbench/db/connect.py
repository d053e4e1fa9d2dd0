"""Opening a results database: one place that turns a ``--db`` URL into an engine, or a one-line error.

* The URL is parsed first: a malformed URL, an unknown dialect and a driver module that is not
  installed are each a :class:`~tfbench.errors.ConfigError` naming the URL (its password masked:
  :func:`shown`).
* ``read_only=True`` (``tfbench runs``, ``show``, ``report``, ``tune best``) never creates anything:
  a missing SQLite file is an error naming the URL (a typo in ``--db`` no longer makes a new empty
  database), the file is opened with SQLite's ``mode=ro`` (so a read-only file can be read), and a
  database without tfbench's tables is an error instead of getting them.
* Errors of the database itself while it is used (not an SQLite file, read-only, disk full, the
  file cannot be opened) become a :class:`DatabaseFailure` naming the URL, from SQLAlchemy's
  ``handle_error`` hook, so that every statement anywhere reports them the same way.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from tfbench.errors import ConfigError, TfbenchError


class DatabaseFailure(TfbenchError):
    """The results database cannot be used as asked (read-only, full, not a database)."""

    exit_code = 1


_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def shown(url: str) -> str:
    """``url`` as printed: its password masked, even when the URL does not parse."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return _PASSWORD.sub(r"\1***@", url)


def parse(url: str) -> sa.engine.URL:
    try:
        return make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"--db {shown(url)!s}: not a database URL (expected e.g. sqlite:///results.db or "
            "postgresql+psycopg://user@host/name)"
        ) from None


def sqlite_path(parsed: sa.engine.URL) -> Path | None:
    """The file of an SQLite URL (None for other databases and in-memory ones)."""
    if not parsed.drivername.startswith("sqlite"):
        return None
    db = parsed.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db).expanduser()


def _read_only(parsed: sa.engine.URL, path: Path) -> sa.engine.URL:
    # mode=ro: reads work on a read-only file, and nothing can be written by mistake
    return parsed.set(database=f"file:{path.resolve()}?mode=ro", query={**parsed.query, "uri": "true"})


def read_only_url(url: str) -> str:
    """``url`` as a reader should open it (SQLite: the file in ``mode=ro``; others unchanged)."""
    parsed = parse(url)
    path = sqlite_path(parsed)
    if path is None:
        return url
    return _read_only(parsed, path).render_as_string(hide_password=False)


def create_engine(url: str, *, read_only: bool = False) -> sa.engine.Engine:
    """An engine on ``url``; see the module docstring for what is checked and refused."""
    parsed = parse(url)
    path = sqlite_path(parsed)
    if path is not None:
        if read_only:
            if not path.exists():
                raise ConfigError(f"no results database at {path} ({shown(url)}); check --db or TFBENCH_DB")
            if path.is_dir():
                raise ConfigError(f"results database {path} ({shown(url)}) is a directory, not a file")
            parsed = _read_only(parsed, path)
        else:
            try:
                path.resolve().parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise DatabaseFailure(f"cannot create the folder of results database {shown(url)}: {e.strerror}") from None
    try:
        engine = sa.create_engine(parsed, future=True)
    except sa.exc.NoSuchModuleError:
        raise ConfigError(
            f"--db {shown(url)}: SQLAlchemy has no database dialect or driver '{parsed.drivername}' "
            "(e.g. sqlite, postgresql+psycopg)"
        ) from None
    except ImportError as e:
        raise ConfigError(
            f"--db {shown(url)}: the database driver module '{e.name or e}' is not installed (pip install it)"
        ) from None
    _report_failures(engine, url, path)
    return engine


# SQLite messages (sqlite3's and the C library's) and what tfbench says instead.
# The exit code: 2 when --db names the wrong thing, 1 when the database fails while in use.
_SQLITE_FAILURES = [
    ("file is not a database", "is not an SQLite database (is --db the right file?)", 2),
    ("readonly database", "is read-only: this command writes to it", 1),
    ("database or disk is full", "cannot be written: the disk is full", 1),
    ("disk i/o error", "cannot be read or written: disk I/O error", 1),
    ("unable to open database file", "cannot be opened (missing folder, or no permission)", 1),
    ("database disk image is malformed", "is damaged (database disk image is malformed)", 1),
]


def failure_text(error: BaseException) -> tuple[str, int] | None:
    """What tfbench says for a known SQLite failure (and its exit code), or None."""
    message = str(error).lower()
    for pattern, said, code in _SQLITE_FAILURES:
        if pattern in message:
            return said, code
    return None


def _report_failures(engine: sa.engine.Engine, url: str, path: Path | None) -> None:
    where = f"{path} ({shown(url)})" if path is not None else shown(url)

    @event.listens_for(engine, "handle_error")
    def _one_line(context):
        original = context.original_exception
        if not isinstance(original, (sqlite3.OperationalError, sqlite3.DatabaseError)):
            if context.connection is None and isinstance(context.sqlalchemy_exception, sa.exc.OperationalError):
                first = (str(original).strip().splitlines() or [type(original).__name__])[0]
                raise DatabaseFailure(f"cannot connect to results database {where}: {first}") from context.sqlalchemy_exception
            return None
        known = failure_text(original)
        if known is None:
            return None  # e.g. "database is locked" (waited for by the busy timeout), constraint errors
        failure = DatabaseFailure(f"results database {where} {known[0]}")
        failure.exit_code = known[1]
        raise failure from context.sqlalchemy_exception


def check_connects(engine: sa.engine.Engine) -> None:
    """Open one connection now, so that a bad file is reported before any work starts."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1 FROM sqlite_master LIMIT 1" if engine.dialect.name == "sqlite" else "SELECT 1")
