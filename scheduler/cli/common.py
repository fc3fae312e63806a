"""What every CLI command shares: finding the config and database, printing, exit codes.

Exit codes scripts can rely on: 0 ok, 1 runtime failure, 2 invalid input (config, job, flags),
3 not found, 4 daemon unhealthy (`spotsched status`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from scheduler.daemon.config import ConfigError, Settings, load_settings
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


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(code)


def settings_from(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        fail(exc.message, EXIT_INVALID)


@contextmanager
def opened_store(config: Path | None, db: str | None) -> Iterator[tuple[Store, Settings]]:
    """A store on the configured database, migrated to head (so the CLI works before the
    daemon ever ran)."""
    settings = settings_from(config)
    url = db or settings.database_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        parent = Path(url.removeprefix("sqlite:///")).parent
        if not parent.exists():
            fail(f"database folder {parent} does not exist (set --db or state_dir)", EXIT_INVALID)
    engine = open_engine(url)
    try:
        upgrade(engine)
        yield Store(engine), settings
    except SpotschedError as exc:
        fail(exc.message)
    finally:
        engine.dispose()


def to_jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, sort_keys=False) + "\n")


def money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.4f}" if abs(value) < 10 else f"${value:,.2f}"


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in {"1", "true", "yes"}
