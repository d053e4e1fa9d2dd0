"""Recordings: what a run records beyond its metrics when its settings ask for it (difficulty
bands and prediction histograms per evaluation, gradient norms per optimizer step, timed phases),
each in its own table keyed by the run and removed with it.

The tables are spelled out here, not imported from ``tfbench.db.schema``, so that this revision
keeps describing the schema of its day.

Revision ID: 0002_recordings
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_recordings"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def _run_id() -> sa.Column:
    return sa.Column("run_id", sa.Integer, sa.ForeignKey("tfb_runs.id", ondelete="CASCADE"), nullable=False, index=True)


def _tables() -> dict[str, tuple]:
    """Each new table's columns and constraints, by name."""
    return dict(
        tfb_bands=(
            sa.Column("id", sa.Integer, primary_key=True), _run_id(),
            sa.Column("epoch", sa.Integer, nullable=False),
            sa.Column("split", sa.String(8), nullable=False),
            sa.Column("label", sa.Integer, nullable=False),
            sa.Column("misclassified", sa.Integer, nullable=False),
            sa.Column("poorly", sa.Integer, nullable=False),
            sa.Column("well", sa.Integer, nullable=False),
            sa.UniqueConstraint("run_id", "epoch", "split", "label"),
        ),
        tfb_histograms=(
            sa.Column("id", sa.Integer, primary_key=True), _run_id(),
            sa.Column("epoch", sa.Integer, nullable=False),
            sa.Column("split", sa.String(8), nullable=False),
            sa.Column("label", sa.Integer, nullable=False),
            sa.Column("bin", sa.Integer, nullable=False),
            sa.Column("bins", sa.Integer, nullable=False),
            sa.Column("count", sa.Integer, nullable=False),
            sa.UniqueConstraint("run_id", "epoch", "split", "label", "bin"),
        ),
        tfb_grad_steps=(
            sa.Column("id", sa.Integer, primary_key=True), _run_id(),
            sa.Column("step", sa.Integer, nullable=False),
            sa.Column("epoch", sa.Integer, nullable=False),
            sa.Column("loss", sa.Float, nullable=False),
            sa.Column("grad_z_s", sa.Float, nullable=False),
            sa.Column("grad_z_c", sa.Float, nullable=False),
            sa.UniqueConstraint("run_id", "step"),
        ),
        tfb_timings=(
            sa.Column("id", sa.Integer, primary_key=True), _run_id(),
            sa.Column("phase", sa.String(32), nullable=False),
            sa.Column("repeat", sa.Integer, nullable=False),
            sa.Column("seconds", sa.Float, nullable=False),
            sa.Column("rows", sa.Integer, nullable=False),
            sa.UniqueConstraint("run_id", "phase", "repeat"),
        ),
    )


def upgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name, parts in _tables().items():
        if name not in present:
            op.create_table(name, *parts)


def downgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name in reversed(list(_tables())):
        if name in present:
            op.drop_table(name)
