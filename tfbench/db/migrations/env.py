"""Alembic environment of tfbench's results database.

Its version table is ``tfb_alembic_version``, so Optuna's ``alembic_version`` in the same database
is never read or written, and autogenerate looks at ``tfb_*`` tables only (it must not propose to
drop Optuna's). ``tfbench.db.migrate.upgrade`` runs it on a connection that already holds the
migration lock inside an open transaction (``config.attributes["connection"]``); the migrations
then run in that transaction and the caller commits.

From the command line (to write a new revision): ``alembic -c tfbench/db/migrations/alembic.ini
revision --autogenerate -m "what changes"``, with ``$TFBENCH_DB`` pointing at a database at head.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from tfbench.db.migrate import VERSION_TABLE, tfbench_object
from tfbench.db.schema import Base
from tfbench.db.store import default_db_url


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        include_object=tfbench_object,
        render_as_batch=True,  # SQLite alters most columns only by copying the table
        compare_type=True,
    )


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.config.get_main_option("sqlalchemy.url") or default_db_url()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("tfbench's migrations run online only (alembic upgrade without --sql)")
run()
