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

from sqlmodel import Session, col, select

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


def accrue(
    session: Session, observations: Iterable[Observation], now: datetime
) -> dict[int, tuple[float, float]]:
    """Bring each observed attempt's ledger up to `now`.

    Returns, per job touched, the dollars and the work seconds added.
    """
    day = now.date().isoformat()
    added: dict[int, tuple[float, float]] = {}
    obs_list = list(observations)
    ids = [o.attempt_id for o in obs_list]
    rows = {r.id: r for r in session.exec(select(AttemptRow).where(col(AttemptRow.id).in_(ids)))}
    job_ids = {r.job_id for r in rows.values()}
    jobs = {j.id: j for j in session.exec(select(JobRow).where(col(JobRow.id).in_(job_ids)))}
    days = {
        d.attempt_id: d
        for d in session.exec(
            select(LedgerDayRow).where(
                LedgerDayRow.day == day, col(LedgerDayRow.attempt_id).in_(ids)
            )
        )
    }
    for obs in obs_list:
        row = rows.get(obs.attempt_id)
        if row is None or row.accounted_until is None:
            continue
        dt = max(0.0, (now - row.accounted_until).total_seconds())
        # a pod found by name after a lost create response has billed since the create call,
        # i.e. since the intent row was written (its `accounted_until`)
        was_billing = row.billing or (row.pod_id is None and obs.billing)
        billed = dt * _share(was_billing, obs.billing)
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
            job = jobs[row.job_id]
            job.spend += cost
            work = 0.0 if obs.idle else ran * obs.speed
            job.work_seconds += work
            before = added.get(row.job_id, (0.0, 0.0))
            added[row.job_id] = (before[0] + cost, before[1] + work)
            session.add(job)
            entry = days.get(obs.attempt_id)
            if entry is None:
                entry = days[obs.attempt_id] = new_day(day, row)
            entry.cost += cost
            entry.counterfactual += counterfactual
            entry.waste += waste
            entry.gpu_seconds += billed * row.gpu_count
            session.add(entry)
    return added


def new_day(day: str, row: AttemptRow) -> LedgerDayRow:
    assert row.id is not None
    return LedgerDayRow(
        day=day, attempt_id=row.id, job_id=row.job_id, gpu_type_id=row.gpu_type_id, kind=row.kind
    )


def add_waste(session: Session, row: AttemptRow, amount: float, now: datetime) -> None:
    """Count lost work (cost of a run that a preemption threw away) in the day's ledger."""
    assert row.id is not None
    day = now.date().isoformat()
    entry = session.get(LedgerDayRow, (day, row.id)) or new_day(day, row)
    entry.waste += amount
    session.add(entry)


def bill_until(session: Session, row: AttemptRow, until: datetime) -> None:
    """Charge a still-billing attempt from its watermark to `until` (a call we made)."""
    assert row.accounted_until is not None
    seconds = max(0.0, (until - row.accounted_until).total_seconds())
    cost = (row.cost_per_hr or 0.0) * seconds / 3600.0
    counterfactual = (row.on_demand_price_per_gpu or 0.0) * row.gpu_count * seconds / 3600.0
    row.cost += cost
    row.counterfactual += counterfactual
    row.segment_cost += cost
    row.accounted_until = until
    session.add(row)
    job = session.get(JobRow, row.job_id)
    assert job is not None
    job.spend += cost
    session.add(job)
    assert row.id is not None
    day = until.date().isoformat()
    entry = session.get(LedgerDayRow, (day, row.id)) or new_day(day, row)
    entry.cost += cost
    entry.counterfactual += counterfactual
    entry.gpu_seconds += seconds * row.gpu_count
    session.add(entry)
