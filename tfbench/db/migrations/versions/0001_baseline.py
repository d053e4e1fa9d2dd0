"""Baseline: tfbench's results schema as it stood when Alembic took over (tfb_runs, tfb_epochs,
tfb_study_runs).

On an empty database this creates the three tables. A database made before Alembic (no
``tfb_alembic_version``) is adopted instead: a table that is missing is created, and a table
that lacks columns gets them added with their indexes. The only such columns in tfbench's
history are ``tfb_runs.optuna_study`` and ``tfb_runs.optuna_trial`` (added with Optuna tuning),
and ``tfb_study_runs`` came after the first release; a database already at this schema is left
exactly as it is and only stamped. Columns a table lacks must be nullable (they are in every
release), else this refuses rather than guess a default.

The tables are spelled out here, not imported from ``tfbench.db.schema``: a revision must keep
describing the schema of its day when the models change later.

Revision ID: 0001_baseline
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

_meta = sa.MetaData()

RUNS = sa.Table(
    "tfb_runs", _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(64), nullable=False, unique=True, index=True),
    sa.Column("study", sa.String(128), nullable=True, index=True),
    sa.Column("dataset", sa.String(256), nullable=False, index=True),
    sa.Column("dataset_fingerprint", sa.String(64), nullable=False),
    sa.Column("model", sa.String(64), nullable=False, index=True),
    sa.Column("loss", sa.String(64), nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime, nullable=True),
    sa.Column("heartbeat_at", sa.DateTime, nullable=True),
    sa.Column("host", sa.String(256), nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("device", sa.String(64), nullable=True),
    sa.Column("torch_version", sa.String(64), nullable=True),
    sa.Column("tfbench_version", sa.String(64), nullable=True),
    sa.Column("git_commit", sa.String(64), nullable=True),
    sa.Column("num_params", sa.Integer, nullable=True),
    sa.Column("optuna_study", sa.String(256), nullable=True, index=True),
    sa.Column("optuna_trial", sa.Integer, nullable=True),
    sa.Column("best_epoch", sa.Integer, nullable=True),
    sa.Column("epochs_run", sa.Integer, nullable=True),
    sa.Column("valid_auc", sa.Float, nullable=True),
    sa.Column("valid_gauc", sa.Float, nullable=True),
    sa.Column("valid_logloss", sa.Float, nullable=True),
    sa.Column("test_auc", sa.Float, nullable=True),
    sa.Column("test_gauc", sa.Float, nullable=True),
    sa.Column("test_logloss", sa.Float, nullable=True),
    sa.Column("metrics", sa.JSON, nullable=True),
    sa.Column("train_seconds", sa.Float, nullable=True),
    sa.Column("inference_seconds", sa.Float, nullable=True),
    sa.Column("samples_per_second", sa.Float, nullable=True),
)

STUDY_RUNS = sa.Table(
    "tfb_study_runs", _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("study", sa.String(128), nullable=False, index=True),
    sa.Column("key", sa.String(64), nullable=False, index=True),
    sa.Column("dataset", sa.String(256), nullable=False),
    sa.Column("cell", sa.JSON, nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("quick", sa.Boolean, nullable=False),
    sa.UniqueConstraint("study", "key"),
)

EPOCHS = sa.Table(
    "tfb_epochs", _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("tfb_runs.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("epoch", sa.Integer, nullable=False),
    sa.Column("train_loss", sa.Float, nullable=False),
    sa.Column("valid_auc", sa.Float, nullable=True),
    sa.Column("valid_gauc", sa.Float, nullable=True),
    sa.Column("valid_logloss", sa.Float, nullable=True),
    sa.Column("learning_rate", sa.Float, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.UniqueConstraint("run_id", "epoch"),
)

TABLES = (RUNS, STUDY_RUNS, EPOCHS)  # in dependency order


def _complete(table: sa.Table, have: set[str], bind) -> None:
    """Add the columns of ``table`` that a pre-Alembic database lacks, and their indexes."""
    added = set()
    for col in table.columns:
        if col.name in have:
            continue
        if not col.nullable:
            raise RuntimeError(f"table {table.name} lacks the non-nullable column {col.name}; cannot adopt this database")
        op.add_column(table.name, sa.Column(col.name, col.type, nullable=True))
        added.add(col.name)
    existing = {ix["name"] for ix in sa.inspect(bind).get_indexes(table.name)}
    for index in table.indexes:
        if added & {c.name for c in index.columns} and index.name not in existing:
            op.create_index(index.name, table.name, [c.name for c in index.columns], unique=bool(index.unique))


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    present = set(inspector.get_table_names())
    for table in TABLES:
        if table.name not in present:
            table.create(bind)
        else:
            _complete(table, {c["name"] for c in inspector.get_columns(table.name)}, bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind, checkfirst=True)
