"""What a user asks for: the job spec, validated once at the edge, frozen inside.

Jobs arrive as TOML tables, CLI flags or rows inserted into the `jobs` table by any program;
all three go through `parse_job`, so the same field gets the same error message everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from scheduler.domain.errors import SpotschedError
from scheduler.domain.job_fields import (
    GpuChoice,
    duration_or_none,
    kind_of,
    number,
    parse_env,
    parse_gpu_types,
    text_field,
)
from scheduler.domain.states import CloudType, OnIdle

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
KNOWN_GPU_TYPES_ONLY = "known_gpu_types_only"
"""Validation context key: refuse GPU types this version does not know (submissions)."""


@dataclass(frozen=True, slots=True)
class JobSpec:
    name: str
    image: str
    gpu_types: tuple[GpuChoice, ...]
    max_spot_price: float
    gpu_count: int = 1
    cloud_type: CloudType = CloudType.ALL
    command: str | None = None
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # values: secrets
    max_on_demand_price: float | None = None
    fallback_after: float | None = None
    max_preemptions: int | None = None
    deadline: datetime | None = None
    estimated_runtime: float | None = None
    priority: int = 0
    ports: str | None = None
    container_disk_gb: int = 20
    volume_gb: int = 0
    volume_mount_path: str = "/workspace"
    network_volume_id: str | None = None
    data_center_id: str | None = None
    idle_timeout: float | None = 600.0
    idle_threshold: float = 5.0
    idle_grace: float = 300.0
    on_idle: OnIdle = OnIdle.TERMINATE
    max_runtime: float | None = None
    max_cost: float | None = None
    checkpoint: bool = False

    @property
    def allows_on_demand(self) -> bool:
        return self.max_on_demand_price is not None

    def speed_of(self, gpu_type_id: str) -> float:
        for choice in self.gpu_types:
            if choice.gpu_type_id == gpu_type_id:
                return choice.speed
        return 1.0


class JobInputError(SpotschedError):
    """The job is not valid."""

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        where = f"{source}: " if source else ""
        text = "; ".join(f"{name}: {msg}" for name, msg in problems)
        super().__init__(f"{where}{text}")


_NUMBER_FIELDS = (
    "max_spot_price",
    "gpu_count",
    "max_on_demand_price",
    "max_preemptions",
    "priority",
    "container_disk_gb",
    "volume_gb",
    "idle_threshold",
    "max_cost",
)
_DURATION_FIELDS = (
    "fallback_after",
    "estimated_runtime",
    "idle_timeout",
    "idle_grace",
    "max_runtime",
)
_LINE_FIELDS = ("image", "ports", "volume_mount_path", "network_volume_id", "data_center_id")


class _JobInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    name: str
    image: str = Field(min_length=1, max_length=1000)
    gpu_types: tuple[GpuChoice, ...]
    max_spot_price: float = Field(gt=0, le=100)
    gpu_count: int = Field(default=1, ge=1, le=16)
    cloud_type: CloudType = CloudType.ALL
    command: str | None = Field(default=None, max_length=100_000)
    env: dict[str, Any] = Field(default_factory=dict)  # Any: values are kept verbatim
    max_on_demand_price: float | None = Field(default=None, gt=0, le=200)
    fallback_after: float | None = None
    max_preemptions: int | None = Field(default=None, ge=0, le=1_000_000)
    deadline: datetime | None = None
    estimated_runtime: float | None = None
    priority: int = Field(default=0, ge=-1000, le=1000)
    ports: str | None = Field(default=None, max_length=1000)
    container_disk_gb: int = Field(default=20, ge=1, le=2000)
    volume_gb: int = Field(default=0, ge=0, le=10000)
    volume_mount_path: str = Field(default="/workspace", max_length=1000)
    network_volume_id: str | None = Field(default=None, max_length=200)
    data_center_id: str | None = Field(default=None, max_length=200)
    idle_timeout: float | None = 600.0
    idle_threshold: float = Field(default=5.0, ge=0, le=100)
    idle_grace: float = 300.0
    on_idle: OnIdle = OnIdle.TERMINATE
    max_runtime: float | None = None
    max_cost: float | None = Field(default=None, gt=0, le=10_000_000)
    checkpoint: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_PATTERN.match(v):
            raise ValueError(
                "use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        return v

    @field_validator("gpu_types", mode="before")
    @classmethod
    def _gpu_types(cls, v: Any, info: ValidationInfo) -> tuple[GpuChoice, ...]:
        known_only = bool(info.context and info.context.get(KNOWN_GPU_TYPES_ONLY))
        return parse_gpu_types(v, known_only=known_only)

    @field_validator("cloud_type", "on_idle", mode="before")
    @classmethod
    def _enum_case(cls, v: Any) -> Any:
        if isinstance(v, str):
            return v.upper() if v.lower() in {"secure", "community", "all"} else v.lower()
        return v

    @field_validator(*_NUMBER_FIELDS, mode="before")
    @classmethod
    def _numbers(cls, v: Any) -> Any:
        return number(v)

    @field_validator(*_DURATION_FIELDS, mode="before")
    @classmethod
    def _durations(cls, v: Any) -> float | None:
        return duration_or_none(v)

    @field_validator(*_LINE_FIELDS, mode="before")
    @classmethod
    def _lines(cls, v: Any, info: ValidationInfo) -> Any:
        return text_field(v, info.field_name or "text")

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, v: Any) -> Any:
        return text_field(v, "command", multiline=True)

    @field_validator("checkpoint", mode="before")
    @classmethod
    def _flag(cls, v: Any) -> Any:
        if isinstance(v, bool | str) or (type(v) is int and v in (0, 1)):
            return v
        raise ValueError(f"give true or false (got {kind_of(v)})")

    @field_validator("deadline", mode="before")
    @classmethod
    def _deadline_type(cls, v: Any) -> Any:
        if v is None or v == "":
            return None
        if isinstance(v, datetime | str):
            return v
        raise ValueError(
            f"give an ISO 8601 date and time such as 2026-12-01T08:00:00Z (got {kind_of(v)})"
        )

    @field_validator("deadline", mode="after")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return None
        if v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        if not 1970 <= v.year <= 9000:
            raise ValueError("a deadline must lie between the years 1970 and 9000")
        return v.astimezone(UTC)

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, v: Any) -> dict[str, str]:
        return parse_env(v)

    @model_validator(mode="after")
    def _consistent(self) -> _JobInput:
        if self.max_on_demand_price is not None and self.max_on_demand_price < 0:
            raise ValueError("max_on_demand_price must be positive")
        return self


def parse_job(
    raw: Mapping[str, Any], source: str | None = None, *, known_gpu_types_only: bool = False
) -> JobSpec:
    """Validate one job given as a mapping. Raises `JobInputError` naming every bad field.

    `known_gpu_types_only` is for submissions (CLI, TOML files): a GPU type this version does
    not know is refused with a "did you mean"; rows from SQL are checked against the market."""
    cleaned = {k: v for k, v in raw.items() if v is not None}
    try:
        model = _JobInput.model_validate(
            cleaned, context={KNOWN_GPU_TYPES_ONLY: known_gpu_types_only}
        )
    except ValidationError as exc:
        problems = [
            (".".join(str(p) for p in err["loc"][:1]) or "job", _readable(err))
            for err in exc.errors()
        ]
        raise JobInputError(problems, source) from None
    data = model.model_dump()
    data["env"] = tuple(sorted(model.env.items()))
    data["gpu_types"] = model.gpu_types
    return JobSpec(**data)


def _readable(err: Any) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return "unknown field"
    if err["type"] == "missing":
        return "required"
    value = err.get("input")
    secret = bool(err["loc"]) and err["loc"][0] == "env"
    if err["type"] not in ("value_error", "assertion_error") and not secret:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            msg = f"{msg} (got {shown})"
        elif value is not None:
            msg = f"{msg} (got {kind_of(value)})"
    return msg


def job_to_mapping(spec: JobSpec) -> dict[str, Any]:
    """A plain mapping of the spec that `parse_job` accepts again (round trip)."""
    out: dict[str, Any] = {
        "name": spec.name,
        "image": spec.image,
        "gpu_types": [{"id": c.gpu_type_id, "speed": c.speed} for c in spec.gpu_types],
        "max_spot_price": spec.max_spot_price,
        "gpu_count": spec.gpu_count,
        "cloud_type": spec.cloud_type.value,
        "command": spec.command,
        "env": dict(spec.env),
        "max_on_demand_price": spec.max_on_demand_price,
        "fallback_after": spec.fallback_after,
        "max_preemptions": spec.max_preemptions,
        "deadline": spec.deadline.isoformat() if spec.deadline else None,
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
    return out
