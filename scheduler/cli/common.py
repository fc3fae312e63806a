"""What every CLI command shares: finding the config and database, printing, exit codes.

Exit codes scripts can rely on: 0 ok, 1 runtime failure, 2 invalid input (config, job, flags),
3 not found, 4 daemon unhealthy (`spotsched status`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import structlog
import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from sqlalchemy.exc import ArgumentError, DBAPIError

from scheduler.daemon.config import ConfigError, Settings, load_settings
from scheduler.daemon.logs import configure_logging
from scheduler.domain.errors import SpotschedError
from scheduler.store import Store, open_engine
from scheduler.store.migrate import upgrade

EXIT_OK, EXIT_FAILURE, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_UNHEALTHY = 0, 1, 2, 3, 4

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="SPOTSCHED_CONFIG",
        show_default=False,
        help="Config file (TOML). Default: none, i.e. built-in defaults and SPOTSCHED_* env.",
    ),
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="SPOTSCHED_DATABASE_URL",
        show_default=False,
        help="Database URL, overriding the config (e.g. sqlite:///./spotsched.db).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (stable field names).")]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def utc_now() -> datetime:
    return datetime.now(UTC)


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    raise typer.Exit(code)


def settings_from(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        fail(exc.message, EXIT_INVALID)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", markup=True)


def missing_sqlite_folder(url: str) -> Path | None:
    """The folder a SQLite file URL points into, if that folder does not exist."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        parent = Path(url.removeprefix("sqlite:///")).parent
        if not parent.exists():
            return parent
    return None


@contextmanager
def store_at(settings: Settings, db: str | None) -> Iterator[Store]:
    """A store on `db` or the configured database, migrated to head (so the CLI works before
    the daemon ever ran). Database errors end the command with a message, not a traceback."""
    url = db or settings.database_url
    parent = missing_sqlite_folder(url)
    if parent is not None:
        fail(f"database folder {parent} does not exist (set --db or state_dir)", EXIT_INVALID)
    try:
        engine = open_engine(url)
    except ArgumentError:  # its message repeats the URL, which may hold a password
        fail(
            "database URL is not valid (e.g. sqlite:////var/lib/spotsched/spotsched.db or "
            "postgresql+psycopg://user@host/db)",
            EXIT_INVALID,
        )
    try:
        upgrade(engine)
        yield Store(engine)
    except SpotschedError as exc:
        fail(exc.message)
    except DBAPIError as exc:
        # The driver's own words (no statement, no parameters, no password).
        fail(f"database error: {str(exc.orig).strip().splitlines()[0]}")
    finally:
        engine.dispose()


@contextmanager
def opened_store(config: Path | None, db: str | None) -> Iterator[tuple[Store, Settings]]:
    """The settings from `config` and a store on the configured database (see `store_at`)."""
    settings = settings_from(config)
    with store_at(settings, db) as store:
        yield store, settings


@contextmanager
def cli_logging() -> Iterator[None]:
    """Log lines (warnings and errors only) to stderr while a command runs, never to stdout
    where tables and JSON go; the previous logging setup is restored afterwards."""
    saved = structlog.get_config()
    was_configured = structlog.is_configured()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("auto", "warning", sys.stderr)
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        if was_configured:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown(value: Any) -> str:
    """A value as plain text safe for a terminal: control characters (terminal escapes, NUL,
    newlines) are shown as `\\xNN`, bytes are decoded with escapes. Anyone can write a job's
    name or a database column, so nothing read from there reaches a terminal raw."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value).decode("utf-8", "backslashreplace")
    else:
        text = str(value)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def cell(value: Any) -> Text:
    """A table cell that is never read as Rich markup (a job named `[/bold]` stays that)."""
    return Text(shown(value))


def markup_safe(value: Any) -> str:
    """`shown(value)` for a string that is printed with Rich markup around it."""
    return escape(shown(value))


def to_jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, sort_keys=False) + "\n")


def money(value: float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return shown(value)  # a hostile row: show what is there, never crash
    return f"${value:,.4f}" if abs(value) < 10 else f"${value:,.2f}"


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in {"1", "true", "yes"}
