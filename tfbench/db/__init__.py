"""The results database (SQLAlchemy 2.0; SQLite by default, any SQLAlchemy URL works)."""

from tfbench.db.schema import Base, EpochRow, RunRow, StudyRunRow, TABLE_PREFIX
from tfbench.db.store import ResultStore, RunInProgress, default_db_url

__all__ = ["Base", "EpochRow", "RunRow", "StudyRunRow", "TABLE_PREFIX", "ResultStore", "RunInProgress", "default_db_url"]
