"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL.

Alembic's `compare_metadata` is blind to CHECK constraints and partial-index predicates, so
beside it the catalogs of a migrated database and of a `create_all` database are compared
directly (SQLite: `sqlite_master`; PostgreSQL: `pg_constraint`, `pg_indexes`,
`information_schema.columns`).
"""

from __future__ import annotations

import multiprocessing
import re
import threading
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from scheduler.store import open_engine
from scheduler.store.migrate import current_revision, head_revision, main, upgrade
from scheduler.store.tables import JobRow  # noqa: F401  (registers the tables)

TABLES = {"jobs", "attempts", "job_events", "ledger_days", "price_samples", "daemon_state"}


def _catalog(engine: Engine) -> dict[Any, Any]:
    """Everything about the schema that `compare_metadata` does not look at."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(
                text(
                    "SELECT type, name, tbl_name, sql FROM sqlite_master"
                    " WHERE tbl_name != 'alembic_version'"
                )
            ).all()
            return {(r.type, r.name): re.sub(r"\s+", " ", r.sql) if r.sql else None for r in rows}
        constraints = conn.execute(
            text(
                "SELECT c.conrelid::regclass::text, c.conname, c.contype,"
                " pg_get_constraintdef(c.oid) FROM pg_constraint c"
                " JOIN pg_namespace n ON n.oid = c.connamespace"
                " WHERE n.nspname = 'public' AND c.conrelid::regclass::text != 'alembic_version'"
            )
        ).all()
        indexes = conn.execute(
            text(
                "SELECT tablename, indexname, indexdef FROM pg_indexes"
                " WHERE schemaname = 'public' AND tablename != 'alembic_version'"
            )
        ).all()
        columns = conn.execute(
            text(
                "SELECT table_name, column_name, ordinal_position, data_type, is_nullable,"
                " column_default FROM information_schema.columns"
                " WHERE table_schema = 'public' AND table_name != 'alembic_version'"
            )
        ).all()
        return {
            "constraints": {(r[0], r[1]): (r[2], r[3]) for r in constraints},
            "indexes": {(r[0], r[1]): r[2] for r in indexes},
            "columns": {(r[0], r[1]): tuple(r[2:]) for r in columns},
        }


@pytest.fixture
def migrated_and_created(backend: str, make_database: Any) -> Any:
    migrated = open_engine(make_database(backend, migrated=False))
    created = open_engine(make_database(backend, migrated=False))
    upgrade(migrated)
    SQLModel.metadata.create_all(created)
    yield migrated, created
    migrated.dispose()
    created.dispose()


def test_head_is_the_newest_revision() -> None:
    assert head_revision() == "0004"


def test_upgrade_starts_empty_reaches_head_and_is_idempotent(
    backend: str, make_database: Any
) -> None:
    engine = open_engine(make_database(backend, migrated=False))
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert versions == [(head_revision(),)]
    finally:
        engine.dispose()


def test_autogenerate_finds_no_difference(migrated_and_created: Any) -> None:
    migrated, _ = migrated_and_created
    with migrated.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, SQLModel.metadata) == []


def test_catalog_matches_create_all(migrated_and_created: Any) -> None:
    migrated, created = migrated_and_created
    assert _catalog(migrated) == _catalog(created)


def test_catalog_holds_what_autogenerate_cannot_see(migrated_and_created: Any) -> None:
    """Guards the comparison above against comparing two empty or equally wrong schemas."""
    migrated, _ = migrated_and_created
    catalog = _catalog(migrated)
    if migrated.dialect.name == "sqlite":
        assert {name for kind, name in catalog if kind == "table"} == TABLES
        jobs = catalog[("table", "jobs")]
        attempts = catalog[("table", "attempts")]
        live = catalog[("index", "ux_attempts_one_live_per_job")]
        assert "CONSTRAINT ck_jobs_state_valid CHECK (state IN ('queued'," in jobs
        assert "ck_attempts_end_reason_valid CHECK (end_reason IS NULL OR" in attempts
        assert "state VARCHAR DEFAULT 'queued' NOT NULL" in jobs
        assert "container_disk_gb INTEGER DEFAULT 20 NOT NULL" in jobs
        assert "checkpoint BOOLEAN DEFAULT false NOT NULL" in jobs
        assert live.startswith("CREATE UNIQUE INDEX ux_attempts_one_live_per_job")
        assert live.endswith("WHERE state != 'ended'")
        return
    checks = {name for (_, name), (kind, _) in catalog["constraints"].items() if kind == "c"}
    assert checks == {
        "ck_jobs_state_valid",
        "ck_jobs_cloud_type_valid",
        "ck_jobs_on_idle_valid",
        "ck_jobs_gpu_count_positive",
        "ck_jobs_outcome_valid",
        "ck_attempts_kind_valid",
        "ck_attempts_state_valid",
        "ck_attempts_end_reason_valid",
        "ck_attempts_pending_call_valid",
        "ck_attempts_pending_reason_valid",
        "ck_attempts_pending_job_to_valid",
    }
    live = catalog["indexes"][("attempts", "ux_attempts_one_live_per_job")]
    assert "UNIQUE INDEX" in live
    assert live.endswith("WHERE ((state)::text <> 'ended'::text)")
    defaults = {c: d[-1] for (t, c), d in catalog["columns"].items() if t == "jobs"}
    assert defaults["state"] == "'queued'::character varying"
    assert defaults["container_disk_gb"] == "20"
    assert defaults["checkpoint"] == "false"
    assert defaults["name"] is None


def test_racing_upgrades_leave_one_schema(backend: str, make_database: Any) -> None:
    """Two daemons starting at once on an empty database: both succeed, the schema is whole."""
    url = make_database(backend, migrated=False)
    engines = [open_engine(url) for _ in range(3)]
    barrier = threading.Barrier(len(engines))
    failures: list[BaseException] = []

    def start(engine: Engine) -> None:
        barrier.wait()
        try:
            upgrade(engine)
        except BaseException as exc:  # reported below, on the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert failures == []
        assert all(current_revision(e) == head_revision() for e in engines)
        with engines[0].connect() as conn:
            context = MigrationContext.configure(conn)
            assert compare_metadata(context, SQLModel.metadata) == []
    finally:
        for e in engines:
            e.dispose()


def _upgrade_together(url: str, barrier: Any) -> None:
    engine = open_engine(url)
    barrier.wait(timeout=60)
    upgrade(engine)
    engine.dispose()


def test_processes_upgrading_one_new_sqlite_file(make_database: Any) -> None:
    """Daemons and CLI calls started together on a new file, as separate processes (forked, so
    they need not import everything again; each opens its own engine). The switch to WAL races
    too: SQLite answers "database is locked" there without waiting on the busy timeout."""
    url = make_database("sqlite", migrated=False)
    fork = multiprocessing.get_context("fork")
    barrier = fork.Barrier(4)
    procs = [fork.Process(target=_upgrade_together, args=(url, barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    engine = open_engine(url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).all() == [("ok",)]
            assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    finally:
        engine.dispose()


def test_command_line_upgrades_and_reports(
    make_database: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = make_database("sqlite", migrated=False)
    assert main([url, "current"]) == 0
    assert capsys.readouterr().out == "(empty)\n"
    assert main([url]) == 0
    assert capsys.readouterr().out == f"{head_revision()}\n"
    assert main([url, "head"]) == 0
    assert capsys.readouterr().out == f"{head_revision()}\n"
    assert main([url, "sideways"]) == 2
