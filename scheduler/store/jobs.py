"""Jobs in and out of rows: the spec's columns, submit, upsert by name, one live job per name.

Rows other programs insert are checked by `row_checks`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from scheduler.domain.errors import SpotschedError
from scheduler.domain.job import JobInputError, JobSpec, parse_job
from scheduler.domain.states import TERMINAL_JOB_STATES, JobState
from scheduler.store.tables import JobEventRow, JobRow

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
