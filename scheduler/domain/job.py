"""What a user asks for: the job spec, validated once at the edge, frozen inside.

Jobs arrive as TOML tables, CLI flags or rows inserted into the `jobs` table by any program;
all three go through `parse_job`, so the same field gets the same error message everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from scheduler.domain.durations import parse_duration
from scheduler.domain.errors import SpotschedError
from scheduler.domain.states import CloudType, OnIdle

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


@dataclass(frozen=True, slots=True)
class GpuChoice:
    """An acceptable GPU type and how fast it runs this job relative to the others (1.0)."""

    gpu_type_id: str
    speed: float = 1.0


@dataclass(frozen=True, slots=True)
class JobSpec:
    name: str
    image: str
    gpu_types: tuple[GpuChoice, ...]
    max_spot_price: float
    gpu_count: int = 1
    cloud_type: CloudType = CloudType.ALL
    command: str | None = None
    env: tuple[tuple[str, str], ...] = ()
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


def _duration_or_none(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return parse_duration(value)


class _JobInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str
    image: str = Field(min_length=1)
    gpu_types: tuple[GpuChoice, ...]
    max_spot_price: float = Field(gt=0, le=100)
    gpu_count: int = Field(default=1, ge=1, le=16)
    cloud_type: CloudType = CloudType.ALL
    command: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    max_on_demand_price: float | None = Field(default=None, gt=0, le=200)
    fallback_after: float | None = None
    max_preemptions: int | None = Field(default=None, ge=0)
    deadline: datetime | None = None
    estimated_runtime: float | None = None
    priority: int = Field(default=0, ge=-1000, le=1000)
    ports: str | None = None
    container_disk_gb: int = Field(default=20, ge=1, le=2000)
    volume_gb: int = Field(default=0, ge=0, le=10000)
    volume_mount_path: str = "/workspace"
    network_volume_id: str | None = None
    data_center_id: str | None = None
    idle_timeout: float | None = 600.0
    idle_threshold: float = Field(default=5.0, ge=0, le=100)
    idle_grace: float = 300.0
    on_idle: OnIdle = OnIdle.TERMINATE
    max_runtime: float | None = None
    max_cost: float | None = Field(default=None, gt=0)
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
    def _gpu_types(cls, v: Any) -> tuple[GpuChoice, ...]:
        return parse_gpu_types(v)

    @field_validator("cloud_type", "on_idle", mode="before")
    @classmethod
    def _enum_case(cls, v: Any) -> Any:
        if isinstance(v, str):
            return v.upper() if v.lower() in {"secure", "community", "all"} else v.lower()
        return v

    @field_validator(
        "fallback_after",
        "estimated_runtime",
        "idle_timeout",
        "idle_grace",
        "max_runtime",
        mode="before",
    )
    @classmethod
    def _durations(cls, v: Any) -> float | None:
        return _duration_or_none(v)

    @field_validator("deadline", mode="after")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            return v.replace(tzinfo=UTC)
        return v

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, v: Any) -> Any:
        if isinstance(v, str):
            return parse_env_text(v)
        if isinstance(v, dict):
            return {str(k): str(val) for k, val in v.items()}
        return v

    @model_validator(mode="after")
    def _consistent(self) -> _JobInput:
        if self.max_on_demand_price is not None and self.max_on_demand_price < 0:
            raise ValueError("max_on_demand_price must be positive")
        for key in self.env:
            if key.startswith("SPOTSCHED_") and not key.startswith("SPOTSCHED_SIM_"):
                raise ValueError(f"env: {key} is reserved for spotsched")
        return self


def parse_gpu_types(value: Any) -> tuple[GpuChoice, ...]:
    """GPU types from a list (strings or {id, speed} tables) or "id[:speed],id[:speed]" text."""
    items: list[Any]
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ValueError("give a list of GPU type ids, e.g. ['NVIDIA RTX A5000', 'NVIDIA A40']")
    choices: list[GpuChoice] = []
    for item in items:
        if isinstance(item, GpuChoice):
            choices.append(item)
            continue
        if isinstance(item, dict):
            gpu_id, speed = item.get("id"), item.get("speed", 1.0)
        elif isinstance(item, str):
            gpu_id, _, speed_text = item.partition(":")
            speed = float(speed_text) if speed_text.strip() else 1.0
        else:
            raise ValueError(f"{item!r} is not a GPU type id")
        if not isinstance(gpu_id, str) or not gpu_id.strip():
            raise ValueError("every GPU type needs an id")
        if not isinstance(speed, int | float) or speed <= 0:
            raise ValueError(f"speed of {gpu_id} must be a positive number")
        choices.append(GpuChoice(gpu_id.strip(), float(speed)))
    if not choices:
        raise ValueError("name at least one GPU type")
    if len({c.gpu_type_id for c in choices}) != len(choices):
        raise ValueError("a GPU type is listed twice")
    return tuple(choices)


def parse_env_text(text: str) -> dict[str, str]:
    """`K=V` pairs separated by newlines or commas (the jobs table's text form)."""
    env: dict[str, str] = {}
    for part in re.split(r"[\n,]", text):
        if not part.strip():
            continue
        key, sep, val = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{part.strip()!r} is not KEY=VALUE")
        env[key.strip()] = val
    return env


def parse_job(raw: Mapping[str, Any], source: str | None = None) -> JobSpec:
    """Validate one job given as a mapping. Raises `JobInputError` naming every bad field."""
    cleaned = {k: v for k, v in raw.items() if v is not None}
    try:
        model = _JobInput.model_validate(cleaned)
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
    if err["type"] not in ("value_error", "assertion_error") and isinstance(
        value, str | int | float
    ):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        msg = f"{msg} (got {shown})"
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
