"""The only writer of `state` columns: compare-and-set along the domain's transition table,
with an event row in the same transaction (procrastinate's discipline).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from scheduler.domain.errors import SpotschedError
from scheduler.domain.states import (
    TERMINAL_JOB_STATES,
    AttemptState,
    JobOutcome,
    JobState,
    check_attempt_transition,
    check_job_transition,
)
from scheduler.store.tables import AttemptRow, JobEventRow, JobRow


class StaleState(SpotschedError):
    """The row was not in the expected state any more (another writer moved it)."""


def move_job(
    session: Session,
    job_id: int,
    old: JobState,
    new: JobState,
    reason: str,
    now: datetime,
    *,
    attempt_id: int | None = None,
    outcome: JobOutcome | None = None,
    **values: Any,
) -> None:
    """Move a job from `old` to `new` or raise; writes the event row in the same session.

    A move to a terminal state records its `outcome`; `succeeded` requires one that says the
    work finished (`domain.states.check_job_transition`)."""
    check_job_transition(old, new, outcome)
    extra: dict[str, Any] = dict(values)
    if new in TERMINAL_JOB_STATES and outcome is not None:
        extra["outcome"] = outcome.value
    if new is JobState.QUEUED:
        extra.setdefault("queued_since", now)
    if new in TERMINAL_JOB_STATES:
        extra.setdefault("finished_at", now)
    stmt = (
        update(JobRow)
        .where(col(JobRow.id) == job_id, col(JobRow.state) == old.value)
        .values(state=new.value, state_reason=reason, updated_at=now, **extra)
    )
    if session.exec(stmt).rowcount != 1:
        raise StaleState(f"job {job_id} is no longer {old}")
    session.add(
        JobEventRow(
            job_id=job_id,
            attempt_id=attempt_id,
            at=now,
            from_state=old.value,
            to_state=new.value,
            reason=reason,
        )
    )


def move_attempt(
    session: Session,
    attempt_id: int,
    old: AttemptState,
    new: AttemptState,
    **values: Any,
) -> None:
    check_attempt_transition(old, new)
    stmt = (
        update(AttemptRow)
        .where(col(AttemptRow.id) == attempt_id, col(AttemptRow.state) == old.value)
        .values(state=new.value, **values)
    )
    if session.exec(stmt).rowcount != 1:
        raise StaleState(f"attempt {attempt_id} is no longer {old}")


def note(
    session: Session,
    job_id: int,
    kind: str,
    reason: str,
    now: datetime,
    attempt_id: int | None = None,
) -> None:
    """An event that is not a state change (a hold, an overbid, a failed resume)."""
    session.add(JobEventRow(job_id=job_id, attempt_id=attempt_id, at=now, kind=kind, reason=reason))


def miss_deadline(session: Session, job_id: int, now: datetime) -> bool:
    """Record, once, that the job's deadline passed before it finished; True the first time.

    Not a state: a job that misses its deadline may still finish (late) or expire."""
    stmt = (
        update(JobRow)
        .where(col(JobRow.id) == job_id, col(JobRow.deadline_missed_at).is_(None))
        .values(deadline_missed_at=now)
    )
    if session.exec(stmt).rowcount != 1:
        return False
    note(session, job_id, "deadline_missed", "the deadline passed before the job finished", now)
    return True
