"""One daemon per database: a file lock beside a SQLite database, held for the daemon's life.

Two daemons acting on one database would launch twice, sweep each other's pods and double
the ledger. `spotsched run` takes an exclusive `flock` on `<database file>.lock` before it
touches the database and keeps it until the process ends (the kernel drops it when the process
dies, however it dies, so there is no stale lock to clean up). The holder writes its pid, host
and start time into the file; a second daemon reads them and refuses to start with one line
naming the holder. The CLI's listing and submitting commands never take the lock.

PostgreSQL is the scale-out path: there several daemons elect a leader (an advisory lock or a
lease, with an epoch that fences a deposed leader), which is its own issue. `hold_database`
is the seam: for a non-SQLite URL it holds nothing today.

What it must not do: wait (a second daemon exits at once), or trust the file's content (any
process can write it; it is read bounded and shown escaped).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from scheduler.domain.errors import SpotschedError

_MAX_HOLDER_BYTES = 4096


class DatabaseBusy(SpotschedError):
    """Another spotsched daemon already runs on this database."""


class LockFileError(SpotschedError):
    """The daemon lock file beside the database cannot be opened."""


@dataclass
class DatabaseLock:
    """A held lock; `release` (or the process ending) lets the next daemon in."""

    path: Path
    fd: int | None

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None


def lock_path(database_url: str) -> Path | None:
    """`<file>.lock` for a SQLite file database; None for memory and other databases."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database + ".lock")


def hold_database(database_url: str, now: datetime | None = None) -> DatabaseLock | None:
    """Take the database's daemon lock, or raise `DatabaseBusy` naming the holder.

    None for databases without a file lock (PostgreSQL: leader election goes here)."""
    path = lock_path(database_url)
    if path is None:
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise LockFileError(
            f"cannot open the daemon lock file {path}: {exc.strerror or exc}"
            " (the database's folder must exist and be writable by the daemon)"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _describe(_read_holder(fd))
        os.close(fd)
        raise DatabaseBusy(
            f"another spotsched daemon already runs on this database ({holder}; lock file"
            f" {path}): stop it first, or give this one its own database"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    when = (now or datetime.now(UTC)).astimezone(UTC)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": when.isoformat()}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
    return DatabaseLock(path, fd)


def _read_holder(fd: int) -> dict[str, object]:
    try:
        raw = os.pread(fd, _MAX_HOLDER_BYTES, 0)
        data = json.loads(raw.decode("utf-8", errors="replace"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _clean(value: object, limit: int = 64) -> str | None:
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    text = "".join(c for c in str(value) if c.isprintable())[:limit]
    return text or None


def _describe(holder: dict[str, object]) -> str:
    """`pid 123 on host box since 2026-12-04 16:40:00 UTC`, with what the file tells."""
    pid, host, since = (_clean(holder.get(k)) for k in ("pid", "host", "since"))
    if pid is None and host is None:
        return "holder unknown: the lock file names none"
    parts = [f"pid {pid or '?'}", f"on host {host or '?'}"]
    if since is not None:
        try:
            parts.append(f"since {datetime.fromisoformat(since):%Y-%m-%d %H:%M:%S %Z}".rstrip())
        except ValueError:
            parts.append(f"since {since}")
    return " ".join(parts)
