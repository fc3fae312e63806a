"""Shared fixtures: real databases (SQLite files, a PostgreSQL server) and a virtual clock.

The database is never faked. `engine` runs a test on both backends, each time on a fresh
database already migrated to head: SQLite gets a copy of a file migrated once per session,
PostgreSQL a `CREATE DATABASE ... TEMPLATE` of a database migrated once per session. The
PostgreSQL server itself is started by `scripts/start-postgres.sh` on first use (so runs that
deselect `-m postgres` never start it) and stopped at the end of the session. Missing PostgreSQL
binaries are an error, never a skip.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from scheduler.domain.clock import VirtualClock
from scheduler.store import Store, open_engine
from scheduler.store.migrate import upgrade

START_POSTGRES = Path(__file__).resolve().parents[1] / "scripts" / "start-postgres.sh"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

MakeDatabase = Callable[..., str]


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


@pytest.fixture(scope="session")
def _pg_template(pg_url: str, pg_admin: Engine) -> str:
    name = "spotsched_template"
    with pg_admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine = open_engine(make_url(pg_url).set(database=name).render_as_string(False))
    upgrade(engine)
    engine.dispose()  # a template must have no open connections
    return name


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "migrated.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection to close checkpoints the WAL into the file
    return path


@pytest.fixture
def make_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeDatabase]:
    """`make_database(backend, migrated=True) -> url`: a new database, dropped after the test.

    Unmigrated databases are empty (for migration tests). PostgreSQL fixtures are looked up
    only when asked for, so SQLite-only tests never start the server.
    """
    dropped: list[str] = []

    def make(backend: str, migrated: bool = True) -> str:
        if backend == "sqlite":
            path = tmp_path / f"db-{uuid.uuid4().hex[:8]}.db"
            if migrated:
                shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
            return f"sqlite:///{path}"
        if backend != "postgres":
            raise ValueError(backend)
        template = request.getfixturevalue("_pg_template") if migrated else "template0"
        admin: Engine = request.getfixturevalue("pg_admin")
        name = f"t_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template}"))
        dropped.append(name)
        return (
            make_url(request.getfixturevalue("pg_url")).set(database=name).render_as_string(False)
        )

    yield make
    if dropped:
        admin = request.getfixturevalue("pg_admin")
        with admin.connect() as conn:
            for name in dropped:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgres" (the latter marked `postgres`)."""
    return str(request.param)


@pytest.fixture
def engine(backend: str, make_database: MakeDatabase) -> Iterator[Engine]:
    """A fresh database migrated to head, on each backend in turn."""
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
