"""Money as the ledger has it: totals per attempt kind, and the spend of today and this month.

Why: the dollar counters must say what `spotsched cost` says, so they are read from the store's
ledger (`Store.cost_report`) once per tick and never re-estimated from prices. The ledger only
grows (the store never deletes ledger rows), so its totals are monotonic; `Totals.at_least`
guards against the last-digit noise of summing floats in a different order.

What it must not do: write to the store, or read it at scrape time (scrapes run on another
thread and must not wait on the database).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from scheduler.metrics.view import KINDS


class LedgerReader(Protocol):
    """What the metrics read from the store (`scheduler.store.Store` is one)."""

    def cost_report(self, since: datetime | None, by: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class KindTotals:
    spend: float = 0.0
    on_demand_cost: float = 0.0
    waste: float = 0.0
    gpu_seconds: float = 0.0

    def at_least(self, before: KindTotals) -> KindTotals:
        return KindTotals(
            spend=max(self.spend, before.spend),
            on_demand_cost=max(self.on_demand_cost, before.on_demand_cost),
            waste=max(self.waste, before.waste),
            gpu_seconds=max(self.gpu_seconds, before.gpu_seconds),
        )


@dataclass(frozen=True, slots=True)
class Totals:
    by_kind: dict[str, KindTotals] = field(
        default_factory=lambda: dict.fromkeys(KINDS, KindTotals())
    )
    spend_today: float = 0.0
    spend_month: float = 0.0

    def at_least(self, before: Totals) -> Totals:
        """These totals, never below `before` (counters must not go down)."""
        kinds = set(self.by_kind) | set(before.by_kind)
        return Totals(
            by_kind={
                k: self.by_kind.get(k, KindTotals()).at_least(before.by_kind.get(k, KindTotals()))
                for k in sorted(kinds)
            },
            spend_today=self.spend_today,
            spend_month=self.spend_month,
        )


def read_totals(ledger: LedgerReader, now: datetime) -> Totals:
    """Two grouped reads: all-time totals by kind, and this month's spend by UTC day."""
    by_kind = dict.fromkeys(KINDS, KindTotals())
    for row in ledger.cost_report(None, "kind"):
        by_kind[str(row["kind"])] = KindTotals(
            spend=float(row["spend"]),
            on_demand_cost=float(row["on_demand_cost"]),
            waste=float(row["waste"]),
            gpu_seconds=float(row["gpu_hours"]) * 3600.0,
        )
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    today = now.date().isoformat()
    days = ledger.cost_report(month_start, "day")
    return Totals(
        by_kind=by_kind,
        spend_today=sum(float(r["spend"]) for r in days if str(r["day"]) == today),
        spend_month=sum(float(r["spend"]) for r in days),
    )
