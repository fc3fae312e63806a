"""Shared fixtures: real databases (SQLite files, a PostgreSQL server) and a virtual clock.

The database is never faked. `engine` runs a test on both backends, each time on a database
migrated to head and holding no rows: SQLite gets a copy of a file migrated once per session,
PostgreSQL a database of the session's server, emptied and with its sequences restarted. The
PostgreSQL server itself is started by `scripts/start-postgres.sh` on first use (so runs that
deselect `-m postgres` never start it) and stopped at the end of the session. Missing PostgreSQL
binaries are an error, never a skip.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from scheduler.domain.clock import VirtualClock
from scheduler.store import Store, open_engine
from scheduler.store.migrate import current_revision, head_revision, upgrade

START_POSTGRES = Path(__file__).resolve().parents[1] / "scripts" / "start-postgres.sh"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

MakeDatabase = Callable[..., str]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Commands under test (demo, backtest) configure logging for the process, bound to the
    stream they ran with, which a `CliRunner` closes afterwards; later tests must not log into
    that closed stream."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**config)
    root.handlers[:], root.level = handlers, level


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of the empty database `spotsched_test` on a PostgreSQL server owned by this session."""
    workdir = tempfile.mkdtemp(prefix="spotsched-pg-")
    errors: list[str] = []
    url = None
    for _ in range(3):  # the free port can be taken between the probe and the server's bind
        run = subprocess.run(
            ["bash", str(START_POSTGRES), workdir, str(_free_port())],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode == 0:
            url = run.stdout.strip().splitlines()[-1]
            break
        errors.append(run.stderr.strip())
        if run.returncode == 127:  # no binaries: retrying cannot help
            break
    if url is None:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL for the tests:\n{errors[-1]}", pytrace=False)
    try:
        yield url
    finally:
        subprocess.run(["bash", str(START_POSTGRES), "--stop", workdir], check=False)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin(pg_url: str) -> Iterator[Engine]:
    """An autocommit engine on the server's `postgres` database, for CREATE/DROP DATABASE."""
    engine = create_engine(make_url(pg_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


class _PgDatabases:
    """Databases on the session's server, reused between tests because CREATE DATABASE costs
    most of a second. Each is reset when handed out: to an empty `public` schema, or to a
    migrated schema with no rows and restarted sequences (as good as new, in ~10 ms)."""

    def __init__(self, admin: Engine, url: str) -> None:
        self.admin, self.url = admin, make_url(url)
        self.names: list[str] = []

    def take(self, busy: set[str], migrated: bool) -> str:
        free = [n for n in self.names if n not in busy]
        if free:
            name = free[0]
        else:
            name = f"t_{len(self.names)}_{uuid.uuid4().hex[:8]}"
            with self.admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {name} TEMPLATE template0"))
            self.names.append(name)
        url = self.url.set(database=name).render_as_string(hide_password=False)
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.begin() as conn:  # leftovers of an earlier test must not block the reset
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            self._reset(engine, migrated)
        finally:
            engine.dispose()
        return url

    @staticmethod
    def _reset(engine: Engine, migrated: bool) -> None:
        if migrated and current_revision(engine) == head_revision():
            with engine.begin() as conn:
                for table in reversed(SQLModel.metadata.sorted_tables):
                    conn.execute(table.delete())
                sequences = conn.execute(
                    text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
                ).scalars()
                for sequence in list(sequences):
                    conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
            return
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        if migrated:
            upgrade(engine)


@pytest.fixture(scope="session")
def _pg_databases(pg_url: str, pg_admin: Engine) -> _PgDatabases:
    return _PgDatabases(pg_admin, pg_url)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "migrated.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection to close checkpoints the WAL into the file
    return path


@pytest.fixture
def make_database(request: pytest.FixtureRequest, tmp_path: Path) -> MakeDatabase:
    """`make_database(backend, migrated=True) -> url`: a database no one else is using.

    Migrated databases are at head with no rows; unmigrated ones are empty (for migration
    tests). SQLite: a new file (a copy of one migrated per session). PostgreSQL: a reset
    database of the session's server, distinct from others handed out in the same test; its
    schema must not be changed once migrated (it is reused). PostgreSQL fixtures are looked
    up only when asked for, so SQLite-only runs never start the server.
    """
    busy: set[str] = set()

    def make(backend: str, migrated: bool = True) -> str:
        if backend == "sqlite":
            path = tmp_path / f"db-{uuid.uuid4().hex[:8]}.db"
            if migrated:
                shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
            return f"sqlite:///{path}"
        if backend != "postgres":
            raise ValueError(f"unknown backend {backend!r}")
        databases: _PgDatabases = request.getfixturevalue("_pg_databases")
        url = databases.take(busy, migrated)
        busy.add(str(make_url(url).database))
        return url

    return make


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: "sqlite", or "postgres" (marked `postgres`)."""
    return str(request.param)


@pytest.fixture
def engine(backend: str, make_database: MakeDatabase) -> Iterator[Engine]:
    """A database of its own, migrated to head and holding no rows, on each backend in turn."""
    eng = open_engine(make_database(backend))
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


@pytest.fixture
def clock() -> VirtualClock:
    """Virtual time starting 2026-01-05 00:00 UTC; it moves only when a test moves it."""
    return VirtualClock()
