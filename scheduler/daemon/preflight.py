"""What `spotsched run` and `spotsched check-config` check before anything starts: the
database URL, its dialect and driver, the SQLite folder and file, the metrics address, the
environment. Each problem is one sentence naming the setting to change, never a traceback.

`StartupError.invalid` tells the configuration's fault (exit 2: fix the file) from the
machine's (exit 1: a folder, a permission, a port someone else holds). This module never
creates, migrates or writes anything; `run` does that afterwards.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from scheduler.daemon.config import ENV_PREFIX, Settings, env_overrides
from scheduler.domain.errors import SpotschedError

DIALECTS = ("sqlite", "postgresql")
URL_EXAMPLES = "sqlite:////var/lib/spotsched/spotsched.db or postgresql+psycopg://user@host/db"
PG_CONNECT_TIMEOUT = 5
# SPOTSCHED_* names that are not settings but still spotsched's own.
# (JOB_ID, ATTEMPT and INSTALLATION are what the daemon puts in a pod's env.)
OTHER_ENV = ("CONFIG", "EMULATOR_API_KEY", "JOB_ID", "ATTEMPT", "INSTALLATION")
OTHER_ENV_PREFIXES = ("SIM_",)
SDK_BASE_URL = "RUNPOD_API_BASE_URL"


class StartupError(SpotschedError):
    """spotsched cannot start."""

    def __init__(self, message: str, *, invalid: bool = False) -> None:
        super().__init__(message)
        self.invalid = invalid


def where(url: str) -> str:
    """The database for messages: the SQLite file, or the URL without its password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "(URL not shown)"
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def check_database_url(url: str) -> None:
    """The URL parses, names a dialect spotsched supports, and its driver is installed."""
    try:
        parsed = make_url(url)
    except ArgumentError:  # its message repeats the URL, which may hold a password
        raise StartupError(
            f"database URL is not valid (e.g. {URL_EXAMPLES})", invalid=True
        ) from None
    dialect = parsed.get_backend_name()
    if dialect not in DIALECTS:
        raise StartupError(
            f"database dialect {dialect!r} is not supported: use {' or '.join(DIALECTS)} "
            f"(e.g. {URL_EXAMPLES})",
            invalid=True,
        )
    if dialect == "postgresql":
        try:
            create_engine(_driver_url(url)).dispose()
        except (ImportError, NoSuchModuleError) as exc:
            raise StartupError(
                f"the PostgreSQL driver is not installed ({exc}): "
                "pip install 'spotsched[postgres]' and use postgresql+psycopg://",
                invalid=True,
            ) from None


def _driver_url(url: str) -> str:
    # As `open_engine` does: plain postgresql:// means psycopg (3), not psycopg2.
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def check_sqlite_location(url: str, *, state_dir: str | None = None) -> None:
    """The SQLite file's folder exists and is writable, and so is the file if it exists
    (SQLite writes `-wal` and `-shm` files beside it). `state_dir`: the folder is that one,
    which `run` creates when it is missing, so its nearest existing parent must be writable."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    file = Path(parsed.database)
    folder = file.parent
    who = f"user {os.geteuid()}"
    if not folder.is_dir() and state_dir is not None:
        parent = next((p for p in Path(state_dir).absolute().parents if p.is_dir()), Path("/"))
        if not os.access(parent, os.W_OK | os.X_OK):
            raise StartupError(
                f"state_dir {state_dir} does not exist and {parent} is not writable by {who} "
                "to create it: create it, or set state_dir (SPOTSCHED_STATE_DIR)"
            )
        return
    if not folder.is_dir():
        raise StartupError(
            f"database folder {folder} does not exist: create it, or set [database] url "
            "(SPOTSCHED_DATABASE_URL)"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StartupError(
            f"database folder {folder} is not writable by {who} (SQLite writes its -wal "
            "and -shm files there): fix its owner or mode, or set state_dir"
        )
    if file.exists() and not os.access(file, os.R_OK | os.W_OK):
        raise StartupError(f"database {file} is read-only for {who}: fix its owner or mode")


def explain_database_error(url: str, exc: DBAPIError) -> StartupError:
    """A driver error met while opening or migrating the database, as one sentence (the
    driver's own first line: no statement, no parameters, no password)."""
    detail = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc).__name__
    db = where(url)
    if "readonly" in detail.replace(" ", "") or "read-only" in detail:
        return StartupError(f"database {db} is read-only ({detail}): fix its owner or mode")
    if "unable to open database file" in detail:
        return StartupError(f"cannot open database {db} ({detail}): check the folder and mode")
    return StartupError(f"database {db}: {detail}")


def probe_database(url: str) -> None:
    """Connect once (check-config): PostgreSQL reachable and the credentials accepted."""
    if make_url(url).get_backend_name() != "postgresql":
        return
    engine: Engine = create_engine(
        _driver_url(url), connect_args={"connect_timeout": PG_CONNECT_TIMEOUT}
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        raise explain_database_error(url, exc) from None
    finally:
        engine.dispose()


def check_port(host: str, port: int) -> None:
    """The metrics address can be bound now (port 0: any free port, always fine)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else str(exc)
        raise StartupError(
            f"cannot serve metrics on {host}:{port}: {reason} (set [metrics] port or host, "
            "SPOTSCHED_METRICS_PORT, or enabled = false)"
        ) from None


def check_settings(settings: Settings) -> list[StartupError]:
    """The database's start-up problems that can be seen without connecting (the metrics
    address is `check_port`'s: `check-config` tells a running daemon's port apart)."""
    problems: list[StartupError] = []
    url = settings.database_url
    try:
        check_database_url(url)
        default = settings.database.url is None
        check_sqlite_location(url, state_dir=settings.state_dir if default else None)
    except StartupError as exc:
        problems.append(exc)
    return problems


def environment_warnings(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(name, why) of variables that look meant for spotsched but are not read; the value is
    never part of it."""
    known_sections = set(env_overrides(environ))
    warnings = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name.removeprefix(ENV_PREFIX)
        if rest in OTHER_ENV or rest.startswith(OTHER_ENV_PREFIXES):
            continue
        key = rest.lower()
        if key == "state_dir" or any(key.startswith(s + "_") for s in known_sections):
            continue
        warnings.append((name, "not a spotsched setting: ignored (a typo?)"))
    if environ.get(SDK_BASE_URL):
        warnings.append(
            (
                SDK_BASE_URL,
                "read by the runpod Python SDK, not by spotsched: set [runpod] api_url "
                "(SPOTSCHED_RUNPOD_API_URL) to point spotsched elsewhere",
            )
        )
    return warnings
