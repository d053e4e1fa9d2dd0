"""Several processes opening one results database at the same moment, as the workers of a
study (local or on a Ray cluster) do: all of them succeed and the schema ends up exactly once.

On PostgreSQL the code before the migration lock failed this: two processes creating the tables
at once crashed one of them (IntegrityError on pg_type_typname_nsp_index; 3 of 6 tries), and two
processes adding the tuning columns to an old database at once crashed one (DuplicateColumn, a
ProgrammingError the SQLite-only handler let through; 4 of 6 tries). On PostgreSQL the test
makes the collision certain (see GATES); the processes only open the store (no test hooks), so
the same test runs against any version of tfbench.

And a URL with a password never shows it: ``tfbench dashboard`` prints where it reads from."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa
from conftest import new_database
from test_db_migrations import TUNING_COLUMNS, make_old_database, version_rows

from tfbench.db import migrate
from tfbench.db.connect import shown as masked_url

PROCESSES = 4

OPEN_AT_ONCE = textwrap.dedent("""
    import sys, time
    url, at = sys.argv[1], float(sys.argv[2])
    from tfbench.db.store import ResultStore  # imported before the start signal
    time.sleep(max(0.0, at - time.time()))
    ResultStore(url).list_runs()
    print("OPENED")
""")

# On PostgreSQL the test makes the collision certain instead of hoping for it: it holds a lock
# that the schema change needs (CREATE TABLE writes pg_type; ADD COLUMN locks tfb_runs) until
# every opener waits on a lock (that one, or tfbench's migration lock), then lets them all go.
GATES = {"fresh": "LOCK TABLE pg_catalog.pg_type IN EXCLUSIVE MODE", "old": "LOCK TABLE tfb_runs IN SHARE MODE"}


def open_at_once(url: str, n: int, gate: str | None = None) -> list[tuple[int, str]]:
    """``n`` processes open the store on ``url`` at one instant; their (exit code, stderr)."""
    engine = sa.create_engine(url) if gate else None
    conn = engine.connect() if gate else None
    if gate:
        conn.exec_driver_sql(gate)  # held until every opener waits
    at = time.time() + 3.0  # all have imported tfbench by then, even on a loaded machine
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_AT_ONCE, url, str(at)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(n)]
    if gate:
        deadline = time.time() + 120
        while time.time() < deadline and not all(p.poll() is not None for p in procs):
            waiting = conn.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE NOT granted").scalar()
            if waiting >= n:
                break
            time.sleep(0.1)
        conn.commit()
        conn.close()
        engine.dispose()
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=180)
        out.append((p.returncode if "OPENED" in stdout else -1, stderr))
    return out


def first_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if "Error" in line]
    return lines[-1][:300] if lines else stderr[-300:]


def tfbench_columns(url: str) -> dict[str, list[str]]:
    engine = sa.create_engine(url)
    insp = sa.inspect(engine)
    out = {t: sorted(c["name"] for c in insp.get_columns(t)) for t in insp.get_table_names() if t.startswith("tfb_")}
    engine.dispose()
    return out


@pytest.mark.parametrize("start", ["fresh", "old"])
def test_processes_opening_a_database_at_once_all_succeed(backend, start, tmp_path):
    with new_database(backend, tmp_path) as url:
        if start == "old":
            make_old_database(url)  # lacks the tuning columns: every opener wants to add them
        results = open_at_once(url, PROCESSES, GATES[start] if backend == "postgresql" else None)
        assert [first_error(err) for rc, err in results if rc != 0] == []
        cols = tfbench_columns(url)
        assert set(TUNING_COLUMNS) <= set(cols["tfb_runs"])
        assert all(len(c) == len(set(c)) for c in cols.values())
        assert version_rows(url) == [migrate.HEAD]


def test_commands_registering_one_study_at_once_all_succeed(db_url):
    """Two `tfbench run` of one study (e.g. one on Ray, one local) link its runs at the same time."""
    import threading

    from tfbench.db.store import ResultStore

    entries = [dict(key=f"{i:064x}", dataset="synthetic", cell={"i": str(i)}, seed=2023, quick=True) for i in range(300)]
    stores = [ResultStore(db_url) for _ in range(4)]
    barrier, errors = threading.Barrier(len(stores)), []

    def link(store):
        barrier.wait()
        try:
            store.link_study("table6", entries)
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            errors.append(f"{type(e).__name__}: {str(e).splitlines()[0]}")

    threads = [threading.Thread(target=link, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(link.key for link, _ in stores[0].study_runs("table6")) == sorted(e["key"] for e in entries)


# ------------------------------------------------------------------------------------ passwords


@pytest.mark.parametrize("url, printed", [
    ("postgresql+psycopg://ann:s3cret@db.example:5432/results", "postgresql+psycopg://ann:***@db.example:5432/results"),
    ("postgresql://ann:p%40ss@h/db", "postgresql://ann:***@h/db"),
    ("postgresql://ann@h/db", "postgresql://ann@h/db"),
    ("sqlite:////tmp/r.db", "sqlite:////tmp/r.db"),
    ("not a url://ann:s3cret@h/db", "not a url://ann:***@h/db"),
])
def test_masked_url_hides_only_the_password(url, printed):
    assert masked_url(url) == printed


def test_dashboard_on_postgresql_does_not_print_the_password(pg_url, tmp_path):
    password = sa.engine.make_url(pg_url).password
    assert password, "the test server's URL has a password"
    cmd = [sys.executable, "-m", "tfbench.cli.main", "dashboard", "--db", pg_url, "--port", "0"]
    env = dict(os.environ, OMP_NUM_THREADS="1", TFBENCH_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[0]
    assert re.search(r"http://127\.0\.0\.1:\d+/", line), line + rest
    assert masked_url(pg_url) in line
    assert password not in line + rest
