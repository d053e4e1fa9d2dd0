"""Database URLs as they may be shown: with the password masked.

Every message, log line or table that names a results database goes through :func:`masked_url`,
so ``--db postgresql+psycopg://user:SECRET@host/db`` never ends up on a terminal or in a CI log."""

from __future__ import annotations

import re

import sqlalchemy as sa

# user:password@ in a URL that SQLAlchemy cannot parse (it is about to be refused, but is printed first)
_CREDENTIALS = re.compile(r"(//[^/:@]*):[^@/]*@")


def masked_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return _CREDENTIALS.sub(r"\1:***@", url)
