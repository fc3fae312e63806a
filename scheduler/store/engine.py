"""Building the database engine and bringing its schema up to date.

`daemon.py` and the CLI call `open_engine(url)`; tests pass their own engines. SQLite gets WAL,
a busy timeout and foreign keys on every connection, so the daemon and CLI (or a user's own
program inserting rows) can share the file.

The database holds job env values (which may be secrets), so a SQLite file spotsched creates is
created mode 0600 before SQLite opens it (SQLite gives its -wal and -shm files the same mode).
A file that already exists keeps the mode its owner gave it: a looser one is warned about once
per engine, never chmod-ed. Folders are not created here (the daemon creates its state
directory 0700; systemd's StateDirectoryMode and the Docker image do the same).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import structlog
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

BUSY_TIMEOUT_MS = 10_000
WAL_SWITCH_ATTEMPTS = 50
FILE_MODE = 0o600


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path)}"


def open_engine(url: str) -> Engine:
    """An engine for `url` (sqlite:///path or postgresql+psycopg://...)."""
    if url.startswith("sqlite"):
        engine = create_engine(url)
        path = sqlite_file(engine.url)
        if path is not None:
            event.listen(engine, "do_connect", _private_file_first(path))
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def sqlite_file(url: URL | str) -> Path | None:
    """The file a SQLite URL may create: None for memory databases and read-only URIs."""
    url = make_url(url) if isinstance(url, str) else url
    database = url.database
    if not database or database == ":memory:":
        return None
    if not database.startswith("file:"):
        return Path(database)
    # A URI filename: SQLAlchemy keeps `?mode=ro&uri=true` in url.query, a raw URI in database.
    parts = urlsplit(database)
    inner = parse_qs(parts.query).get("mode", [])
    outer = url.query.get("mode")
    mode = inner[-1] if inner else (outer if isinstance(outer, str) else "rwc")
    if mode != "rwc" or not parts.path or parts.path == ":memory:":
        return None
    return Path(unquote(parts.path))


def create_private_file(path: Path) -> bool:
    """Create `path` empty with mode 0600 if it does not exist; True if this call created it.

    An empty file is a valid new SQLite database. A missing folder or a read-only file system
    is left for SQLite to report in its own words."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except OSError:
        return False
    os.close(fd)
    return True


def loose_mode(path: Path) -> int | None:
    """The mode of an existing file that others (group or world) may read or write, else None."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return mode if mode & 0o077 else None


def _private_file_first(path: Path) -> Callable[..., None]:
    warned = False

    def before_connect(*_args: Any) -> None:
        nonlocal warned
        if create_private_file(path) or warned:
            return
        mode = loose_mode(path)
        if mode is not None:
            warned = True
            _warn(
                "database_file_permissions",
                path=str(path),
                mode=f"{mode:04o}",
                detail="other users can read or write the database (job env values included); "
                "chmod 600 it unless that is intended",
            )

    return before_connect


def _warn(event_name: str, **values: Any) -> None:
    """A warning through structlog when the program configured it, else through the standard
    library (stderr): an unconfigured structlog prints to stdout, where CLI JSON goes."""
    if structlog.is_configured():
        structlog.get_logger("spotsched.store").warning(event_name, **values)
    else:
        detail = " ".join(f"{k}={v}" for k, v in values.items())
        logging.getLogger("spotsched.store").warning("%s %s", event_name, detail)


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
