"""tfb_runs.threads: the CPU threads a run trained with (torch.get_num_threads()). Reductions
are split across threads, so the same run key gives bit-for-bit the same metrics only at the same
thread count; a run records it so that a difference can be explained.

Revision ID: 0003_run_threads
Revises: 0002_recordings
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_run_threads"
down_revision = "0002_recordings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "threads" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("tfb_runs")}:
        with op.batch_alter_table("tfb_runs") as batch:   # batch: SQLite's ALTER TABLE is limited
            batch.add_column(sa.Column("threads", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tfb_runs") as batch:
        batch.drop_column("threads")
