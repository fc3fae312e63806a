"""The spend ledger: each attempt's cost integrates the pod's observed costPerHr over its
observed billing time; beside it the on-demand counterfactual and the waste.

Between two observations a pod's state is known only at the ends. When it started or stopped
billing in between, the moment comes from RunPod's own record of the pod (`lastStatusChange`)
or from the daemon's own intent (a terminated pod is gone, but the daemon knows when it asked);
only when neither is known does the interval count half (the trapezoid rule). Create, resume,
stop and terminate calls the daemon makes itself are exact, because it records their moment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
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
    changed_at: datetime | None = None
    """When the pod last started or stopped billing, if known (see the module docstring)."""
    changed_within: float = 0.0
    """How coarse `changed_at` is: RunPod's prose has whole seconds (1.0: the moment lies in
    [changed_at, changed_at + 1 s)); the daemon's own intent is exact (0.0)."""


def _billed(
    was: bool, now_billing: bool, since: datetime, now: datetime, obs: Observation
) -> float:
    """Seconds billed between the watermark `since` and `now`."""
    dt = max(0.0, (now - since).total_seconds())
    changed = obs.changed_at
    if was != now_billing and changed is not None:
        latest = changed + timedelta(seconds=obs.changed_within)
        if since <= latest and changed <= now:
            # RunPod's moment, kept inside this interval (a change in the same whole second as
            # the last look is read as at that look, not dropped for the half-interval rule)
            at = min(max(changed, since), now)
            return (at - since).total_seconds() if was else (now - at).total_seconds()
    return dt * _share(was, now_billing)


def _share(before: bool, after: bool) -> float:
    return 1.0 if before and after else 0.5 if before or after else 0.0


_ATTEMPTS = AttemptRow.metadata.tables["attempts"]
_JOBS = JobRow.metadata.tables["jobs"]
_DAYS = LedgerDayRow.metadata.tables["ledger_days"]
_ATTEMPT_READ = (
    "id",
    "job_id",
    "gpu_type_id",
    "kind",
    "gpu_count",
    "pod_id",
    "accounted_until",
    "billing",
    "runtime_up",
    "cost_per_hr",
    "on_demand_price_per_gpu",
    "cost",
    "counterfactual",
    "running_seconds",
    "segment_cost",
    "waste",
)
_ATTEMPT_WRITE = (
    "cost",
    "counterfactual",
    "running_seconds",
    "segment_cost",
    "waste",
    "accounted_until",
    "billing",
    "runtime_up",
    "cost_per_hr",
)
_DAY_SUMS = ("cost", "counterfactual", "waste", "gpu_seconds")

# Built once: the daemon accrues every tick, and building a statement costs more than SQLite
# takes to run it.
_READ_ATTEMPTS = select(*(_ATTEMPTS.c[k] for k in _ATTEMPT_READ)).where(
    _ATTEMPTS.c.id.in_(bindparam("ids", expanding=True))
)
_READ_JOBS = select(_JOBS.c.id, _JOBS.c.spend, _JOBS.c.work_seconds).where(
    _JOBS.c.id.in_(bindparam("ids", expanding=True))
)
_READ_DAYS = select(_DAYS.c.attempt_id, *(_DAYS.c[k] for k in _DAY_SUMS)).where(
    _DAYS.c.day == bindparam("day"), _DAYS.c.attempt_id.in_(bindparam("ids", expanding=True))
)
_WRITE_JOB = update(_JOBS).where(_JOBS.c.id == bindparam("b_id"))
_WRITE_ATTEMPT = update(_ATTEMPTS).where(_ATTEMPTS.c.id == bindparam("b_id"))
_INSERT_DAY = insert(_DAYS)
_WRITE_DAY = update(_DAYS).where(
    _DAYS.c.day == bindparam("b_day"), _DAYS.c.attempt_id == bindparam("b_id")
)


def accrue(
    session: Session, observations: Iterable[Observation], now: datetime
) -> dict[int, tuple[float, float]]:
    """Bring each observed attempt's ledger up to `now`.

    Returns, per job touched, the dollars and the work seconds added.

    Rows are read and written as plain columns, three reads and at most four executemany
    writes whatever the number of pods (ORM objects cost milliseconds per pod and tick).
    """
    day = now.date().isoformat()
    added: dict[int, tuple[float, float]] = {}
    obs_list = list(observations)
    ids = [o.attempt_id for o in obs_list]
    connection = session.connection()
    rows = {r["id"]: dict(r) for r in connection.execute(_READ_ATTEMPTS, {"ids": ids}).mappings()}
    job_ids = sorted({r["job_id"] for r in rows.values()})
    jobs = {j["id"]: dict(j) for j in connection.execute(_READ_JOBS, {"ids": job_ids}).mappings()}
    days = {
        d["attempt_id"]: dict(d)
        for d in connection.execute(_READ_DAYS, {"day": day, "ids": ids}).mappings()
    }
    touched: dict[int, dict[str, Any]] = {}
    touched_jobs: dict[int, dict[str, Any]] = {}
    new_days: dict[int, dict[str, Any]] = {}
    changed_days: dict[int, dict[str, Any]] = {}
    for obs in obs_list:
        row = rows.get(obs.attempt_id)
        if row is None or row["accounted_until"] is None:
            continue
        dt = max(0.0, (now - row["accounted_until"]).total_seconds())
        # a pod found by name after a lost create response has billed since the create call,
        # i.e. since the intent row was written (its `accounted_until`)
        was_billing = row["billing"] or (row["pod_id"] is None and obs.billing)
        billed = _billed(was_billing, obs.billing, row["accounted_until"], now, obs)
        ran = dt * _share(row["runtime_up"], obs.runtime_up)
        rate = obs.cost_per_hr if obs.cost_per_hr is not None else (row["cost_per_hr"] or 0.0)
        od = obs.on_demand_price_per_gpu or row["on_demand_price_per_gpu"] or 0.0
        cost = rate * billed / 3600.0
        counterfactual = od * row["gpu_count"] * billed / 3600.0
        waste = cost if obs.idle else 0.0
        row["cost"] += cost
        row["counterfactual"] += counterfactual
        row["running_seconds"] += ran
        row["segment_cost"] += cost
        row["waste"] += waste
        row["accounted_until"] = now
        row["billing"], row["runtime_up"] = obs.billing, obs.runtime_up
        if obs.cost_per_hr is not None:
            row["cost_per_hr"] = obs.cost_per_hr
        touched[obs.attempt_id] = row
        if cost or ran:
            job = jobs[row["job_id"]]
            job["spend"] += cost
            work = 0.0 if obs.idle else ran * obs.speed
            job["work_seconds"] += work
            before = added.get(row["job_id"], (0.0, 0.0))
            added[row["job_id"]] = (before[0] + cost, before[1] + work)
            touched_jobs[row["job_id"]] = job
            entry = days.get(obs.attempt_id)
            if entry is None:
                entry = days[obs.attempt_id] = {"attempt_id": obs.attempt_id}
                entry.update(dict.fromkeys(_DAY_SUMS, 0.0))
                new_days[obs.attempt_id] = entry
            elif obs.attempt_id not in new_days:
                changed_days[obs.attempt_id] = entry
            entry["cost"] += cost
            entry["counterfactual"] += counterfactual
            entry["waste"] += waste
            entry["gpu_seconds"] += billed * row["gpu_count"]
    _write(session, rows, touched, touched_jobs, new_days, changed_days, day)
    return added


def _write(
    session: Session,
    rows: dict[int, dict[str, Any]],
    touched: dict[int, dict[str, Any]],
    jobs: dict[int, dict[str, Any]],
    new_days: dict[int, dict[str, Any]],
    changed_days: dict[int, dict[str, Any]],
    day: str,
) -> None:
    """One executemany per table and kind of write (jobs, attempts, new and old day rows)."""
    connection = session.connection()
    if jobs:
        connection.execute(
            _WRITE_JOB,
            [
                {"b_id": i, "spend": j["spend"], "work_seconds": j["work_seconds"]}
                for i, j in jobs.items()
            ],
        )
    if touched:
        connection.execute(
            _WRITE_ATTEMPT,
            [{"b_id": i, **{k: r[k] for k in _ATTEMPT_WRITE}} for i, r in touched.items()],
        )
    if new_days:
        connection.execute(
            _INSERT_DAY,
            [
                {
                    "day": day,
                    "attempt_id": i,
                    "job_id": rows[i]["job_id"],
                    "gpu_type_id": rows[i]["gpu_type_id"],
                    "kind": rows[i]["kind"],
                    **{k: d[k] for k in _DAY_SUMS},
                }
                for i, d in new_days.items()
            ],
        )
    if changed_days:
        connection.execute(
            _WRITE_DAY,
            [
                {"b_day": day, "b_id": i, **{k: d[k] for k in _DAY_SUMS}}
                for i, d in changed_days.items()
            ],
        )


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
