"""Bringing a database's schema up to date with Alembic, on the engine the caller injects.

The daemon and the CLI call `upgrade(engine)` at start; it is idempotent, and two processes
starting at once on one database serialise on a lock (SQLite: `BEGIN IMMEDIATE` waits out the
busy timeout; PostgreSQL: a transaction-scoped advisory lock), so the second finds the schema at
head and does nothing. Alembic is configured here, not by an ini file, with `script_location`
inside the installed package. This module never creates tables any other way.

From a shell: `python -m scheduler.store.migrate URL [upgrade|current|head]`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from scheduler.domain.errors import SpotschedError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit key; it only has to differ from the leader lock's.
_PG_MIGRATION_LOCK = 0x5370_6F74_4D69_6701


class MigrationError(SpotschedError):
    """The database schema could not be brought up to date."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the installed package knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise MigrationError("no migrations are installed")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_problem(engine: Engine) -> str | None:
    """Why the database behind `engine` cannot be read by this version (None: it can), for
    commands that only read and so never migrate."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return None
    hint = "run `spotsched run` or `spotsched db upgrade` first"
    if current is None:
        return f"has no spotsched tables yet: {hint}"
    known = {s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()}
    if current not in known:
        return f"is at revision {current}, which this spotsched does not know: upgrade spotsched"
    return f"is at an older schema (revision {current}, this spotsched needs {head}): {hint}"


def upgrade(engine: Engine) -> None:
    """Migrate the database behind `engine` to head (a no-op when it is there already)."""
    with _locked(engine) as conn:
        command.upgrade(_config(conn), "head")


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection inside one transaction that holds the database's migration lock."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            yield conn
        return
    # pysqlite opens transactions lazily and never around DDL, so with its default handling the
    # statements of a migration would each commit alone and two processes could interleave.
    # Drive the transaction by hand: BEGIN IMMEDIATE takes the write lock up front (waiting
    # out the busy timeout), so the loser of a race sees the winner's finished schema.
    # Foreign keys are off while tables are rebuilt (SQLite's documented ALTER procedure; the
    # pragma is ignored inside a transaction) and checked before the commit.
    with engine.connect() as raw:
        conn = raw.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise MigrationError(f"migration broke foreign keys: {broken[:5]}")
            except BaseException:
                if raw.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
                    conn.exec_driver_sql("ROLLBACK")
                raise
            conn.exec_driver_sql("COMMIT")
        finally:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")


def main(argv: list[str] | None = None) -> int:
    from scheduler.store.engine import open_engine

    args = sys.argv[1:] if argv is None else argv
    if (
        not args
        or len(args) > 2
        or (len(args) == 2 and args[1] not in {"upgrade", "current", "head"})
    ):
        print(
            "usage: python -m scheduler.store.migrate URL [upgrade|current|head]", file=sys.stderr
        )
        return 2
    what = args[1] if len(args) == 2 else "upgrade"
    if what == "head":
        print(head_revision())
        return 0
    engine = open_engine(args[0])
    try:
        if what == "upgrade":
            upgrade(engine)
        print(current_revision(engine) or "(empty)")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
