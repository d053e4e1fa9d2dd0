"""Alembic migrations of the results database (see env.py and tfbench/db/migrate.py)."""
