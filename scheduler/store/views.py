"""Reads: the frozen views one tick decides on, and the reports the CLI prints."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from scheduler.domain.job import JobSpec
from scheduler.domain.states import (
    TERMINAL_JOB_STATES,
    AttemptKind,
    AttemptState,
    EndReason,
    JobState,
    OnIdle,
)
from scheduler.domain.views import AttemptView, JobView, Money, SpotHistory
from scheduler.store.jobs import SPEC_COLUMNS, spec_from_values
from scheduler.store.tables import AttemptRow, JobRow, LedgerDayRow

_OPEN = [s.value for s in JobState if s not in TERMINAL_JOB_STATES]


class SpecCache:
    """Each open job's parsed spec, with the column values it was parsed from.

    Parsing is a pure function of those values, so a row whose spec columns read the same as on
    the last tick gets the same `JobSpec` back without pydantic; a change to any of them (by any
    writer, whether it moved `updated_at` or not) parses the row again, and a row that no longer
    parses raises as it always did.
    """

    def __init__(self) -> None:
        self._specs: dict[int, tuple[tuple[Any, ...], JobSpec]] = {}

    def spec(self, job_id: int, values: tuple[Any, ...]) -> JobSpec:
        hit = self._specs.get(job_id)
        if hit is not None and hit[0] == values:
            return hit[1]
        spec = spec_from_values(dict(zip(SPEC_COLUMNS, values, strict=True)))
        self._specs[job_id] = (values, spec)
        return spec

    def keep_only(self, job_ids: set[int]) -> None:
        """Forget jobs that are no longer open (or gone)."""
        for gone in self._specs.keys() - job_ids:
            del self._specs[gone]


_JOBS = JobRow.metadata.tables["jobs"]
_ATTEMPTS = AttemptRow.metadata.tables["attempts"]
_VIEW_COLUMNS = (
    "id",
    "state",
    "cancel_requested",
    "submitted_at",
    "queued_since",
    "preemptions",
    "spend",
    "work_seconds",
    "deadline_missed_at",
)
_N_SPEC = len(SPEC_COLUMNS)
_ATTEMPT_COLUMNS = tuple(f.name for f in fields(AttemptView))


# Built once: a tick runs these every few seconds, and building a statement costs more than
# SQLite takes to answer it.
_OPEN_JOBS = sa_select(*(_JOBS.c[k] for k in (*SPEC_COLUMNS, *_VIEW_COLUMNS))).where(
    _JOBS.c.validated, _JOBS.c.state.in_(_OPEN)
)
_LIVE_ATTEMPTS = sa_select(*(_ATTEMPTS.c[k] for k in _ATTEMPT_COLUMNS)).where(
    _ATTEMPTS.c.state != AttemptState.ENDED.value
)
_DAYS = LedgerDayRow.metadata.tables["ledger_days"]
_SPEND = sa_select(
    func.coalesce(
        func.sum(case((_DAYS.c.day == bindparam("today"), _DAYS.c.cost), else_=0.0)), 0.0
    ),
    func.coalesce(func.sum(_DAYS.c.cost), 0.0),
).where(_DAYS.c.day >= bindparam("month_start"))
_PREEMPTED_RUNS = (
    sa_select(_ATTEMPTS.c.started_at, _ATTEMPTS.c.preempted_at)
    .where(_ATTEMPTS.c.preempted_at.is_not(None), _ATTEMPTS.c.started_at.is_not(None))
    .order_by(_ATTEMPTS.c.id.desc())
    .limit(bindparam("limit"))
)


def _attempt_view(data: dict[str, Any]) -> AttemptView:
    """`attempts.attempt_view` of a row read as plain columns."""
    assert data["id"] is not None and data["created_at"] is not None
    data["kind"] = AttemptKind(data["kind"])
    data["state"] = AttemptState(data["state"])
    return AttemptView(**data)


def load_jobs(session: Session, specs: SpecCache | None = None) -> list[JobView]:
    """Every validated open job with its live attempt.

    Plain column reads, no ORM objects: building and tracking a `JobRow` and an `AttemptRow`
    per open job took a third of a tick's CPU at 10,000 queued jobs (`bench/tick_scale.py`)."""
    specs = specs if specs is not None else SpecCache()
    connection = session.connection()
    rows = connection.execute(_OPEN_JOBS).all()
    if not rows:
        specs.keep_only(set())
        return []
    live = {a.job_id: _attempt_view(a._asdict()) for a in connection.execute(_LIVE_ATTEMPTS)}
    out: list[JobView] = []
    for row in rows:
        values = tuple(row)
        job_id, state, cancel, submitted, queued_since, preemptions, spend, work, missed = values[
            _N_SPEC:
        ]
        assert job_id is not None and submitted is not None
        out.append(
            JobView(
                id=job_id,
                spec=specs.spec(job_id, values[:_N_SPEC]),
                state=JobState(state),
                cancel_requested=cancel,
                submitted_at=submitted,
                queued_since=queued_since or submitted,
                preemptions=preemptions,
                spend=spend,
                work_seconds=work,
                live=live.get(job_id),
                deadline_missed=missed is not None,
            )
        )
    specs.keep_only({j.id for j in out})
    return out


def money(session: Session, now: datetime) -> Money:
    today = now.date().isoformat()
    month_start = now.date().replace(day=1).isoformat()
    spend_today, spend_month = (
        session.connection().execute(_SPEND, {"today": today, "month_start": month_start}).one()
    )
    return Money(spend_today=float(spend_today), spend_month=float(spend_month))


def spot_history(session: Session, limit: int = 200) -> SpotHistory:
    """Mean uninterrupted spot run before a preemption, over the latest preempted attempts."""
    rows = session.connection().execute(_PREEMPTED_RUNS, {"limit": limit}).all()
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
