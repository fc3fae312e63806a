"""REST v2 catalogue: GPU types with list prices and stock per data center, and data centers.

Why: a v2 scheduler reads prices and stock here (`/v2/catalog/gpus?include=AVAILABILITY&product=
POD&count=N&cloud=…`) and places pods with `dataCenterIds`; the numbers are the world's, the same
the GraphQL `lowestPrice`/`gpuAvailability` answer. Availability words: the GraphQL stock status
upper-cased (HIGH >= 16 free GPUs on hosts that fit the count, MEDIUM >= 5, LOW >= 1, else NONE).

Rules (reference §2.9): `product` is required with `include=AVAILABILITY` and invalid without it,
`count`/`cloud`/`countryCodes` only with it (400 otherwise); `dataCenters` lists only data
centers that offer the configuration and is omitted when none does. Data-center stock
(`include=GPU_AVAILABILITY`) is computed for one GPU on either cloud (undocumented in production).
Regions come from the data center's country; every emulated data center offers STANDARD network
volumes; EU data centers list GDPR.

What it must not do: change the world.
"""

from __future__ import annotations

from typing import Any

from scheduler.emulator.capacity import HostState, stock_status
from scheduler.emulator.catalogue import CLOUD_TYPES, CloudType, DataCenterSpec, GpuSpec
from scheduler.emulator.handler import HttpResponse
from scheduler.emulator.rest import problems
from scheduler.emulator.rest.context import Ctx, reply
from scheduler.emulator.rest.pods import CUDA_VERSION
from scheduler.emulator.rest.problems import RestError
from scheduler.emulator.world import World

_EUROPE = {"RO", "SE", "NL", "CZ", "IS", "NO", "FI", "DE", "FR", "GB", "ES", "IT", "PL", "BE"}
_NORTH_AMERICA = {"US", "CA", "MX"}
_ASIA = {"JP", "KR", "SG", "IN", "TW", "HK"}
_OCEANIA = {"AU", "NZ"}


def region(country_code: str) -> str:
    for name, members in (
        ("EUROPE", _EUROPE),
        ("NORTH_AMERICA", _NORTH_AMERICA),
        ("ASIA", _ASIA),
        ("OCEANIA", _OCEANIA),
    ):
        if country_code in members:
            return name
    return "UNKNOWN"


def availability(free_gpus: int) -> str:
    word = stock_status(free_gpus)
    return "NONE" if word is None else word.upper()


def _fitting_free(hosts: list[HostState], count: int) -> int:
    return sum(h.free for h in hosts if h.free >= count)


def _manufacturer(gpu: GpuSpec) -> str:
    name = gpu.manufacturer.upper()
    return name if name in ("NVIDIA", "AMD") else "UNKNOWN"


def gpu_type(
    world: World,
    gpu: GpuSpec,
    stock: dict[str, Any] | None,
    countries: set[str] | None = None,
) -> dict[str, Any]:
    """A `GpuType`; `stock` (count, cloud) adds availability, dataCenters and cudaVersions."""
    prices: dict[CloudType, float] = {}
    max_count: dict[CloudType, int] = {}
    for cloud in CLOUD_TYPES:
        entry = world.market.get((gpu.id, cloud))
        hosts = world.capacity.hosts_for(gpu.id, cloud)
        prices[cloud] = 0.0 if entry is None else entry.on_demand()
        max_count[cloud] = max((h.capacity for h in hosts), default=0) if entry else 0
    view: dict[str, Any] = {
        "id": gpu.id,
        "name": gpu.display_name,
        "pool": None,
        "manufacturer": _manufacturer(gpu),
        "memory": gpu.memory_gb,
        "secure": (gpu.id, "SECURE") in world.market,
        "community": (gpu.id, "COMMUNITY") in world.market,
        "price": {"secure": prices["SECURE"], "community": prices["COMMUNITY"]},
        "maxCount": {"secure": max_count["SECURE"], "community": max_count["COMMUNITY"]},
    }
    if stock is None:
        return view
    count, cloud = stock["count"], stock["cloud"]
    hosts = [
        h
        for h in world.capacity.hosts_for(gpu.id, cloud)
        if countries is None or _country(world, h.spec.data_center_id) in countries
    ]
    free = _fitting_free(hosts, count)
    view["availability"] = availability(free)
    centers = []
    for dc in world.catalogue.data_centers:
        here = [h for h in hosts if h.spec.data_center_id == dc.id]
        if here and count <= max(h.capacity for h in here):
            word = availability(_fitting_free(here, count))
            centers.append({"id": dc.id, "name": dc.name, "availability": word})
    if free > 0 or centers:
        view["dataCenters"] = centers
    if _manufacturer(gpu) == "NVIDIA":
        view["cudaVersions"] = [{"version": CUDA_VERSION, "available": free > 0}]
    return view


def _country(world: World, data_center_id: str) -> str | None:
    dc = world.catalogue.data_center(data_center_id)
    return None if dc is None else dc.country_code


def _stock_args(ctx: Ctx) -> tuple[dict[str, Any] | None, set[str] | None]:
    query = ctx.query
    included = "AVAILABILITY" in query.get("include", [])
    if included and not query.get("product"):
        raise RestError(400, "product is required with include=AVAILABILITY")
    if not included:
        for name in ("product", "count", "cloud", "countryCodes"):
            if name in query:
                raise RestError(400, f"{name} is only valid with include=AVAILABILITY")
        return None, None
    stock = {"count": int(query.get("count", 1)), "cloud": query.get("cloud", "SECURE")}
    countries = set(query["countryCodes"]) if query.get("countryCodes") else None
    return stock, countries


def list_gpu_types(ctx: Ctx) -> HttpResponse:
    stock, countries = _stock_args(ctx)
    gpus = [gpu_type(ctx.world, g, stock, countries) for g in ctx.world.catalogue.gpu_types]
    if countries is not None:
        gpus = [g for g in gpus if g.get("dataCenters")]
    return reply({"gpus": gpus})


def get_gpu_type(ctx: Ctx) -> HttpResponse:
    stock, countries = _stock_args(ctx)
    gpu = ctx.world.catalogue.gpu(ctx.id)
    if gpu is None:
        raise RestError(404, problems.GPU_NOT_FOUND)
    return reply(gpu_type(ctx.world, gpu, stock, countries))


def data_center(world: World, dc: DataCenterSpec, include: list[str]) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": dc.id,
        "name": dc.name,
        "region": region(dc.country_code),
        "globalNetwork": False,
        "networkVolumeTypes": ["STANDARD"],
        "compliance": ["GDPR"] if region(dc.country_code) == "EUROPE" else [],
    }
    if "GPU_AVAILABILITY" in include:
        stock = []
        for gpu in world.catalogue.gpu_types:
            hosts = [
                h
                for cloud in CLOUD_TYPES
                for h in world.capacity.hosts_for(gpu.id, cloud)
                if h.spec.data_center_id == dc.id
            ]
            if hosts:
                stock.append(
                    {
                        "id": gpu.id,
                        "name": gpu.display_name,
                        "availability": availability(_fitting_free(hosts, 1)),
                    }
                )
        if stock:
            view["gpuAvailability"] = stock
    return view


def _matches(view: dict[str, Any], query: dict[str, Any]) -> bool:
    if query.get("regions") and view["region"] not in query["regions"]:
        return False
    if not set(query.get("networkVolumeTypes", ())) <= set(view["networkVolumeTypes"]):
        return False
    if not set(query.get("compliance", ())) <= set(view["compliance"]):
        return False
    return "globalNetwork" not in query or view["globalNetwork"] == query["globalNetwork"]


def list_data_centers(ctx: Ctx) -> HttpResponse:
    include = ctx.query.get("include", [])
    views = [data_center(ctx.world, dc, include) for dc in ctx.world.catalogue.data_centers]
    return reply({"dataCenters": [v for v in views if _matches(v, ctx.query)]})


def get_data_center(ctx: Ctx) -> HttpResponse:
    dc = ctx.world.catalogue.data_center(ctx.id)
    if dc is None:
        raise RestError(404, problems.DATA_CENTER_NOT_FOUND)
    return reply(data_center(ctx.world, dc, ctx.query.get("include", [])))
