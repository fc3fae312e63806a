"""Reads: the frozen views one tick decides on, and the reports the CLI prints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from scheduler.domain.states import TERMINAL_JOB_STATES, AttemptState, EndReason, JobState, OnIdle
from scheduler.domain.views import JobView, Money, SpotHistory
from scheduler.store.attempts import attempt_view
from scheduler.store.jobs import spec_from_row
from scheduler.store.tables import AttemptRow, JobRow, LedgerDayRow

_OPEN = [s.value for s in JobState if s not in TERMINAL_JOB_STATES]


def job_view(row: JobRow, live: AttemptRow | None) -> JobView:
    assert row.id is not None and row.submitted_at is not None
    return JobView(
        id=row.id,
        spec=spec_from_row(row),
        state=JobState(row.state),
        cancel_requested=row.cancel_requested,
        submitted_at=row.submitted_at,
        queued_since=row.queued_since or row.submitted_at,
        preemptions=row.preemptions,
        spend=row.spend,
        work_seconds=row.work_seconds,
        live=attempt_view(live) if live is not None else None,
    )


def load_jobs(session: Session) -> list[JobView]:
    rows = session.exec(
        select(JobRow).where(col(JobRow.validated), col(JobRow.state).in_(_OPEN))
    ).all()
    if not rows:
        return []
    live = {
        a.job_id: a
        for a in session.exec(
            select(AttemptRow).where(AttemptRow.state != AttemptState.ENDED.value)
        ).all()
    }
    return [job_view(r, live.get(r.id or 0)) for r in rows]


def money(session: Session, now: datetime) -> Money:
    today = now.date().isoformat()
    month_start = now.date().replace(day=1).isoformat()
    spend_today = session.exec(
        select(func.coalesce(func.sum(LedgerDayRow.cost), 0.0)).where(LedgerDayRow.day == today)
    ).one()
    spend_month = session.exec(
        select(func.coalesce(func.sum(LedgerDayRow.cost), 0.0)).where(
            LedgerDayRow.day >= month_start
        )
    ).one()
    return Money(spend_today=float(spend_today), spend_month=float(spend_month))


def spot_history(session: Session, limit: int = 200) -> SpotHistory:
    """Mean uninterrupted spot run before a preemption, over the latest preempted attempts."""
    rows = session.exec(
        select(AttemptRow.started_at, AttemptRow.preempted_at)
        .where(col(AttemptRow.preempted_at).is_not(None), col(AttemptRow.started_at).is_not(None))
        .order_by(col(AttemptRow.id).desc())
        .limit(limit)
    ).all()
    spans = [(p - s).total_seconds() for s, p in rows if s is not None and p is not None and p > s]
    if not spans:
        return SpotHistory()
    return SpotHistory(mean_lifetime_seconds=sum(spans) / len(spans), observations=len(spans))


def kept_pods(session: Session, names: list[str]) -> frozenset[str]:
    """Of these pod names, those the daemon stopped on purpose (`on_idle = stop`): the user's
    to keep, never orphans."""
    if not names:
        return frozenset()
    rows = session.exec(
        select(AttemptRow.pod_name)
        .join(JobRow, col(JobRow.id) == col(AttemptRow.job_id))
        .where(
            col(AttemptRow.pod_name).in_(names),
            AttemptRow.state == AttemptState.ENDED.value,
            AttemptRow.end_reason == EndReason.IDLE.value,
            JobRow.on_idle == OnIdle.STOP.value,
        )
    ).all()
    return frozenset(rows)
