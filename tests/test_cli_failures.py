"""Every user-facing failure of the CLI is one line on stderr with exit code 1 or 2 (issue #17):
configs, databases, URLs, drivers, a full disk, read-only files and training errors; read-only
commands never create a database; --debug / TFBENCH_DEBUG=1 shows the traceback instead."""

import errno
import hashlib
import importlib.util
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tfbench.cli.main import app
from tfbench.db import ResultStore

TINY = ["--synthetic-rows", "2000", "--embedding-dim", "4", "--mlp-s", "8", "--mlp-c", "8",
        "--batch-size", "500", "--epochs", "1"]


def invoke(*args, **env):
    return CliRunner().invoke(app, [str(a) for a in args], env=env or None)


def one_line(result, code: int, progress: bool = False) -> str:
    """The single error line of a failed command: all of stderr, or (``progress``: the command had
    started training and printed its progress) the last of its lines, the only one saying error."""
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert len(lines) == 1 or (progress and sum(l.startswith("error:") for l in lines) == 1), result.stderr
    assert "Traceback" not in result.output
    return lines[-1]


@pytest.fixture
def trained(isolated, tmp_path):
    """A database holding one done run (trained through the CLI)."""
    r = invoke("train", *TINY)
    assert r.exit_code == 0, r.output
    return isolated


# ---------------------------------------------------------------- config files
def test_a_binary_or_directory_config_file_is_one_line(isolated, tmp_path):
    binary = tmp_path / "weights.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xd0\xff" * 20)
    line = one_line(invoke("train", "--config", binary), 2)
    assert line == f"error: config file {binary} is not a text file (byte 0 is not UTF-8)"
    line = one_line(invoke("train", "--config", tmp_path), 2)
    assert line == f"error: config file {tmp_path} is a directory, not a YAML file"


# ---------------------------------------------------------------- database URLs and files
def test_a_file_that_is_not_sqlite_is_one_line_naming_it(tmp_path):
    f = tmp_path / "notes.db"
    f.write_text("these are my notes, not a database\n" * 100)
    for command in (["runs"], ["train", *TINY]):
        line = one_line(invoke(*command, "--db", f"sqlite:///{f}"), 2)
        assert line == f"error: results database {f} (sqlite:///{f}) is not an SQLite database (is --db the right file?)"


MISSING_DRIVER = next(m for m in ("MySQLdb", "pymssql", "oracledb") if importlib.util.find_spec(m) is None)
DRIVER_URL = {"MySQLdb": "mysql+mysqldb", "pymssql": "mssql+pymssql", "oracledb": "oracle+oracledb"}[MISSING_DRIVER]


@pytest.mark.parametrize("url,message", [
    (":::", "--db :::: not a database URL (expected e.g. sqlite:///results.db or postgresql+psycopg://user@host/name)"),
    ("nonsense://u:secret@h/db", "--db nonsense://u:***@h/db: SQLAlchemy has no database dialect or driver 'nonsense'"
                                 " (e.g. sqlite, postgresql+psycopg)"),
    ("postgresql+nosuchdriver://u:secret@h/db", "--db postgresql+nosuchdriver://u:***@h/db: SQLAlchemy has no database"
                                                " dialect or driver 'postgresql+nosuchdriver' (e.g. sqlite, postgresql+psycopg)"),
    (f"{DRIVER_URL}://u:secret@h/db", f"--db {DRIVER_URL}://u:***@h/db: the database driver module '{MISSING_DRIVER}'"
                                      " is not installed (pip install it)"),
])
def test_a_malformed_url_or_missing_driver_is_one_line_with_the_password_masked(url, message):
    for command in (["runs"], ["show", "1"], ["train", *TINY]):
        line = one_line(invoke(*command, "--db", url), 2)
        assert line == "error: " + message
        assert "secret" not in line


def test_read_only_commands_never_create_a_database(tmp_path, monkeypatch):
    monkeypatch.setenv("TFBENCH_CACHE_DIR", str(tmp_path / "cache"))
    typo = tmp_path / "reslts.db"
    url = f"sqlite:///{typo}"
    want = f"error: no results database at {typo} ({url}); check --db or TFBENCH_DB"
    for command in (["runs"], ["show", "1"], ["report", "table5", "--out", tmp_path / "rep"], ["tune", "best", "x"]):
        assert one_line(invoke(*command, "--db", url), 2) == want, command
        assert not typo.exists()
    assert one_line(invoke("runs", TFBENCH_DB=url), 2) == want  # through TFBENCH_DB as well
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_read_only_commands_create_no_tables(tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("create table notes (t text)")
    for command in (["runs"], ["show", "1"], ["report", "table5", "--out", tmp_path / "rep"], ["tune", "best", "x"]):
        line = one_line(invoke(*command, "--db", f"sqlite:///{other}"), 2)
        assert line == (f"error: sqlite:///{other} is not a tfbench results database (it has no tfbench tables); "
                        "check --db"), command
    with sqlite3.connect(other) as con:
        assert [r[0] for r in con.execute("select name from sqlite_master")] == ["notes"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_read_only_commands_open_the_file_read_only_and_change_nothing(trained, tmp_path):
    db_file = Path(trained.removeprefix("sqlite:///"))
    ResultStore(trained).engine.dispose()
    with sqlite3.connect(db_file) as con:  # fold the WAL into the file, so the file holds everything
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = _digest(db_file)
    db_file.chmod(0o444)
    (run,) = ResultStore(trained, read_only=True).list_runs()
    r = invoke("runs")
    assert r.exit_code == 0 and run.key[:10] in r.stdout, r.output
    r = invoke("show", run.key[:8])
    assert r.exit_code == 0 and f"key {run.key}" in r.stdout, r.output
    r = invoke("report", "table5", "--out", tmp_path / "rep")
    assert r.exit_code == 0 and "nothing has been run for study 'table5'" in r.stdout, r.output
    assert _digest(db_file) == before
    # the reader's connection is SQLite's mode=ro, which needs no write permission: writing fails
    from tfbench.db.connect import DatabaseFailure

    store = ResultStore(trained, read_only=True)
    with pytest.raises(DatabaseFailure, match=r"is read-only: this command writes to it"):
        store.set_info(run.id, num_params=1)


def test_a_writing_command_on_a_read_only_database_is_one_line(trained, monkeypatch):
    """A read-only file, as SQLite sees it (the tests may run as root, to whom chmod is no barrier):
    every connection opened in mode=ro."""
    from tfbench.db import connect

    real_parse = connect.parse

    def read_only(url):
        parsed = real_parse(url)
        return connect._read_only(parsed, connect.sqlite_path(parsed))

    monkeypatch.setattr(connect, "parse", read_only)
    db_file = trained.removeprefix("sqlite:///")
    line = one_line(invoke("train", *TINY, "--seed", "5"), 1)
    assert line.startswith("error: results database ") and db_file in line
    assert line.endswith("is read-only: this command writes to it")


# ---------------------------------------------------------------- a full disk
def test_a_full_database_disk_is_one_line_naming_the_database(trained, monkeypatch):
    """SQLite's own error for a full disk (SQLITE_FULL, "database or disk is full") when the
    first epoch is stored."""
    import sqlalchemy as sa

    from tfbench.db import connect

    real_create = connect.create_engine

    def filling(url, **kw):
        engine = real_create(url, **kw)

        @sa.event.listens_for(engine, "before_cursor_execute")
        def _full(conn, cursor, statement, *args):
            if statement.startswith("INSERT INTO tfb_epochs"):
                raise sqlite3.OperationalError("database or disk is full")

        return engine

    monkeypatch.setattr(connect, "create_engine", filling)
    db_file = trained.removeprefix("sqlite:///")
    line = one_line(invoke("train", *TINY, "--seed", "5"), 1, progress=True)
    assert line == f"error: results database {db_file} ({trained}) cannot be written: the disk is full"


def test_a_full_disk_while_writing_a_file_is_one_line_and_leaves_no_temporary_file(isolated, tmp_path, monkeypatch):
    import tfbench.atomic as atomic

    r = invoke("tune", "--name", "t", "--model", "dnn", "--trials", "1", "--epochs", "1", "--synthetic-rows", "2000",
               "--batch-size", "500")
    assert r.exit_code == 0, r.output
    out = tmp_path / "best.yaml"
    out.write_text("the previous export\n")

    class FullDisk:
        def __init__(self, path, mode, **kw):
            self.fh = open(path, mode, **kw)

        def write(self, data):
            self.fh.write(data[:10])
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(atomic, "open", FullDisk, raising=False)
    line = one_line(invoke("tune", "best", "t", "--export", out), 1)
    assert line == f"error: no space left on device ({out})"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".best.yaml")] == []
    assert out.read_text() == "the previous export\n"


# ---------------------------------------------------------------- training errors
def test_a_non_finite_loss_is_one_line_naming_the_run(isolated):
    r = invoke("train", *TINY[:4], *TINY[6:], "--model", "dnn", "--lr", "1e30")
    line = one_line(r, 1, progress=True)
    (row,) = ResultStore(isolated).list_runs()
    assert row.status == "failed"
    assert line.startswith(f"error: run {row.key} failed: ") and line.endswith("; stored as failed"), line
    assert "not finite" in line or "became nan" in line


def test_debug_shows_the_traceback_instead(isolated, tmp_path):
    missing = f"sqlite:///{tmp_path / 'nope.db'}"
    from tfbench.errors import ConfigError

    for r in (invoke("--debug", "runs", "--db", missing), invoke("runs", "--db", missing, TFBENCH_DEBUG="1")):
        assert isinstance(r.exception, ConfigError) and "no results database at" in str(r.exception)
        assert "error:" not in r.stderr
    one_line(invoke("runs", "--db", missing, TFBENCH_DEBUG="0"), 2)
    one_line(invoke("runs", "--db", missing), 2)  # --debug does not stick to the next command
