"""The check of rows any program may write to the `jobs` table, each read as hostile.

A row that cannot be read becomes `invalid` with a reason naming the column, or, while it has a
live pod, is held (its pod stays managed, under the last spec that parsed if the daemon has
one), and every other row goes on in the same tick. A row in a live state without a pod is
queued again rather than left as a ghost nothing manages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlmodel import Session

from scheduler.domain.job import JobInputError, JobSpec
from scheduler.domain.states import JobState
from scheduler.store.jobs import OPEN_STATES, live_job_named, spec_columns, spec_from_values
from scheduler.store.tables import JobEventRow, JobRow
from scheduler.store.transitions import move_job

_PENDING = text(
    "SELECT * FROM jobs WHERE state IN :open AND validated IS NOT TRUE ORDER BY id"
).bindparams(bindparam("open", expanding=True))
_LIVE_JOB_IDS = text("SELECT DISTINCT job_id FROM attempts WHERE state != 'ended'")


def live_job_ids(session: Session) -> set[int]:
    """Jobs that have a live attempt (a pod that may be billing)."""
    return {int(r[0]) for r in session.connection().execute(_LIVE_JOB_IDS)}


def validate_pending(session: Session, now: datetime) -> list[tuple[int, str]]:
    """Check rows inserted (or marked unchecked) by other programs, in any open state. Returns
    (job id, problem) for each row that became invalid.

    Raw rows are read with plain SQL so that a malformed value (a deadline that is not a date,
    a blob) is a validation problem naming its column, not a crash of the reader. A bad row
    with a live pod is not made invalid here: it is marked checked, and the tick's load holds
    it (`reject_row`)."""
    result = session.connection().execute(_PENDING, {"open": list(OPEN_STATES)})
    raw_rows = [dict(r) for r in result.mappings()]
    if not raw_rows:
        return []
    live = live_job_ids(session)
    invalid: list[tuple[int, str]] = []
    for raw in raw_rows:
        job_id = int(raw["id"])
        problem = None
        try:
            spec = spec_from_values(raw, source=f"jobs row {job_id}")
            other = live_job_named(session, spec.name, but=job_id)
            if other is not None:
                problem = f"name: job {other.id} is live with the name {spec.name!r}"
        except JobInputError as exc:
            problem = "; ".join(f"{f}: {m}" for f, m in exc.problems)
            _reset_invalid_columns(session, job_id, exc)
        if problem is not None and job_id in live:
            session.connection().execute(
                text("UPDATE jobs SET validated = :t WHERE id = :id"), {"t": True, "id": job_id}
            )
            continue
        if problem is not None:
            reject_row(session, job_id, JobState(raw["state"]), False, problem, now)
            invalid.append((job_id, problem))
            continue
        _accept(session, job_id, JobState(raw["state"]), job_id in live, spec, raw, now)
    return invalid


def _accept(
    session: Session,
    job_id: int,
    state: JobState,
    live: bool,
    spec: JobSpec,
    raw: Mapping[str, Any],
    now: datetime,
) -> None:
    if state is not JobState.QUEUED and not live:
        # A row inserted as `running` (or left so) with no pod: nobody would manage it.
        move_job(session, job_id, state, JobState.QUEUED, f"was {state} with no pod: queued", now)
        state = JobState.QUEUED
    stamps = {
        "submitted_at": _time_or(raw["submitted_at"], now),
        "queued_since": _time_or(raw["queued_since"], now),
        "preemptions": _count_or_zero(raw["preemptions"]),
        "spend": _amount_or_zero(raw["spend"]),
        "work_seconds": _amount_or_zero(raw["work_seconds"]),
        "cancel_requested": raw["cancel_requested"] in (1, True),
    }
    row = session.get(JobRow, job_id)
    assert row is not None
    for key, value in {**spec_columns(spec), **stamps}.items():
        setattr(row, key, value)
    row.validated = True
    row.updated_at = now
    session.add(row)
    if state is JobState.QUEUED:
        event = JobEventRow(job_id=job_id, at=now, to_state=state.value, reason="row accepted")
    else:  # a live job's row marked unchecked and found fine: no state change
        event = JobEventRow(job_id=job_id, at=now, kind="updated", reason="row accepted")
    session.add(event)


def _time_or(value: Any, default: datetime) -> datetime:
    when = read_time(value)
    return default if when is None else when


def read_time(value: Any) -> datetime | None:
    """A timestamp column's raw value as an aware UTC time, or None if it is none."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _count_or_zero(value: Any) -> int:
    return value if type(value) is int and 0 <= value < 2**31 else 0


def _amount_or_zero(value: Any) -> float:
    ok = type(value) in (int, float) and math.isfinite(value) and 0 <= value < 1e12
    return float(value) if ok else 0.0


def reject_row(
    session: Session, job_id: int, state: JobState, live: bool, problem: str, now: datetime
) -> str:
    """A row that cannot be read: `invalid` (no pod), or held while its pod lives. Returns
    "invalid" or "held"; a hold writes its reason and an event only when the reason changes."""
    if live:
        reason = f"held: row cannot be read: {problem}"[:2000]
        changed = session.connection().execute(
            text(
                "UPDATE jobs SET state_reason = :r WHERE id = :id"
                " AND (state_reason IS NULL OR state_reason != :r)"
            ),
            {"r": reason, "id": job_id},
        )
        if changed.rowcount:
            session.add(JobEventRow(job_id=job_id, at=now, kind="held", reason=reason))
        return "held"
    if state is not JobState.QUEUED:
        move_job(session, job_id, state, JobState.QUEUED, f"was {state} with no pod", now)
    stamps: dict[str, Any] = {"validated": True}
    submitted = (
        session.connection()
        .execute(text("SELECT submitted_at FROM jobs WHERE id = :id"), {"id": job_id})
        .scalar()
    )
    if read_time(submitted) is None:
        stamps["submitted_at"] = now
    move_job(session, job_id, JobState.QUEUED, JobState.INVALID, problem[:2000], now, **stamps)
    return "invalid"


def clear_holds(session: Session, job_ids: set[int], now: datetime) -> None:
    """Jobs held on an earlier tick whose row reads again: their reason says so."""
    for job_id in sorted(job_ids):
        changed = session.connection().execute(
            text(
                "UPDATE jobs SET state_reason = :r WHERE id = :id"
                " AND state_reason LIKE 'held: row cannot be read%'"
            ),
            {"r": "row readable again", "id": job_id},
        )
        if changed.rowcount:
            session.add(
                JobEventRow(job_id=job_id, at=now, kind="held", reason="row readable again")
            )


def _reset_invalid_columns(session: Session, job_id: int, exc: JobInputError) -> None:
    """Null a typed column holding unparseable text, so ORM reads of the row cannot crash."""
    if any(field.split(".")[0] == "deadline" for field, _ in exc.problems):
        session.connection().execute(
            text("UPDATE jobs SET deadline = NULL WHERE id = :id"), {"id": job_id}
        )
