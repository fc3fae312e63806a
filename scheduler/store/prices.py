"""Market samples kept for backtests (`price_samples`), with retention, and daemon facts."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from scheduler.domain.views import Quote
from scheduler.store.tables import DaemonStateRow, PriceSampleRow


def record_prices(session: Session, quotes: Iterable[Quote], now: datetime) -> int:
    n = 0
    for q in quotes:
        session.add(
            PriceSampleRow(
                at=now,
                gpu_type_id=q.gpu_type_id,
                gpu_count=q.gpu_count,
                secure_cloud=q.secure_cloud,
                spot_min_bid=q.spot_min_bid,
                on_demand=q.on_demand,
                stock=q.stock,
            )
        )
        n += 1
    return n


def prune_prices(session: Session, before: datetime) -> int:
    result = session.exec(delete(PriceSampleRow).where(col(PriceSampleRow.at) < before))
    return int(result.rowcount or 0)


def load_prices(session: Session, since: datetime | None = None) -> list[PriceSampleRow]:
    stmt = select(PriceSampleRow).order_by(col(PriceSampleRow.at), col(PriceSampleRow.id))
    if since is not None:
        stmt = stmt.where(col(PriceSampleRow.at) >= since)
    return list(session.exec(stmt).all())


_FACTS = DaemonStateRow.metadata.tables["daemon_state"]


def set_facts(session: Session, facts: dict[str, str], now: datetime) -> None:
    """Write the facts in one upsert (the daemon does this every tick)."""
    if not facts:
        return
    session.connection().execute(
        _upsert_fact(session.get_bind().dialect.name),
        [{"key": k, "value": v, "updated_at": now} for k, v in facts.items()],
    )


@functools.cache
def _upsert_fact(dialect: str) -> Any:
    stmt = (sqlite_insert if dialect == "sqlite" else pg_insert)(_FACTS)
    return stmt.on_conflict_do_update(
        index_elements=[_FACTS.c.key],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
    )


def get_facts(session: Session) -> dict[str, tuple[str, datetime | None]]:
    return {r.key: (r.value, r.updated_at) for r in session.exec(select(DaemonStateRow)).all()}
