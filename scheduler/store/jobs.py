"""Jobs in and out of rows: submit, upsert by name, cancel, and the check of raw rows.

Any program may write the `jobs` table, so every row is read as hostile: one that cannot be
read becomes `invalid` with a reason naming the column, or, while it has a live pod, is held
(its pod stays managed under the last spec that parsed), and every other row goes on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlmodel import Session, col, select

from scheduler.domain.errors import SpotschedError
from scheduler.domain.job import JobInputError, JobSpec, parse_job
from scheduler.domain.states import TERMINAL_JOB_STATES, JobState
from scheduler.store.tables import JobEventRow, JobRow
from scheduler.store.transitions import move_job

OPEN_STATES = tuple(s.value for s in JobState if s not in TERMINAL_JOB_STATES)

SPEC_COLUMNS = (
    "name",
    "image",
    "gpu_types",
    "max_spot_price",
    "gpu_count",
    "cloud_type",
    "command",
    "env",
    "max_on_demand_price",
    "fallback_after",
    "max_preemptions",
    "deadline",
    "estimated_runtime",
    "priority",
    "ports",
    "container_disk_gb",
    "volume_gb",
    "volume_mount_path",
    "network_volume_id",
    "data_center_id",
    "idle_timeout",
    "idle_threshold",
    "idle_grace",
    "on_idle",
    "max_runtime",
    "max_cost",
    "checkpoint",
)


def gpu_types_text(spec: JobSpec) -> str:
    return ",".join(
        c.gpu_type_id if c.speed == 1.0 else f"{c.gpu_type_id}:{c.speed:g}" for c in spec.gpu_types
    )


def env_text(spec: JobSpec) -> str | None:
    """The env column: a JSON object, so values with commas, `=` or newlines survive."""
    return json.dumps(dict(spec.env), sort_keys=True, ensure_ascii=False) if spec.env else None


def spec_columns(spec: JobSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "image": spec.image,
        "gpu_types": gpu_types_text(spec),
        "max_spot_price": spec.max_spot_price,
        "gpu_count": spec.gpu_count,
        "cloud_type": spec.cloud_type.value,
        "command": spec.command,
        "env": env_text(spec),
        "max_on_demand_price": spec.max_on_demand_price,
        "fallback_after": spec.fallback_after,
        "max_preemptions": spec.max_preemptions,
        "deadline": spec.deadline,
        "estimated_runtime": spec.estimated_runtime,
        "priority": spec.priority,
        "ports": spec.ports,
        "container_disk_gb": spec.container_disk_gb,
        "volume_gb": spec.volume_gb,
        "volume_mount_path": spec.volume_mount_path,
        "network_volume_id": spec.network_volume_id,
        "data_center_id": spec.data_center_id,
        "idle_timeout": spec.idle_timeout,
        "idle_threshold": spec.idle_threshold,
        "idle_grace": spec.idle_grace,
        "on_idle": spec.on_idle.value,
        "max_runtime": spec.max_runtime,
        "max_cost": spec.max_cost,
        "checkpoint": spec.checkpoint,
    }


def spec_from_values(values: Mapping[str, Any], source: str | None = None) -> JobSpec:
    """Validate column values (as stored, or as raw values a user inserted). Raises
    `JobInputError` naming the columns, whatever the values (text, blobs, NaN, huge numbers)."""
    raw = {k: values.get(k) for k in SPEC_COLUMNS}
    try:
        return parse_job(raw, source)
    except JobInputError:
        raise
    except Exception as exc:  # a value no validator foresaw: still this row's problem alone
        raise JobInputError(
            [("job", f"row cannot be read ({type(exc).__name__})")], source
        ) from None


def spec_from_row(row: JobRow) -> JobSpec:
    return spec_from_values({k: getattr(row, k) for k in SPEC_COLUMNS})


class NameInUse(SpotschedError):
    """A live job already has that name."""

    def __init__(self, name: str, job_id: int, state: str) -> None:
        self.name, self.job_id, self.state = name, job_id, state
        super().__init__(f"job {job_id} named {name!r} is still {state}")


def live_job_named(session: Session, name: str, but: int | None = None) -> JobRow | None:
    """The live (non-terminal, not being cancelled) job of that name: at most one, by the
    database's partial unique index."""
    stmt = select(JobRow).where(
        JobRow.name == name,
        col(JobRow.state).in_(OPEN_STATES),
        col(JobRow.cancel_requested).is_not(True),
    )
    if but is not None:
        stmt = stmt.where(col(JobRow.id) != but)
    return session.exec(stmt.order_by(col(JobRow.id))).first()


def insert_job(session: Session, spec: JobSpec, now: datetime, source: str) -> int:
    row = JobRow(
        **spec_columns(spec),
        state=JobState.QUEUED.value,
        validated=True,
        source=source,
        submitted_at=now,
        queued_since=now,
        updated_at=now,
        state_reason="submitted",
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    session.add(
        JobEventRow(
            job_id=row.id, at=now, to_state=JobState.QUEUED.value, reason=f"submitted via {source}"
        )
    )
    return row.id


def submit_job(
    session: Session, spec: JobSpec, now: datetime, source: str, replace: bool = False
) -> tuple[int, int | None]:
    """Queue a new job; a live job of the same name is an error (`NameInUse`), or with
    `replace` is asked to cancel (its pod ends on the next tick). Returns (new id, replaced id)."""
    live = live_job_named(session, spec.name)
    replaced = None
    if live is not None:
        assert live.id is not None
        if not replace:
            raise NameInUse(spec.name, live.id, live.state)
        live.cancel_requested, live.updated_at = True, now
        session.add(live)
        session.add(
            JobEventRow(
                job_id=live.id,
                at=now,
                kind="cancel_requested",
                reason=f"replaced by a new job named {spec.name!r} via {source}",
            )
        )
        session.flush()
        replaced = live.id
    return insert_job(session, spec, now, source), replaced


def _same_spec(row: JobRow, spec: JobSpec) -> bool:
    if row.validated is not True:
        return False
    try:
        return spec_from_row(row) == spec
    except JobInputError:
        return False


def upsert_job(session: Session, spec: JobSpec, now: datetime, source: str) -> tuple[int, str]:
    """Insert, or update the live job of that name while it is still queued.

    Returns (job id, "created" | "updated" | "unchanged" | "kept"); "kept" means the job
    already started or finished, so its spec stays as it ran (a file sync never re-runs a
    finished job). An `invalid` row never ran and its columns do not parse, so a valid spec of
    that name is created anew.
    """
    row = (
        live_job_named(session, spec.name)
        or session.exec(
            select(JobRow).where(JobRow.name == spec.name).order_by(col(JobRow.id).desc())
        ).first()
    )
    if row is None or row.state == JobState.INVALID.value:
        return insert_job(session, spec, now, source), "created"
    assert row.id is not None
    if _same_spec(row, spec):
        return row.id, "unchanged"
    if row.state != JobState.QUEUED.value or row.cancel_requested:
        return row.id, "kept"
    for key, value in spec_columns(spec).items():
        setattr(row, key, value)
    row.validated, row.updated_at = True, now
    row.submitted_at = row.submitted_at or now
    row.queued_since = row.queued_since or now
    session.add(row)
    session.add(
        JobEventRow(job_id=row.id, at=now, kind="updated", reason=f"spec updated via {source}")
    )
    return row.id, "updated"


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
