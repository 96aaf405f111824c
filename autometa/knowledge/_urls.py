"""Database URLs without their passwords: one form to show, one to keep.

A storage or knowledge-base URL (``postgresql+psycopg://user:password@host/db``) may
carry a password in its user part or in its query (``?password=...``). Whatever autometa
shows (a ``repr``, an error, a log line, the CLI's echo) passes through :func:`mask_url`,
which writes the password as ``***`` with SQLAlchemy's own
``render_as_string(hide_password=True)``; whatever it keeps beyond the caller's own
objects (a saved model) passes through :func:`without_password`, which leaves it out,
so that opening the URL again takes the password from the user or the driver's own
sources (``PGPASSWORD`` or ``~/.pgpass`` for PostgreSQL). Text that is not a URL (a
file path) passes unchanged. This module sits in the knowledge layer, the lowest that
opens databases, so the search layer and the surface import it too.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

MASK = "***"
"""What a password is shown as."""

SECRET_QUERY_KEYS = ("password", "passwd", "pwd", "sslpassword")
"""Query options that carry a password (libpq's and MySQL drivers' names)."""

_SECRET_QUERY = re.compile(
    r"([?&](?:" + "|".join(SECRET_QUERY_KEYS) + r")=)[^&#]*", flags=re.IGNORECASE
)
_USER_PASSWORD = re.compile(r"(://[^:/@?#]*):[^@/?#]*@")


def is_url(text: object) -> bool:
    """Whether ``text`` is a string in URL form (``scheme://...``), not a file path."""
    return isinstance(text, str) and "://" in text


def mask_url(text: str) -> str:
    """``text`` to show: a URL with every password written as ``***``; other text as is.

    A URL SQLAlchemy cannot parse (a port that is not a number, say) is masked by
    pattern, so even the error that reports it shows no password.
    """
    if not is_url(text):
        return text
    try:
        shown = make_url(text).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        shown = _USER_PASSWORD.sub(rf"\1:{MASK}@", text)
    return _SECRET_QUERY.sub(rf"\1{MASK}", shown)


def without_password(text: str) -> str:
    """``text`` to keep: a URL with its password (user part and query) left out.

    Opening the result again needs the password from elsewhere: passed again by the
    user, or found by the driver (PostgreSQL's libpq reads ``PGPASSWORD`` and
    ``~/.pgpass``). A URL SQLAlchemy cannot parse is kept masked (:func:`mask_url`);
    other text is returned as is.
    """
    if not is_url(text):
        return text
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        return mask_url(text)
    secret = [key for key in url.query if key.lower() in SECRET_QUERY_KEYS]
    url = url.difference_update_query(secret)
    kept = URL.create(
        url.drivername,
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return kept.render_as_string(hide_password=False)
