"""Read-only reports for people (the CLI): plain dicts with stable keys, no rows escape."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from scheduler.domain.job import job_to_mapping
from scheduler.domain.job_fields import masked_env
from scheduler.store.jobs import spec_from_row
from scheduler.store.tables import AttemptRow, JobEventRow, JobRow, LedgerDayRow


def _attempt_dict(a: AttemptRow) -> dict[str, Any]:
    return {
        "id": a.id,
        "number": a.number,
        "kind": a.kind,
        "state": a.state,
        "gpu_type_id": a.gpu_type_id,
        "gpu_count": a.gpu_count,
        "cloud": None if a.secure_cloud is None else ("SECURE" if a.secure_cloud else "COMMUNITY"),
        "bid_per_gpu": a.bid_per_gpu,
        "cost_per_hr": a.cost_per_hr,
        "pod_name": a.pod_name,
        "pod_id": a.pod_id,
        "data_center_id": a.data_center_id,
        "created_at": a.created_at,
        "started_at": a.started_at,
        "preempted_at": a.preempted_at,
        "ended_at": a.ended_at,
        "end_reason": a.end_reason,
        "detail": a.detail,
        "pending_call": a.pending_call,
        "pending_at": a.pending_at,
        "overbid": a.overbid,
        "cost": a.cost,
        "on_demand_cost": a.counterfactual,
        "waste": a.waste,
        "running_seconds": a.running_seconds,
    }


def job_summary(row: JobRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "state": row.state,
        "outcome": row.outcome,
        "reason": row.state_reason,
        "priority": row.priority,
        "gpu_types": row.gpu_types,
        "gpu_count": row.gpu_count,
        "max_spot_price": row.max_spot_price,
        "max_on_demand_price": row.max_on_demand_price,
        "submitted_at": row.submitted_at,
        "finished_at": row.finished_at,
        "preemptions": row.preemptions,
        "spend": row.spend,
        "cancel_requested": row.cancel_requested,
        "source": row.source,
        "deadline": row.deadline,
        "deadline_missed_at": row.deadline_missed_at,
    }


def list_jobs(
    session: Session, state: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    stmt = select(JobRow).order_by(col(JobRow.id).desc()).limit(limit)
    if state:
        stmt = stmt.where(JobRow.state == state)
    return [job_summary(r) for r in session.exec(stmt).all()]


def job_detail(session: Session, job_id: int) -> dict[str, Any] | None:
    row = session.get(JobRow, job_id)
    if row is None:
        return None
    attempts = session.exec(
        select(AttemptRow).where(AttemptRow.job_id == job_id).order_by(col(AttemptRow.number))
    ).all()
    events = session.exec(
        select(JobEventRow).where(JobEventRow.job_id == job_id).order_by(col(JobEventRow.id))
    ).all()
    detail = job_summary(row)
    try:
        spec = spec_from_row(row) if row.validated is True and row.state != "invalid" else None
    except Exception:  # a row that no longer validates is still shown
        spec = None
    detail["spec"] = None
    if spec is not None:
        detail["spec"] = job_to_mapping(spec)
        detail["spec"]["env"] = masked_env(detail["spec"]["env"])  # values are often secrets
    detail["work_seconds"] = row.work_seconds
    detail["attempts"] = [_attempt_dict(a) for a in attempts]
    detail["events"] = [
        {
            "at": e.at,
            "kind": e.kind,
            "from": e.from_state,
            "to": e.to_state,
            "reason": e.reason,
            "attempt_id": e.attempt_id,
        }
        for e in events
    ]
    cost = sum(a.cost for a in attempts)
    counterfactual = sum(a.counterfactual for a in attempts)
    detail["money"] = {
        "spend": cost,
        "on_demand_cost": counterfactual,
        "savings": counterfactual - cost,
        "waste": sum(a.waste for a in attempts),
    }
    return detail


def cost_report(session: Session, since: datetime | None, by: str) -> list[dict[str, Any]]:
    """Spend, on-demand counterfactual, savings and waste grouped by job, gpu, day or kind."""
    key: Any = {
        "job": LedgerDayRow.job_id,
        "gpu": LedgerDayRow.gpu_type_id,
        "day": LedgerDayRow.day,
        "kind": LedgerDayRow.kind,
    }[by]
    stmt = (
        sa_select(
            key,
            func.sum(LedgerDayRow.cost),
            func.sum(LedgerDayRow.counterfactual),
            func.sum(LedgerDayRow.waste),
            func.sum(LedgerDayRow.gpu_seconds),
        )
        .group_by(key)
        .order_by(key)
    )
    if since is not None:
        stmt = stmt.where(col(LedgerDayRow.day) >= since.date().isoformat())
    rows = session.execute(stmt).all()
    names: dict[int, str] = {}
    if by == "job":
        ids = [r[0] for r in rows]
        names = {
            int(i): n
            for i, n in session.exec(
                select(JobRow.id, JobRow.name).where(col(JobRow.id).in_(ids))
            ).all()
            if i is not None
        }
    out = []
    for k, cost, cf, waste, gpu_seconds in rows:
        entry: dict[str, Any] = {by: k}
        if by == "job":
            entry["name"] = names.get(int(k), "")
        entry.update(
            {
                "spend": float(cost or 0),
                "on_demand_cost": float(cf or 0),
                "savings": float((cf or 0) - (cost or 0)),
                "waste": float(waste or 0),
                "gpu_hours": float(gpu_seconds or 0) / 3600.0,
            }
        )
        out.append(entry)
    return out


def events_since(session: Session, after_id: int, limit: int = 500) -> list[dict[str, Any]]:
    """Job events with an id above `after_id`, oldest first, with the job's name."""
    stmt = (
        select(JobEventRow, JobRow.name)
        .join(JobRow, col(JobRow.id) == col(JobEventRow.job_id))
        .where(col(JobEventRow.id) > after_id)
        .order_by(col(JobEventRow.id))
        .limit(limit)
    )
    return [
        {
            "id": e.id,
            "job_id": e.job_id,
            "name": name,
            "at": e.at,
            "kind": e.kind,
            "from": e.from_state,
            "to": e.to_state,
            "reason": e.reason,
        }
        for e, name in session.exec(stmt).all()
    ]
