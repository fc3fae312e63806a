"""`spotsched run | check-config | db upgrade`: running and preparing the daemon."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scheduler.cli.common import (
    EXIT_INVALID,
    ConfigOption,
    DbOption,
    fail,
    opened_store,
    out,
    settings_from,
)
from scheduler.daemon.config import ConfigError
from scheduler.daemon.jobs_file import load_jobs_file
from scheduler.daemon.secrets import load_api_key
from scheduler.domain.errors import SpotschedError
from scheduler.domain.job import JobInputError
from scheduler.store.migrate import current_revision, head_revision


def run(config: ConfigOption = None) -> None:
    """Run the daemon in the foreground (systemd, Docker, or a terminal)."""
    from scheduler.daemon.run import Daemon

    try:
        daemon = Daemon(str(config) if config else None)
    except ConfigError as exc:
        fail(exc.message, EXIT_INVALID)
    except JobInputError as exc:
        fail(exc.message, EXIT_INVALID)
    try:
        code = daemon.run()
    except JobInputError as exc:
        fail(f"jobs file: {exc.message}", EXIT_INVALID)
    except SpotschedError as exc:
        fail(exc.message)
    raise typer.Exit(code)


def check_config(
    config: ConfigOption = None,
    jobs: Annotated[
        Path | None, typer.Option("--jobs", help="Also validate this jobs file.")
    ] = None,
) -> None:
    """Validate the configuration (and a jobs file) without starting anything."""
    settings = settings_from(config)
    try:
        key = load_api_key(settings)
    except ConfigError as exc:
        fail(exc.message, EXIT_INVALID)
    for warning in key.warnings:
        out.print(f"warning: {warning}")
    files = [jobs] if jobs else []
    if settings.scheduler.jobs_file:
        files.append(Path(settings.scheduler.jobs_file))
    for path in files:
        try:
            specs = load_jobs_file(path)
        except JobInputError as exc:
            lines = "\n".join(f"  {f}: {m}" for f, m in exc.problems)
            fail(f"{path}:\n{lines}", EXIT_INVALID)
        out.print(f"{path}: {len(specs)} job(s) valid")
    out.print(
        f"config ok (database {settings.database_url.split('://')[0]}, API key from {key.source})"
    )


db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None, db: DbOption = None) -> None:
    """Bring the database schema to the newest revision (the daemon also does this on start)."""
    with opened_store(config, db) as (store, _settings):
        rev = current_revision(store.engine)
    out.print(f"database at revision {rev} (head {head_revision()})")


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command("check-config")(check_config)
    app.add_typer(db_app, name="db")
