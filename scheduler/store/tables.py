"""The SQL schema: SQLModel tables, CHECK constraints from the domain enums, the partial
unique index that keeps a job to one live attempt. Rows never leave `scheduler.store`.

Every user-facing column of `jobs` has a server default, so any program can queue a job with
`INSERT INTO jobs (name, image, gpu_types, max_spot_price) VALUES (...)`; such a row starts
with `validated = false` and is checked (or marked `invalid`) on the daemon's next tick.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Column, DateTime, Index, String, text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from scheduler.domain.states import (
    AttemptKind,
    AttemptState,
    CloudType,
    EndReason,
    JobOutcome,
    JobState,
    OnIdle,
    PodCall,
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        when: datetime = value
        if when.tzinfo is None:
            return when.replace(tzinfo=UTC)
        return when.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        """Text that is no timestamp (SQLite lets any program's INSERT store it) reads as None,
        so one such row cannot crash every reader; `validate_pending` reads the raw text."""
        process = super().result_processor(dialect, coltype)
        if process is None:
            return None

        def lenient(value: Any) -> datetime | None:
            try:
                return process(value)
            except (ValueError, TypeError, OverflowError):  # a number or a blob: same
                return None

        return lenient


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UtcDateTime(), nullable=nullable, index=index))


def _in(table: str, column: str, enum: type[StrEnum], nullable: bool = False) -> CheckConstraint:
    values = ", ".join(f"'{m.value}'" for m in enum)
    cond = f"{column} IN ({values})"
    if nullable:
        cond = f"{column} IS NULL OR {cond}"
    return CheckConstraint(cond, name=f"ck_{table}_{column}_valid")


def _enum_column(table: str, column: str, enum: type[StrEnum]) -> Any:
    """A nullable enum column added by a later migration: its CHECK is part of the column
    (SQLite's ADD COLUMN can add a column constraint, never a table constraint)."""
    return Field(
        default=None,
        sa_column=Column(column, String(), _in(table, column, enum, nullable=True), nullable=True),
    )


def _d(value: str) -> dict[str, Any]:
    return {"server_default": text(value)}


LIVE_NAME = "state IN ('queued', 'launching', 'running', 'preempted') AND cancel_requested = false"
"""Rows of one name that may not exist twice: live jobs not being cancelled (`submit --replace`
asks the old one to cancel and queues the new one at once)."""


class JobRow(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        _in("jobs", "state", JobState),
        _in("jobs", "cloud_type", CloudType),
        _in("jobs", "on_idle", OnIdle),
        CheckConstraint("gpu_count >= 1", name="ck_jobs_gpu_count_positive"),
        Index("ix_jobs_state_validated", "state", "validated"),
        Index(
            "ux_jobs_one_live_per_name",
            "name",
            unique=True,
            sqlite_where=text(LIVE_NAME),
            postgresql_where=text(LIVE_NAME),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    image: str
    gpu_types: str
    max_spot_price: float
    gpu_count: int = Field(default=1, sa_column_kwargs=_d("1"))
    cloud_type: str = Field(default="ALL", sa_column_kwargs=_d("'ALL'"))
    command: str | None = None
    env: str | None = None  # a JSON object; a raw row may also insert `K=V` lines
    max_on_demand_price: float | None = None
    fallback_after: float | None = None
    max_preemptions: int | None = None
    deadline: datetime | None = _ts()
    estimated_runtime: float | None = None
    priority: int = Field(default=0, sa_column_kwargs=_d("0"))
    ports: str | None = None
    container_disk_gb: int = Field(default=20, sa_column_kwargs=_d("20"))
    volume_gb: int = Field(default=0, sa_column_kwargs=_d("0"))
    volume_mount_path: str = Field(default="/workspace", sa_column_kwargs=_d("'/workspace'"))
    network_volume_id: str | None = None
    data_center_id: str | None = None
    idle_timeout: float | None = Field(default=600.0, sa_column_kwargs=_d("600"))
    idle_threshold: float = Field(default=5.0, sa_column_kwargs=_d("5"))
    idle_grace: float = Field(default=300.0, sa_column_kwargs=_d("300"))
    on_idle: str = Field(default="terminate", sa_column_kwargs=_d("'terminate'"))
    max_runtime: float | None = None
    max_cost: float | None = None
    checkpoint: bool = Field(default=False, sa_column_kwargs=_d("false"))
    # lifecycle (written only through scheduler.store.transitions)
    state: str = Field(default="queued", sa_column_kwargs=_d("'queued'"))
    state_reason: str | None = None
    validated: bool = Field(default=False, sa_column_kwargs=_d("false"))
    # intents (written by users)
    cancel_requested: bool = Field(default=False, sa_column_kwargs=_d("false"))
    source: str = Field(default="sql", sa_column_kwargs=_d("'sql'"))
    submitted_at: datetime | None = _ts()
    queued_since: datetime | None = _ts()
    updated_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()
    # aggregates kept by the ledger
    preemptions: int = Field(default=0, sa_column_kwargs=_d("0"))
    work_seconds: float = Field(default=0.0, sa_column_kwargs=_d("0"))
    spend: float = Field(default=0.0, sa_column_kwargs=_d("0"))
    # revision 0003: a deadline that passed before the job finished (never silent), and how a
    # finished job ended
    deadline_missed_at: datetime | None = _ts()
    outcome: str | None = _enum_column("jobs", "outcome", JobOutcome)


class AttemptRow(SQLModel, table=True):
    __tablename__ = "attempts"
    __table_args__ = (
        _in("attempts", "kind", AttemptKind),
        _in("attempts", "state", AttemptState),
        _in("attempts", "end_reason", EndReason, nullable=True),
        Index(
            "ux_attempts_one_live_per_job",
            "job_id",
            unique=True,
            sqlite_where=text("state != 'ended'"),
            postgresql_where=text("state != 'ended'"),
        ),
        Index("ux_attempts_job_number", "job_id", "number", unique=True),
        Index("ix_attempts_state", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="jobs.id")
    number: int
    kind: str
    state: str
    gpu_type_id: str
    gpu_count: int
    secure_cloud: bool | None = None
    bid_per_gpu: float | None = None
    on_demand_price_per_gpu: float | None = None
    pod_name: str = Field(unique=True)
    pod_id: str | None = Field(default=None, index=True)
    cost_per_hr: float | None = None
    data_center_id: str | None = None
    created_at: datetime | None = _ts(nullable=False)
    started_at: datetime | None = _ts()
    preempted_at: datetime | None = _ts()
    ended_at: datetime | None = _ts(index=True)
    end_reason: str | None = None
    detail: str | None = None
    resume_failures: int = 0
    overbid: bool = False
    # the ledger
    accounted_until: datetime | None = _ts()
    billing: bool = False
    runtime_up: bool = False
    cost: float = 0.0
    counterfactual: float = 0.0
    running_seconds: float = 0.0
    segment_cost: float = 0.0
    waste: float = 0.0
    # revision 0003: the latest create/resume call, and the intent of a pod call in flight
    launched_at: datetime | None = _ts()
    pending_call: str | None = _enum_column("attempts", "pending_call", PodCall)
    pending_reason: str | None = _enum_column("attempts", "pending_reason", EndReason)
    pending_job_to: str | None = _enum_column("attempts", "pending_job_to", JobState)
    pending_detail: str | None = None
    pending_bid: float | None = None
    pending_at: datetime | None = _ts()


class JobEventRow(SQLModel, table=True):
    __tablename__ = "job_events"

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="jobs.id", index=True)
    attempt_id: int | None = None
    at: datetime | None = _ts(nullable=False)
    from_state: str | None = None
    to_state: str | None = None
    kind: str = "transition"
    reason: str = ""


class LedgerDayRow(SQLModel, table=True):
    """Money per attempt per UTC day: what budgets and `spotsched cost` read."""

    __tablename__ = "ledger_days"

    day: str = Field(primary_key=True)
    attempt_id: int = Field(primary_key=True, foreign_key="attempts.id")
    job_id: int = Field(index=True)
    gpu_type_id: str
    kind: str
    cost: float = 0.0
    counterfactual: float = 0.0
    waste: float = 0.0
    gpu_seconds: float = 0.0


class PriceSampleRow(SQLModel, table=True):
    __tablename__ = "price_samples"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime | None = _ts(nullable=False, index=True)
    gpu_type_id: str
    gpu_count: int
    secure_cloud: bool
    spot_min_bid: float | None = None
    on_demand: float | None = None
    stock: str | None = None


class DaemonStateRow(SQLModel, table=True):
    """Key-value facts the daemon shares with the CLI: last tick, spot capability, leader."""

    __tablename__ = "daemon_state"

    key: str = Field(primary_key=True)
    value: str
    updated_at: datetime | None = _ts()
