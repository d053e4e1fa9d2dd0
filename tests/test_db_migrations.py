"""The results database's schema goes through Alembic (tfbench/db/migrations, version table
``tfb_alembic_version``): a fresh database is created at head, one made by the code before
Alembic is upgraded in place with its rows, one already at today's schema is only stamped,
Optuna's storage in the same database is untouched, and several processes opening one database
at once migrate it exactly once.

Every test runs on SQLite, and on PostgreSQL when ``TFBENCH_TEST_PG_URL`` names an admin URL of a
server (``db_url`` in conftest.py; .ci/run starts one), each in a database of its own that is
dropped afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tfbench.db import migrate
from tfbench.db.schema import Base
from tfbench.db.store import ResultStore

# What the migration before Alembic added to databases of older releases (tfbench/db/store.py's
# _add_missing_columns, brought in with Optuna tuning in 06cf7f8): these two columns and the index.
TUNING_COLUMNS = ("optuna_study", "optuna_trial")
TFB_TABLES = {"tfb_runs", "tfb_epochs", "tfb_study_runs", "tfb_bands", "tfb_histograms", "tfb_grad_steps", "tfb_timings"}

# ------------------------------------------------------------------------------------ helpers


def legacy_metadata(release: str) -> sa.MetaData:
    """The tables the code before Alembic created with ``Base.metadata.create_all``:
    ``"studies"`` (7a4ecd3..06cf7f8^): today's tables without the two tuning columns and their
    index; ``"first"`` (091f175): also without ``tfb_study_runs``. (Those are the only schema
    changes in tfbench's history: ``git log -p tfbench/db/schema.py``.)"""
    md = sa.MetaData()
    for table in Base.metadata.sorted_tables:
        if release == "first" and table.name == "tfb_study_runs":
            continue
        columns = [c._copy() for c in table.columns if c.name not in TUNING_COLUMNS]
        uniques = [sa.UniqueConstraint(*[c.name for c in uc.columns])
                   for uc in table.constraints if isinstance(uc, sa.UniqueConstraint)]
        fks = [sa.ForeignKeyConstraint([fk.parent.name], [fk.target_fullname], ondelete=fk.ondelete)
               for fk in table.foreign_keys]  # Column._copy() leaves them out
        sa.Table(table.name, md, *columns, *uniques, *fks)
    return md


def plain_engine(url: str) -> sa.engine.Engine:
    return sa.create_engine(url)


def make_old_database(url: str, release: str = "studies", metadata: sa.MetaData | None = None) -> dict:
    """A database as the old code left it, with rows in every table; returns the rows."""
    md = metadata if metadata is not None else legacy_metadata(release)
    engine = plain_engine(url)
    md.create_all(engine)
    now = datetime(2026, 1, 2, 3, 4, 5)
    runs = [
        dict(id=i, key=f"k{i}" * 8, study="table6", dataset="synthetic", dataset_fingerprint="f" * 64,
             model="tf4ctr", loss="tf", seed=2023 + i, config={"lr": 0.001 * i, "dims": [4, 8]},
             status="done", attempts=1, created_at=now, started_at=now, finished_at=now,
             valid_auc=0.7 + i / 100, test_auc=0.69, metrics={"valid": {"AUC": 0.7}})
        for i in (1, 2)
    ]
    epochs = [dict(id=10 * r["id"] + e, run_id=r["id"], epoch=e, train_loss=0.5 / e, valid_auc=0.6,
                   learning_rate=1e-3, seconds=1.5) for r in runs for e in (1, 2)]
    rows = {"tfb_runs": runs, "tfb_epochs": epochs}
    if "tfb_study_runs" in md.tables:
        rows["tfb_study_runs"] = [dict(id=1, study="table6", key=runs[0]["key"], dataset="synthetic",
                                       cell={"model": "tf4ctr"}, seed=2023, quick=False)]
    with engine.begin() as conn:
        for name, values in rows.items():
            conn.execute(md.tables[name].insert(), values)
    engine.dispose()
    return rows


def version_rows(url: str, table: str = migrate.VERSION_TABLE) -> list[str]:
    engine = plain_engine(url)
    with engine.connect() as conn:
        out = [r[0] for r in conn.execute(sa.text(f"SELECT version_num FROM {table}"))]
    engine.dispose()
    return out


def schema_of(url: str) -> dict:
    """tfbench's tables as the database describes them (columns, indexes, constraints)."""
    engine = plain_engine(url)
    insp = sa.inspect(engine)
    out = {}
    for t in sorted(set(insp.get_table_names()) & TFB_TABLES):
        out[t] = {
            "columns": sorted((c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(t)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(t)),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(t)),
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"], f.get("options", {}).get("ondelete"))
                          for f in insp.get_foreign_keys(t)),
        }
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                out[t]["sql"] = sorted(
                    # whitespace aside (ALTER TABLE ADD COLUMN joins its column to the line before)
                    (r[0], " ".join((r[1] or "").split())) for r in conn.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE tbl_name = :t"), {"t": t})
                )
    engine.dispose()
    return out


def differences_from_models(url: str) -> list:
    """Alembic's autogenerate diff between the database and tfbench's ORM models (empty: equal)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = plain_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": migrate.tfbench_object, "compare_type": True})
        diffs = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    return diffs


def check_rows_survived(url: str, rows: dict) -> ResultStore:
    store = ResultStore(url)
    got = store.list_runs()
    assert [(r.id, r.key, r.seed, r.config, r.valid_auc, r.status) for r in got] == [
        (r["id"], r["key"], r["seed"], r["config"], r["valid_auc"], r["status"]) for r in rows["tfb_runs"]]
    assert all(r.optuna_study is None and r.optuna_trial is None for r in got)
    full = store.get_by_key(rows["tfb_runs"][0]["key"])
    assert [(e.epoch, e.train_loss) for e in full.epochs] == [(1, 0.5), (2, 0.25)]
    if "tfb_study_runs" in rows:
        ((link, run),) = store.study_runs("table6")
        assert link.cell == {"model": "tf4ctr"} and run.key == rows["tfb_runs"][0]["key"]
    store.set_info(got[1].id, optuna_study="tune-a", optuna_trial=7)  # the new columns work
    assert [r.optuna_trial for r in store.list_runs(study="tune-a")] == [7]
    return store


# ------------------------------------------------------------------------------------ revisions


def test_head_constant_names_the_single_head_of_the_shipped_revisions():
    assert migrate.head_revision() == migrate.HEAD
    versions = migrate.MIGRATIONS / "versions"
    assert (migrate.MIGRATIONS / "env.py").is_file() and (versions / "0001_baseline.py").is_file()
    assert migrate.MIGRATIONS.parent == Path(migrate.__file__).parent  # inside the package, not the repo


def test_migrations_are_package_data():
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"tfbench.db.migrations" = ["script.py.mako", "alembic.ini"]' in text
    for folder in (migrate.MIGRATIONS, migrate.MIGRATIONS / "versions"):
        assert (folder / "__init__.py").is_file()  # packages: setuptools ships their .py files


# ------------------------------------------------------------------------------------ the cases


def test_fresh_database_is_created_at_head_exactly_as_the_models_describe(db_url):
    store = ResultStore(db_url)
    assert version_rows(db_url) == [migrate.HEAD]
    assert differences_from_models(db_url) == []
    assert store.list_runs() == []
    if db_url.startswith("sqlite"):  # the very DDL create_all of the models emits (what the old code ran)
        other = db_url.replace("results.db", "models.db")
        Base.metadata.create_all(plain_engine(other))
        assert schema_of(db_url) == schema_of(other)


@pytest.mark.parametrize("release", ["studies", "first"])
def test_database_from_before_alembic_is_upgraded_in_place_with_its_rows(db_url, release):
    rows = make_old_database(db_url, release)
    before = schema_of(db_url)
    assert not set(TUNING_COLUMNS) & {c[0] for c in before["tfb_runs"]["columns"]}
    assert migrate.upgrade(_store_engine(db_url)) is True
    assert version_rows(db_url) == [migrate.HEAD]
    after = schema_of(db_url)
    assert set(TUNING_COLUMNS) <= {c[0] for c in after["tfb_runs"]["columns"]}
    assert ("ix_tfb_runs_optuna_study", ("optuna_study",), False) in after["tfb_runs"]["indexes"]
    assert set(after) == TFB_TABLES
    assert differences_from_models(db_url) == []
    check_rows_survived(db_url, rows)


def _store_engine(url: str) -> sa.engine.Engine:
    """ResultStore's engine (on SQLite every transaction begins IMMEDIATE), its migration skipped."""
    seen = {}

    def capture(engine):
        seen["engine"] = engine
        return False

    original, migrate.upgrade = migrate.upgrade, capture
    try:
        ResultStore(url)
    finally:
        migrate.upgrade = original
    return seen["engine"]


def test_opening_an_old_database_with_the_store_upgrades_it(db_url):
    rows = make_old_database(db_url)
    check_rows_survived(db_url, rows)  # ResultStore(url) is all it takes
    assert version_rows(db_url) == [migrate.HEAD]


def test_database_at_todays_schema_without_a_version_table_is_only_stamped(db_url):
    rows = make_old_database(db_url, metadata=Base.metadata)  # what the old code made since 06cf7f8
    before = schema_of(db_url)
    check_rows_survived(db_url, rows)
    assert version_rows(db_url) == [migrate.HEAD]
    assert schema_of(db_url) == before  # no DDL ran on tfbench's tables


def test_upgrade_is_idempotent_and_a_second_open_does_nothing(db_url):
    ResultStore(db_url)
    engine = _store_engine(db_url)
    assert migrate.upgrade(engine) is False
    assert version_rows(db_url) == [migrate.HEAD]


def test_a_database_from_a_newer_tfbench_is_refused_clearly(db_url):
    ResultStore(db_url)
    engine = plain_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {migrate.VERSION_TABLE} SET version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(RuntimeError, match="schema revision 9999_future, which this tfbench does not know"):
        ResultStore(db_url)


def test_an_old_table_lacking_a_required_column_is_refused_and_left_alone(db_url):
    md = legacy_metadata("studies")
    md.remove(md.tables["tfb_epochs"])
    epochs = Base.metadata.tables["tfb_epochs"]
    sa.Table("tfb_epochs", md, *[c._copy() for c in epochs.columns if c.name != "seconds"],
             sa.ForeignKeyConstraint(["run_id"], ["tfb_runs.id"], ondelete="CASCADE"))
    make_old_database(db_url, metadata=md)
    before = schema_of(db_url)
    with pytest.raises(RuntimeError, match="tfb_epochs lacks the non-nullable column seconds"):
        ResultStore(db_url)
    assert schema_of(db_url) == before  # the failed migration was rolled back whole
    engine = plain_engine(db_url)
    assert not sa.inspect(engine).has_table(migrate.VERSION_TABLE)
    engine.dispose()


# ------------------------------------------------------------------------------------ Optuna


def test_optuna_storage_in_the_same_database_keeps_working(db_url):
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = make_old_database(db_url)
    study = optuna.create_study(storage=db_url, study_name="before")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    optuna_version = version_rows(db_url, "alembic_version")
    assert optuna_version and optuna_version != [migrate.HEAD]

    check_rows_survived(db_url, rows)  # the tfbench store upgrades its tables only
    assert version_rows(db_url, "alembic_version") == optuna_version
    assert version_rows(db_url) == [migrate.HEAD]

    assert len(optuna.load_study(study_name="before", storage=db_url).trials) == 2
    again = optuna.create_study(storage=db_url, study_name="after")
    again.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert set(optuna.study.get_all_study_names(storage=db_url)) == {"before", "after"}
    assert migrate.upgrade(_store_engine(db_url)) is False
    assert version_rows(db_url, "alembic_version") == optuna_version


def test_store_first_then_optuna(db_url):
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ResultStore(db_url)
    study = optuna.create_study(storage=db_url, study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    storage = optuna.storages.RDBStorage(db_url)
    assert version_rows(db_url, "alembic_version") == [storage.get_current_version()]
    assert ResultStore(db_url).list_runs() == [] and version_rows(db_url) == [migrate.HEAD]


# ------------------------------------------------------------------------------------ concurrency

WORKER = textwrap.dedent("""
    import sys, time
    from alembic import command
    from tfbench.db import migrate
    from tfbench.db.store import ResultStore

    url, start = sys.argv[1], float(sys.argv[2])
    seen = {"locked": False, "migrated": None}
    real_lock, real_upgrade, real_command = migrate._lock, migrate.upgrade, command.upgrade

    def lock(conn):
        seen["locked"] = True
        real_lock(conn)

    def slow_command(cfg, rev):  # hold the lock a while, so that the others queue behind it
        time.sleep(0.5)
        real_command(cfg, rev)

    def upgrade(engine):
        seen["migrated"] = real_upgrade(engine)
        return seen["migrated"]

    migrate._lock, migrate.upgrade, command.upgrade = lock, upgrade, slow_command
    time.sleep(max(0.0, start - time.time()))
    store = ResultStore(url)
    store.list_runs()
    print("RESULT", seen["migrated"], seen["locked"])
""")


@pytest.mark.parametrize("start", ["fresh", "old"])
def test_processes_opening_one_database_at_once_migrate_it_exactly_once(db_url, start, tmp_path):
    rows = make_old_database(db_url) if start == "old" else None
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    n = 4
    at = time.time() + 4.0  # every worker has imported everything by then
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, str(script), db_url, str(at)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(n)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(next(line.split()[1:] for line in out.splitlines() if line.startswith("RESULT")))
    assert sorted(r[0] for r in results) == ["False"] * (n - 1) + ["True"], results
    assert version_rows(db_url) == [migrate.HEAD]
    assert differences_from_models(db_url) == []
    if rows is not None:
        check_rows_survived(db_url, rows)
