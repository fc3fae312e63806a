"""The listing commands (`jobs`, `job`, `cost`, `status`) only read: they open the database
read-only, never migrate it and never create a file, so they work on the systemd service's
database as its operators see it (readable, not writable), and a database that is missing or
has an older schema is a message saying what to run, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import create_engine, inspect, make_url, text

from scheduler.store import open_engine
from scheduler.store.engine import open_read_only_engine
from scheduler.store.migrate import head_revision, upgrade
from tests.cli.conftest import World, spotsched
from tests.conftest import MakeDatabase

LISTINGS = [("jobs",), ("job", "1"), ("cost",), ("status",)]


def _refused(command: str, result: Result, message: str) -> None:
    """The listings stop with the message on stderr (exit 1); `status` reports it as the cause
    of an unhealthy daemon (exit 4), a report scripts can still read."""
    assert "Traceback" not in result.output
    if command == "status":
        assert result.exit_code == 4
        assert f"cause    {message}" in result.stdout
    else:
        assert result.exit_code == 1
        assert result.stderr.startswith(f"error: {message}")


HINT = "run `spotsched run` or `spotsched db upgrade` first"


def _files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("args", LISTINGS)
def test_no_database_is_a_message_and_no_file_is_created(tmp_path: Path, args: tuple) -> None:
    db = tmp_path / "spotsched.db"
    result = spotsched(*args, "--db", f"sqlite:///{db}")
    _refused(args[0], result, f"no database at {db}: {HINT}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", LISTINGS)
def test_a_database_without_the_schema_is_never_migrated(tmp_path: Path, args: tuple) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    before = _files(tmp_path)
    result = spotsched(*args, "--db", f"sqlite:///{db}")
    _refused(args[0], result, f"database {db} has no spotsched tables yet: {HINT}")
    assert _files(tmp_path) == before


def test_an_older_or_unknown_schema_is_named_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "spotsched.db"
    engine = open_engine(f"sqlite:///{db}")
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    engine.dispose()
    older = spotsched("jobs", "--db", f"sqlite:///{db}")
    assert older.exit_code == 1
    assert f"is at an older schema (revision 0001, this spotsched needs {head_revision()})" in (
        older.stderr
    )
    assert HINT in older.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
        conn.execute("UPDATE alembic_version SET version_num = 'f00dface'")
    conn.close()
    newer = spotsched("status", "--db", f"sqlite:///{db}", "--json")
    assert newer.exit_code == 4
    report = json.loads(newer.stdout)
    assert report["healthy"] is False
    assert (
        "revision f00dface, which this spotsched does not know: upgrade spotsched"
        in (report["cause"])
    )


def _as_reader(*args: str) -> subprocess.CompletedProcess[str]:
    """`spotsched ARGS` as a user who may not write what it does not own: this user, or root
    without its capabilities (root's CAP_DAC_OVERRIDE would write through any mode bits)."""
    drop = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []
    return subprocess.run(
        [*drop, sys.executable, "-m", "scheduler", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("SPOTSCHED_")}
        | {"COLUMNS": "200"},
    )


def test_a_read_only_database_in_a_read_only_folder_is_listed(
    running: World, tmp_path: Path
) -> None:
    """The systemd install's database as an operator sees it: the file 0444 in a folder 0555."""
    running.service.store.request_cancel(1, running.clock.now())
    running.tick()
    running.engine.dispose()  # the daemon is stopped: no -wal or -shm file is left
    state = tmp_path / "readable"
    state.mkdir()
    shutil.copyfile(running.db_file, state / "spotsched.db")
    (state / "spotsched.db").chmod(0o444)
    state.chmod(0o555)
    before = _files(state)
    db = f"sqlite:///{state / 'spotsched.db'}"

    jobs = _as_reader("jobs", "--db", db)
    assert jobs.returncode == 0, jobs.stderr
    assert "train" in jobs.stdout and "cancelled" in jobs.stdout
    job = _as_reader("job", "1", "--db", db, "--json")
    assert job.returncode == 0, job.stderr
    assert '"state": "cancelled"' in job.stdout
    cost = _as_reader("cost", "--db", db)
    assert cost.returncode == 0, cost.stderr
    status = _as_reader("status", "--db", db)
    assert status.returncode == 0, status.stderr  # the copy's last tick is seconds old
    assert "last tick" in status.stdout and "Traceback" not in status.stderr
    assert _files(state) == before
    state.chmod(0o755)


def test_root_listing_the_stopped_services_database_leaves_no_file_behind(
    running: World,
) -> None:
    """A `-wal`/`-shm` file made by root (with `sudo spotsched jobs`) in the service's folder
    would lock the service out of its database: a listing must leave the folder as it was."""
    running.engine.dispose()
    folder = running.db_file.parent
    before = _files(folder)
    assert set(before) == {"spotsched.db"}
    for args in LISTINGS:
        result = spotsched(*args, "--config", str(running.config_file))
        assert result.exit_code in (0, 4), result.stderr
    assert _files(folder) == before


@pytest.mark.postgres
def test_postgres_listings_never_migrate_and_read_in_read_only_transactions(
    make_database: MakeDatabase,
) -> None:
    empty = make_database("postgres", migrated=False)
    result = spotsched("jobs", "--db", empty)
    assert result.exit_code == 1
    assert f"has no spotsched tables yet: {HINT}" in result.stderr
    password = make_url(empty).password
    assert not password or str(password) not in result.output
    engine = create_engine(empty)
    assert inspect(engine).get_table_names() == []  # not migrated
    engine.dispose()

    migrated = make_database("postgres")
    listed = spotsched("jobs", "--db", migrated, "--json")
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.strip() == "[]"

    read_only = open_read_only_engine(migrated)
    with read_only.connect() as conn:
        assert conn.execute(text("SHOW transaction_read_only")).scalar() == "on"
    read_only.dispose()
