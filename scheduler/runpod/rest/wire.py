"""REST v2 answers (pydantic, checked) → the provider port's frozen `models`.

Every answer is hostile until checked: a body is validated against the fields we read (unknown
fields are ignored, since RunPod adds fields weekly; a wrong type, a negative price or GPU count,
an unknown pod status or availability word is `MalformedResponse` naming the field), then mapped
to the same values the GraphQL adapter returns, so nothing above the port can tell them apart.

Mapping (reference §2.1, §2.9, §4): `status` PROVISIONING/STARTING/RUNNING → desired status
RUNNING (runtime stays null until RUNNING, as GraphQL's does while a pod starts), EXITED →
EXITED, TERMINATED → TERMINATED, ERROR → ERROR (neither running nor stopped: the policy waits
for its launch timeout); `cost` → cost_per_hr; availability HIGH/MEDIUM/LOW → the GraphQL words
High/Medium/Low and NONE → no stock; catalogue `price.secure/community` → on-demand price per GPU.
REST v2 has no spot: no minimum bid and no pod type anywhere.

Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scheduler.runpod.models import (
    DataCenter,
    DataCenterGpu,
    GpuMarket,
    GpuUtilisation,
    LowestPrice,
    Market,
    NetworkVolume,
    Pod,
    PodRuntime,
    Template,
)
from scheduler.runpod.parse import MalformedResponse

MAX_TEXT = 1000  # longest id, name or image we accept from an answer
M = TypeVar("M", bound=BaseModel)


class PodStatus(StrEnum):
    PROVISIONING = "PROVISIONING"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    EXITED = "EXITED"
    ERROR = "ERROR"
    TERMINATED = "TERMINATED"


class Availability(StrEnum):
    NONE = "NONE"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


# Best stock first, for ordering data centers; NONE is never tried.
STOCK_RANK = {Availability.HIGH: 0, Availability.MEDIUM: 1, Availability.LOW: 2}
_DESIRED = {
    PodStatus.PROVISIONING: "RUNNING",
    PodStatus.STARTING: "RUNNING",
    PodStatus.RUNNING: "RUNNING",
    PodStatus.EXITED: "EXITED",
    PodStatus.ERROR: "ERROR",
    PodStatus.TERMINATED: "TERMINATED",
}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


Text = Field(max_length=MAX_TEXT)


def _enum_word(enum: type[StrEnum]) -> Any:
    """A before-validator turning a string into `enum` (strict models want the member)."""

    def convert(value: Any) -> Any:
        return enum(value) if isinstance(value, str) else value

    return convert


def _finite(value: float | None) -> float | None:
    if value is not None and (not math.isfinite(value) or value < 0):
        raise ValueError("must be a finite number >= 0")
    return value


class GpuUsage(_Wire):
    util: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    memoryUtil: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)


class Runtime(_Wire):
    uptime: int | None = Field(default=None, ge=0)
    gpus: list[GpuUsage] = []


class PodGpu(_Wire):
    id: str = Text
    count: int = Field(ge=0, le=1024)


class NetworkMount(_Wire):
    volumeId: str = Text
    path: str | None = None


class Mounts(_Wire):
    network: list[NetworkMount] | None = None


class WirePod(_Wire):
    id: str = Field(min_length=1, max_length=MAX_TEXT)
    name: str = Field(default="", max_length=MAX_TEXT)
    status: PodStatus
    image: str | None = Field(default=None, max_length=MAX_TEXT)
    gpu: PodGpu | None = None
    cost: float = 0.0
    dataCenterId: str | None = Field(default=None, max_length=MAX_TEXT)
    env: dict[str, str] = {}
    mounts: Mounts | None = None
    runtime: Runtime | None = None

    _cost = field_validator("cost")(_finite)

    _status = field_validator("status", mode="before")(_enum_word(PodStatus))

    @field_validator("runtime", mode="before")
    @classmethod
    def _empty_runtime(cls, value: Any) -> Any:
        return None if value == {} else value  # the spec's create example shows `{}`


class Price(_Wire):
    secure: float | None = None
    community: float | None = None

    _finite = field_validator("secure", "community")(_finite)


class DcStock(_Wire):
    id: str = Field(min_length=1, max_length=MAX_TEXT)
    name: str | None = Field(default=None, max_length=MAX_TEXT)
    availability: Availability = Availability.NONE

    _word = field_validator("availability", mode="before")(_enum_word(Availability))


class WireGpu(_Wire):
    id: str = Field(min_length=1, max_length=MAX_TEXT)
    name: str | None = Field(default=None, max_length=MAX_TEXT)
    memory: int | None = Field(default=None, ge=0)
    secure: bool = False
    community: bool = False
    price: Price = Price()
    availability: Availability | None = None
    dataCenters: list[DcStock] = []

    _word = field_validator("availability", mode="before")(_enum_word(Availability))


class WireDataCenter(_Wire):
    id: str = Field(min_length=1, max_length=MAX_TEXT)
    name: str | None = Field(default=None, max_length=MAX_TEXT)
    region: str | None = Field(default=None, max_length=MAX_TEXT)
    gpuAvailability: list[DcStock] = []


class WireVolume(_Wire):
    id: str = Field(min_length=1, max_length=MAX_TEXT)
    name: str = Field(default="", max_length=MAX_TEXT)
    size: int = Field(default=0, ge=0)
    dataCenter: str | None = Field(default=None, max_length=MAX_TEXT)


class WireTemplate(_Wire):
    id: str = Field(min_length=1, max_length=MAX_TEXT)
    name: str = Field(default="", max_length=MAX_TEXT)
    image: str | None = Field(default=None, max_length=MAX_TEXT)


def check(model: type[M], value: Any, what: str) -> M:
    """`value` validated as `model`, or `MalformedResponse` naming the first bad field."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(body)"
        raise MalformedResponse(f"{what}.{where}: {first['msg']}") from None


def items(body: Any, member: str) -> list[Any]:
    """The list a v2 list answer wraps (`{"pods": [...]}`)."""
    if not isinstance(body, dict) or not isinstance(body.get(member), list):
        raise MalformedResponse(f"the answer has no list {member!r}")
    return list(body[member])


def stock_word(availability: Availability | None) -> str | None:
    """GraphQL's stockStatus word for a v2 availability (NONE: no stock)."""
    if availability is None or availability is Availability.NONE:
        return None
    return availability.value.capitalize()


def pod(value: Any) -> Pod:
    p = check(WirePod, value, "pod")
    runtime = None
    if p.runtime is not None and p.status is PodStatus.RUNNING:
        runtime = PodRuntime(
            uptime_seconds=p.runtime.uptime,
            gpus=tuple(
                GpuUtilisation(
                    id=str(i),
                    gpu_util_percent=None if g.util is None else round(g.util),
                    memory_util_percent=None if g.memoryUtil is None else round(g.memoryUtil),
                )
                for i, g in enumerate(p.runtime.gpus)
            ),
        )
    network = p.mounts.network if p.mounts is not None and p.mounts.network else None
    return Pod(
        id=p.id,
        name=p.name,
        desired_status=_DESIRED[p.status],
        pod_type=None,
        cost_per_hr=p.cost,
        gpu_count=p.gpu.count if p.gpu is not None else 0,
        image_name=p.image,
        gpu_type_id=p.gpu.id if p.gpu is not None else None,
        data_center_id=p.dataCenterId,
        runtime=runtime,
        env=tuple(f"{k}={v}" for k, v in p.env.items()),
        network_volume_id=network[0].volumeId if network else None,
    )


def gpus(body: Any) -> list[WireGpu]:
    return [check(WireGpu, g, f"gpus[{i}]") for i, g in enumerate(items(body, "gpus"))]


def market(
    answers: Sequence[tuple[int, bool, list[WireGpu]]],
    combos: Sequence[tuple[int, bool | None]],
    gpu_type_ids: Sequence[str] | None,
) -> Market:
    """One `Market` from catalogue answers per (count, secure) asked; a combination with
    `secure_cloud` None takes the cheaper cloud's price and the better stock."""
    wanted = None if gpu_type_ids is None else set(gpu_type_ids)
    by_key = {(n, s): {g.id: g for g in answer} for n, s, answer in answers}
    order = [g.id for _n, _s, answer in answers for g in answer]
    out: list[GpuMarket] = []
    for gpu_id in dict.fromkeys(order):
        if wanted is not None and gpu_id not in wanted:
            continue
        lowest: list[LowestPrice] = []
        for n, secure in combos:
            clouds = (True, False) if secure is None else (secure,)
            quotes = [q for s in clouds if (q := _quote(by_key.get((n, s), {}).get(gpu_id), s))]
            if quotes:
                price = min(p for p, _w in quotes)
                words = [w for _p, w in quotes if w in STOCK_RANK]
                best = min(words, key=lambda w: STOCK_RANK[w]) if words else None
                lowest.append(LowestPrice(n, secure, None, price, stock_word(best)))
        info = next(d[gpu_id] for d in by_key.values() if gpu_id in d)
        out.append(
            GpuMarket(
                id=gpu_id,
                display_name=info.name or gpu_id,
                memory_gb=info.memory,
                secure_price=info.price.secure if info.secure else None,
                community_price=info.price.community if info.community else None,
                secure_spot_price=None,
                community_spot_price=None,
                lowest=tuple(lowest),
            )
        )
    return Market(gpus=tuple(out))


def _quote(gpu: WireGpu | None, secure: bool) -> tuple[float, Availability | None] | None:
    if gpu is None or not (gpu.secure if secure else gpu.community):
        return None
    price = gpu.price.secure if secure else gpu.price.community
    if price is None or price <= 0:
        return None
    return price, gpu.availability


def data_centers(body: Any) -> tuple[DataCenter, ...]:
    out = []
    for i, raw in enumerate(items(body, "dataCenters")):
        dc = check(WireDataCenter, raw, f"dataCenters[{i}]")
        out.append(
            DataCenter(
                id=dc.id,
                name=dc.name,
                location=dc.region,
                gpus=tuple(
                    DataCenterGpu(g.id, stock_word(g.availability), g.availability in STOCK_RANK)
                    for g in dc.gpuAvailability
                ),
            )
        )
    return tuple(out)


def network_volume(value: Any) -> NetworkVolume:
    v = check(WireVolume, value, "networkVolume")
    return NetworkVolume(id=v.id, name=v.name, size_gb=v.size, data_center_id=v.dataCenter)


def template(value: Any) -> Template:
    t = check(WireTemplate, value, "template")
    return Template(id=t.id, name=t.name, image_name=t.image)
