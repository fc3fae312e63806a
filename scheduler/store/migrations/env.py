"""Alembic environment for spotsched's schema.

`scheduler.store.migrate` runs this with the caller's connection in
`config.attributes["connection"]`, already inside the transaction that holds the migration lock,
so the injected engine (SQLite file or PostgreSQL) is the one migrated. Run from the `alembic`
command line instead, it opens its own engine from `sqlalchemy.url`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from scheduler.store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from scheduler.store.engine import open_engine

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables for later revisions.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, or migrate through scheduler.store.migrate")
    engine = open_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported")
run_migrations_online()
