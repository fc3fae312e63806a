"""Building the database engine and bringing its schema up to date.

`daemon.py` and the CLI call `open_engine(url)`; tests pass their own engines. SQLite gets WAL,
a busy timeout and foreign keys on every connection, so the daemon and CLI (or a user's own
program inserting rows) can share the file.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.pool import NullPool

BUSY_TIMEOUT_MS = 10_000
WAL_SWITCH_ATTEMPTS = 50


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path)}"


def open_engine(url: str) -> Engine:
    """An engine for `url` (sqlite:///path or postgresql+psycopg://...)."""
    if url.startswith("sqlite"):
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _enter_wal(cur)
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _enter_wal(cur: Any) -> None:
    """Switch a file to WAL once. The switch needs an exclusive lock, and SQLite answers
    "database is locked" at once, without waiting on the busy timeout, when another process
    opening the same new file holds a shared lock; so retry for a few seconds."""
    for attempt in range(WAL_SWITCH_ATTEMPTS):
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_SWITCH_ATTEMPTS - 1:
                raise
            time.sleep(0.02 * (attempt + 1))


def open_read_only_engine(url: str) -> Engine:
    """An engine that can only read `url`, for the listing commands (`jobs`, `status`, ...).

    It never migrates, never switches the journal mode and never creates a file: it works on
    a database file the user may only read (`chmod 0444`, in a folder they cannot write), as
    the systemd service's database is to its operators. PostgreSQL: every transaction is
    `READ ONLY`. SQLite: `mode=ro`; when no `-wal` file exists no connection has the database
    open (the last one to close removes it), and the file is read as `immutable`, because a
    `mode=ro` open would otherwise create `-wal` and `-shm` files, which, made by root in the
    service's folder, would lock the service out of its own database.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return open_engine(url).execution_options(postgresql_readonly=True)
    if parsed.database in (None, "", ":memory:"):
        return create_engine(url)
    path = Path(parsed.database).absolute()
    uri = f"file:{quote(str(path))}?mode=ro"
    if not Path(f"{path}-wal").exists():
        uri += "&immutable=1"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)

    return create_engine("sqlite://", creator=connect, poolclass=NullPool)
