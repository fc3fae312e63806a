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

from sqlalchemy import Engine, create_engine, event

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
