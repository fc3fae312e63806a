"""`spotsched run | check-config | db upgrade`: running and preparing the daemon."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from scheduler.cli.common import (
    EXIT_FAILURE,
    EXIT_INVALID,
    ConfigOption,
    DbOption,
    fail,
    opened_store,
    out,
    settings_from,
    warn,
)
from scheduler.cli.money_cmd import probe_healthz
from scheduler.daemon.config import ConfigError, Settings
from scheduler.daemon.jobs_file import load_jobs_file
from scheduler.daemon.preflight import (
    StartupError,
    check_port,
    check_settings,
    environment_warnings,
    probe_database,
    where,
)
from scheduler.daemon.secrets import load_api_key
from scheduler.domain.errors import SpotschedError
from scheduler.domain.job import JobInputError
from scheduler.store.migrate import current_revision, head_revision


def run(config: ConfigOption = None) -> None:
    """Run the daemon in the foreground (systemd, Docker, or a terminal).

    Exit 2 when the configuration is invalid (a value, the database URL or dialect, the jobs
    file), 1 when the machine refuses (a database folder or file that is missing or not
    writable, a metrics port in use, a database that cannot be reached)."""
    from scheduler.daemon.run import Daemon

    try:
        daemon = Daemon(str(config) if config else None)
    except (ConfigError, JobInputError) as exc:
        fail(exc.message, EXIT_INVALID)
    except StartupError as exc:
        fail(exc.message, EXIT_INVALID if exc.invalid else EXIT_FAILURE)
    except SpotschedError as exc:  # another daemon holds the database, its lock file fails
        fail(exc.message)
    try:
        code = daemon.run()
    except JobInputError as exc:
        fail(f"jobs file: {exc.message}", EXIT_INVALID)
    except StartupError as exc:
        fail(exc.message, EXIT_INVALID if exc.invalid else EXIT_FAILURE)
    except SpotschedError as exc:
        fail(exc.message)
    raise typer.Exit(code)


def _port_problem(settings: Settings) -> tuple[str | None, str | None]:
    """(problem, warning) about the metrics address: in use by a running spotsched (its
    /healthz answers) is fine for a reload, in use by anything else is a problem."""
    m = settings.metrics
    if not m.enabled:
        return None, None
    try:
        check_port(m.host, m.port)
    except StartupError as exc:
        if probe_healthz(m)["reachable"]:
            return None, (
                f"metrics port {m.host}:{m.port} is in use by a running spotsched (its "
                "/healthz answers): fine for a reload; a second `spotsched run` would fail"
            )
        return exc.message, None
    return None, None


def check_config(
    config: ConfigOption = None,
    jobs: Annotated[
        Path | None, typer.Option("--jobs", help="Also validate this jobs file.")
    ] = None,
) -> None:
    """Validate the configuration (and a jobs file) without starting anything: the settings,
    the API key, the database (URL, dialect, folder, permissions; PostgreSQL: a connection),
    the metrics address and the environment. Exit 2 naming every problem found."""
    settings = settings_from(config)
    problems: list[str] = []
    warnings = [f"{name}: {why}" for name, why in environment_warnings(os.environ)]
    key = None
    try:
        key = load_api_key(settings)
    except ConfigError as exc:
        problems.append(exc.message)
    if key is not None:
        warnings.extend(key.warnings)
        if key.value is None:
            problems.append(
                "no RunPod API key: set RUNPOD_API_KEY, the systemd credential "
                "runpod-api-key or [runpod] api_key_file"
            )
    problems.extend(p.message for p in check_settings(settings))
    if not problems:
        try:
            probe_database(settings.database_url)
        except StartupError as exc:
            problems.append(exc.message)
    problem, warning = _port_problem(settings)
    problems.extend([problem] if problem else [])
    warnings.extend([warning] if warning else [])
    for w in warnings:
        warn(w)
    files = [jobs] if jobs else []
    if settings.scheduler.jobs_file:
        files.append(Path(settings.scheduler.jobs_file))
    for path in files:
        try:
            specs = load_jobs_file(path)
        except JobInputError as exc:
            lines = "\n".join(f"  {f}: {m}" for f, m in exc.problems)
            problems.append(f"{path}:\n{lines}")
            continue
        out.print(f"{path}: {len(specs)} job(s) valid")
    if problems:
        fail("\n".join(problems), EXIT_INVALID)
    assert key is not None
    out.print(f"config ok (database {where(settings.database_url)}, API key from {key.source})")


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
