"""Market samples kept for backtests (`price_samples`), with retention, and daemon facts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete
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


def set_fact(session: Session, key: str, value: str, now: datetime) -> None:
    row = session.get(DaemonStateRow, key)
    if row is None:
        row = DaemonStateRow(key=key, value=value, updated_at=now)
    row.value, row.updated_at = value, now
    session.add(row)


def get_facts(session: Session) -> dict[str, tuple[str, datetime | None]]:
    return {r.key: (r.value, r.updated_at) for r in session.exec(select(DaemonStateRow)).all()}
