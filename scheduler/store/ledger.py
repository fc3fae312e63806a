"""The spend ledger: each attempt's cost integrates the pod's observed costPerHr over its
observed billing time; beside it the on-demand counterfactual and the waste.

Between two observations a pod's state is known only at the ends, so an interval in which it
started or stopped billing counts half (the trapezoid rule); create, resume, stop and terminate
calls that the daemon makes itself are exact, because it records the moment it made them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from scheduler.store.tables import AttemptRow, JobRow, LedgerDayRow


@dataclass(frozen=True, slots=True)
class Observation:
    attempt_id: int
    billing: bool
    runtime_up: bool
    idle: bool
    cost_per_hr: float | None
    on_demand_price_per_gpu: float | None
    speed: float = 1.0


def _share(before: bool, after: bool) -> float:
    return 1.0 if before and after else 0.5 if before or after else 0.0


def accrue(session: Session, observations: Iterable[Observation], now: datetime) -> float:
    """Bring each observed attempt's ledger up to `now`. Returns the dollars added."""
    day = now.date().isoformat()
    added = 0.0
    for obs in observations:
        row = session.get(AttemptRow, obs.attempt_id)
        if row is None or row.accounted_until is None:
            continue
        dt = max(0.0, (now - row.accounted_until).total_seconds())
        billed = dt * _share(row.billing, obs.billing)
        ran = dt * _share(row.runtime_up, obs.runtime_up)
        rate = obs.cost_per_hr if obs.cost_per_hr is not None else (row.cost_per_hr or 0.0)
        od = obs.on_demand_price_per_gpu or row.on_demand_price_per_gpu or 0.0
        cost = rate * billed / 3600.0
        counterfactual = od * row.gpu_count * billed / 3600.0
        waste = cost if obs.idle else 0.0
        row.cost += cost
        row.counterfactual += counterfactual
        row.running_seconds += ran
        row.segment_cost += cost
        row.waste += waste
        row.accounted_until = now
        row.billing, row.runtime_up = obs.billing, obs.runtime_up
        if obs.cost_per_hr is not None:
            row.cost_per_hr = obs.cost_per_hr
        session.add(row)
        if cost or ran:
            job = session.get(JobRow, row.job_id)
            assert job is not None
            job.spend += cost
            if not obs.idle:
                job.work_seconds += ran * obs.speed
            session.add(job)
            _add_day(session, day, row, cost, counterfactual, waste, billed)
        added += cost
    return added


def _add_day(
    session: Session,
    day: str,
    row: AttemptRow,
    cost: float,
    counterfactual: float,
    waste: float,
    seconds: float,
) -> None:
    assert row.id is not None
    entry = session.get(LedgerDayRow, (day, row.id))
    if entry is None:
        entry = LedgerDayRow(
            day=day,
            attempt_id=row.id,
            job_id=row.job_id,
            gpu_type_id=row.gpu_type_id,
            kind=row.kind,
        )
    entry.cost += cost
    entry.counterfactual += counterfactual
    entry.waste += waste
    entry.gpu_seconds += seconds * row.gpu_count
    session.add(entry)
