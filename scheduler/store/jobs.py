"""Jobs in and out of rows: submit, upsert by name, cancel, and the check of raw rows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, select

from scheduler.domain.job import JobInputError, JobSpec, parse_job
from scheduler.domain.states import JobState
from scheduler.store.tables import JobEventRow, JobRow
from scheduler.store.transitions import move_job

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


def spec_columns(spec: JobSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "image": spec.image,
        "gpu_types": gpu_types_text(spec),
        "max_spot_price": spec.max_spot_price,
        "gpu_count": spec.gpu_count,
        "cloud_type": spec.cloud_type.value,
        "command": spec.command,
        "env": "\n".join(f"{k}={v}" for k, v in spec.env) or None,
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
    """Validate column values (as stored, or as raw text a user inserted)."""
    raw = {k: values.get(k) for k in SPEC_COLUMNS}
    if isinstance(raw.get("checkpoint"), int):
        raw["checkpoint"] = bool(raw["checkpoint"])
    return parse_job(raw, source)


def spec_from_row(row: JobRow) -> JobSpec:
    return spec_from_values({k: getattr(row, k) for k in SPEC_COLUMNS})


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


def upsert_job(session: Session, spec: JobSpec, now: datetime, source: str) -> tuple[int, str]:
    """Insert, or update the newest job of that name while it is still queued.

    Returns (job id, "created" | "updated" | "unchanged" | "kept"); "kept" means the job
    already started or finished, so its spec stays as it ran. An `invalid` row never ran and
    its columns do not parse, so a valid spec of that name is created anew.
    """
    row = session.exec(
        select(JobRow).where(JobRow.name == spec.name).order_by(JobRow.id.desc())  # type: ignore[union-attr]
    ).first()
    if row is None or row.state == JobState.INVALID.value:
        return insert_job(session, spec, now, source), "created"
    assert row.id is not None
    if row.validated and spec_from_row(row) == spec:
        return row.id, "unchanged"
    if row.state != JobState.QUEUED.value:
        return row.id, "kept"
    for key, value in spec_columns(spec).items():
        setattr(row, key, value)
    row.validated, row.updated_at = True, now
    session.add(row)
    session.add(
        JobEventRow(job_id=row.id, at=now, kind="updated", reason=f"spec updated via {source}")
    )
    return row.id, "updated"


_UNVALIDATED = text("SELECT * FROM jobs WHERE validated = false AND state = 'queued' ORDER BY id")


def validate_pending(session: Session, now: datetime) -> list[tuple[int, str]]:
    """Check rows inserted by other programs. Returns (job id, problem) for each invalid row.

    Raw rows are read with plain SQL so that a malformed value (a deadline that is not a date)
    is a validation problem, not a crash of the reader.
    """
    raw_rows = session.connection().execute(_UNVALIDATED).mappings().all()
    invalid: list[tuple[int, str]] = []
    for raw in raw_rows:
        job_id = int(raw["id"])
        try:
            spec = spec_from_values(dict(raw), source=f"jobs row {job_id}")
        except JobInputError as exc:
            problem = "; ".join(f"{f}: {m}" for f, m in exc.problems)
            _reset_invalid_columns(session, job_id, exc)
            stamps: dict[str, Any] = {"validated": True}
            if not raw["submitted_at"]:
                stamps["submitted_at"] = now
            reason = problem[:2000]
            move_job(session, job_id, JobState.QUEUED, JobState.INVALID, reason, now, **stamps)
            invalid.append((job_id, problem))
            continue
        row = session.get(JobRow, job_id)
        assert row is not None
        for key, value in spec_columns(spec).items():
            setattr(row, key, value)
        row.validated = True
        row.submitted_at = row.submitted_at or now
        row.queued_since = row.queued_since or now
        row.updated_at = now
        session.add(row)
        session.add(
            JobEventRow(
                job_id=job_id, at=now, to_state=JobState.QUEUED.value, reason="row accepted"
            )
        )
    return invalid


def _reset_invalid_columns(session: Session, job_id: int, exc: JobInputError) -> None:
    """Null a typed column holding unparseable text, so ORM reads of the row cannot crash."""
    if any(field.split(".")[0] == "deadline" for field, _ in exc.problems):
        session.connection().execute(
            text("UPDATE jobs SET deadline = NULL WHERE id = :id"), {"id": job_id}
        )
