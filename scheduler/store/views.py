"""Reads: the frozen views one tick decides on, and the reports the CLI prints."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, type_coerce
from sqlalchemy import select as sa_select
from sqlalchemy.types import NullType
from sqlmodel import Session, col, select

from scheduler.domain.job import JobInputError, JobSpec
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
from scheduler.store.row_checks import read_time
from scheduler.store.tables import AttemptRow, JobRow, LedgerDayRow

_OPEN = [s.value for s in JobState if s not in TERMINAL_JOB_STATES]


class SpecCache:
    """Each open job's parsed spec, with the column values it was parsed from.

    Parsing is a pure function of those values, so a row whose spec columns read the same as on
    the last tick gets the same `JobSpec` back without pydantic; a change to any of them (by any
    writer, whether it moved `updated_at` or not) parses the row again, and a row that no longer
    parses raises `JobInputError`, keeping the last spec that parsed (`last_good`): a job whose
    row is edited into something unreadable while its pod runs is managed under that spec.
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

    def last_good(self, job_id: int) -> JobSpec | None:
        hit = self._specs.get(job_id)
        return hit[1] if hit is not None else None

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
_N_MISSED = _N_SPEC + _VIEW_COLUMNS.index("deadline_missed_at")
_ATTEMPT_COLUMNS = tuple(f.name for f in fields(AttemptView))


# Built once: a tick runs these every few seconds, and building a statement costs more than
# SQLite takes to answer it.
def _raw(name: str) -> Any:
    """A column as the database holds it: no result processing, so text in a timestamp column
    or a blob in a boolean one reaches the checks below instead of reading as None or True."""
    return type_coerce(_JOBS.c[name], NullType()).label(name)


_OPEN_JOBS = sa_select(
    *(_raw(k) for k in SPEC_COLUMNS),
    *(_JOBS.c[k] if k in ("id", "state") else _raw(k) for k in _VIEW_COLUMNS),
).where(_JOBS.c.validated.is_(True), _JOBS.c.state.in_(_OPEN))
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


@dataclass(frozen=True, slots=True)
class UnreadableRow:
    """An open, checked job whose row does not read any more (edited after validation)."""

    job_id: int
    state: JobState
    live: bool
    problem: str
    """Names the column(s), never a value of `env`."""


class _BadColumn(ValueError):
    pass


def _lifecycle(values: tuple[Any, ...]) -> tuple[bool, datetime, datetime, int, float, float]:
    """The daemon's own columns of a row, checked (any program can write them too)."""
    _, _, cancel, submitted, queued_since, preemptions, spend, work = values
    if cancel not in (0, 1, True, False):
        raise _BadColumn("cancel_requested: not true or false")
    when = read_time(submitted)
    if when is None:
        raise _BadColumn("submitted_at: not a time")
    since = read_time(queued_since) if queued_since is not None else when
    if since is None:
        raise _BadColumn("queued_since: not a time")
    if type(preemptions) is not int or preemptions < 0:
        raise _BadColumn("preemptions: not a count")
    for name, amount in (("spend", spend), ("work_seconds", work)):
        if type(amount) not in (int, float) or not math.isfinite(amount) or amount < 0:
            raise _BadColumn(f"{name}: not a non-negative number")
    return bool(cancel), when, since, preemptions, float(spend), float(work)


def load_jobs(
    session: Session, specs: SpecCache | None = None
) -> tuple[list[JobView], list[UnreadableRow], list[tuple[int, JobState]]]:
    """Every checked open job with its live attempt, the rows that cannot be read, and the
    jobs in a live state without a live attempt (shown as queued; the caller moves them).

    A row that cannot be read costs only itself: it is returned as `UnreadableRow` for the
    caller to hold or mark invalid; if it has a live attempt and a spec parsed on an earlier
    tick, its view is built from that spec so that its pod stays managed.

    Plain column reads, no ORM objects: building and tracking a `JobRow` and an `AttemptRow`
    per open job took a third of a tick's CPU at 10,000 queued jobs (`bench/tick_scale.py`)."""
    specs = specs if specs is not None else SpecCache()
    connection = session.connection()
    rows = connection.execute(_OPEN_JOBS).all()
    if not rows:
        specs.keep_only(set())
        return [], [], []
    live = {a.job_id: _attempt_view(a._asdict()) for a in connection.execute(_LIVE_ATTEMPTS)}
    out: list[JobView] = []
    unreadable: list[UnreadableRow] = []
    requeued: list[tuple[int, JobState]] = []
    for row in rows:
        values = tuple(row)
        job_id, state = int(values[_N_SPEC]), JobState(values[_N_SPEC + 1])
        attempt = live.get(job_id)
        try:
            cancel, submitted, queued_since, preemptions, spend, work = _lifecycle(
                values[_N_SPEC:_N_MISSED]
            )
        except _BadColumn as exc:
            unreadable.append(UnreadableRow(job_id, state, attempt is not None, str(exc)))
            continue
        try:
            spec = specs.spec(job_id, values[:_N_SPEC])
        except JobInputError as exc:
            problem = "; ".join(f"{f}: {m}" for f, m in exc.problems)
            unreadable.append(UnreadableRow(job_id, state, attempt is not None, problem))
            last = specs.last_good(job_id)
            if attempt is None or last is None:
                continue
            spec = last
        if attempt is None and state is not JobState.QUEUED:
            # Nothing manages a live state without a pod (a row inserted as `running`, or a
            # crash between ending a pod and launching the next): queue it again.
            requeued.append((job_id, state))
            state = JobState.QUEUED
        out.append(
            JobView(
                id=job_id,
                spec=spec,
                state=state,
                cancel_requested=cancel,
                submitted_at=submitted,
                queued_since=queued_since,
                preemptions=preemptions,
                spend=spend,
                work_seconds=work,
                live=attempt,
                deadline_missed=values[_N_MISSED] is not None,
            )
        )
    specs.keep_only({j.id for j in out})
    return out, unreadable, requeued


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
    to keep, never orphans; and those of a live attempt whose job's row cannot be read (held):
    a pod with a live attempt is never an orphan."""
    if not names:
        return frozenset()
    live = session.exec(
        select(AttemptRow.pod_name).where(
            col(AttemptRow.pod_name).in_(names), AttemptRow.state != AttemptState.ENDED.value
        )
    ).all()
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
    return frozenset(rows) | frozenset(live)
