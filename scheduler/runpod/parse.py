"""JSON values from RunPod → the frozen models in `models`.

RunPod's output fields are nullable almost everywhere (reference §5), so absent numbers become
None (or 0 where the model needs a number) rather than crashing; but a value that cannot be what
the schema says (a pod without an id, a string where a list belongs) raises `MalformedResponse`,
which the client reports as a transient failure of that request.

Pure: no I/O, no httpx.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scheduler.runpod.models import (
    Account,
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


class MalformedResponse(ValueError):
    """RunPod's answer does not have the shape the document asked for."""


def _obj(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedResponse(f"{what} is not an object")
    return value


def _list(value: Any, what: str) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MalformedResponse(f"{what} is not a list")
    return value


def _str(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise MalformedResponse(f"{what} is not a string")


def _required_str(value: Any, what: str) -> str:
    text = _str(value, what)
    if not text:
        raise MalformedResponse(f"{what} is missing")
    return text


def _float(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedResponse(f"{what} is not a number")
    return float(value)


def _int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedResponse(f"{what} is not a number")
    if isinstance(value, float) and not value.is_integer():
        raise MalformedResponse(f"{what} is not a whole number")
    return int(value)


def lowest_price(value: Any, gpu_count: int, secure_cloud: bool | None) -> LowestPrice | None:
    """One aliased `lowestPrice`; None when RunPod has no price for that combination."""
    if value is None:
        return None
    lp = _obj(value, "lowestPrice")
    raw_counts = _list(lp.get("availableGpuCounts"), "availableGpuCounts")
    counts = tuple(
        n for n in (_int(c, "availableGpuCounts[]") for c in raw_counts) if n is not None
    )
    return LowestPrice(
        gpu_count=gpu_count,
        secure_cloud=secure_cloud,
        minimum_bid_price=_float(lp.get("minimumBidPrice"), "minimumBidPrice"),
        uninterruptable_price=_float(lp.get("uninterruptablePrice"), "uninterruptablePrice"),
        stock_status=_str(lp.get("stockStatus"), "stockStatus"),
        max_unreserved_gpu_count=_int(lp.get("maxUnreservedGpuCount"), "maxUnreservedGpuCount"),
        available_gpu_counts=counts,
    )


def market(value: Any, combos: Sequence[tuple[int, bool | None]], aliases: Sequence[str]) -> Market:
    """`gpuTypes` with one aliased `lowestPrice` per combination (same order as `aliases`)."""
    gpus: list[GpuMarket] = []
    for raw in _list(value, "gpuTypes"):
        if raw is None:
            continue
        g = _obj(raw, "gpuTypes[]")
        lowest = tuple(
            lp
            for (count, secure), alias in zip(combos, aliases, strict=True)
            if (lp := lowest_price(g.get(alias), count, secure)) is not None
        )
        gpu_id = _required_str(g.get("id"), "gpuTypes[].id")
        gpus.append(
            GpuMarket(
                id=gpu_id,
                display_name=_str(g.get("displayName"), "displayName") or gpu_id,
                memory_gb=_int(g.get("memoryInGb"), "memoryInGb"),
                secure_price=_float(g.get("securePrice"), "securePrice"),
                community_price=_float(g.get("communityPrice"), "communityPrice"),
                secure_spot_price=_float(g.get("secureSpotPrice"), "secureSpotPrice"),
                community_spot_price=_float(g.get("communitySpotPrice"), "communitySpotPrice"),
                lowest=lowest,
            )
        )
    return Market(gpus=tuple(gpus))


def runtime(value: Any) -> PodRuntime | None:
    if value is None:
        return None
    rt = _obj(value, "runtime")
    gpus = tuple(
        GpuUtilisation(
            id=_str(g.get("id"), "runtime.gpus[].id") or "",
            gpu_util_percent=_int(g.get("gpuUtilPercent"), "gpuUtilPercent"),
            memory_util_percent=_int(g.get("memoryUtilPercent"), "memoryUtilPercent"),
        )
        for g in (_obj(x, "runtime.gpus[]") for x in _list(rt.get("gpus"), "runtime.gpus"))
    )
    return PodRuntime(uptime_seconds=_int(rt.get("uptimeInSeconds"), "uptimeInSeconds"), gpus=gpus)


def pod(value: Any) -> Pod:
    p = _obj(value, "pod")
    machine = p.get("machine")
    m = _obj(machine, "machine") if machine is not None else {}
    env = tuple(s for s in (_str(e, "env[]") for e in _list(p.get("env"), "env")) if s is not None)
    return Pod(
        id=_required_str(p.get("id"), "pod.id"),
        name=_str(p.get("name"), "pod.name") or "",
        # desiredStatus is RunPod's target state; null has been seen only on broken pods.
        desired_status=_str(p.get("desiredStatus"), "desiredStatus") or "UNKNOWN",
        pod_type=_str(p.get("podType"), "podType"),
        cost_per_hr=_float(p.get("costPerHr"), "costPerHr") or 0.0,
        gpu_count=_int(p.get("gpuCount"), "gpuCount") or 0,
        image_name=_str(p.get("imageName"), "imageName"),
        gpu_type_id=_str(m.get("gpuTypeId"), "machine.gpuTypeId"),
        data_center_id=_str(m.get("dataCenterId"), "machine.dataCenterId"),
        last_status_change=_str(p.get("lastStatusChange"), "lastStatusChange"),
        runtime=runtime(p.get("runtime")),
        env=env,
        network_volume_id=_str(p.get("networkVolumeId"), "networkVolumeId"),
        machine_id=_str(p.get("machineId"), "machineId"),
    )


def pods(value: Any) -> tuple[Pod, ...]:
    return tuple(pod(p) for p in _list(value, "pods") if p is not None)


def network_volume(value: Any) -> NetworkVolume:
    v = _obj(value, "networkVolume")
    return NetworkVolume(
        id=_required_str(v.get("id"), "networkVolume.id"),
        name=_str(v.get("name"), "networkVolume.name") or "",
        size_gb=_int(v.get("size"), "networkVolume.size") or 0,
        data_center_id=_str(v.get("dataCenterId"), "networkVolume.dataCenterId"),
    )


def network_volumes(value: Any) -> tuple[NetworkVolume, ...]:
    return tuple(network_volume(v) for v in _list(value, "networkVolumes") if v is not None)


def template(value: Any) -> Template:
    t = _obj(value, "template")
    return Template(
        id=_required_str(t.get("id"), "template.id"),
        name=_str(t.get("name"), "template.name") or "",
        image_name=_str(t.get("imageName"), "template.imageName"),
    )


def account(value: Any) -> Account:
    a = _obj(value, "myself")
    return Account(
        client_balance=_float(a.get("clientBalance"), "clientBalance"),
        current_spend_per_hr=_float(a.get("currentSpendPerHr"), "currentSpendPerHr"),
        spend_limit=_float(a.get("spendLimit"), "spendLimit"),
    )


def data_centers(value: Any) -> tuple[DataCenter, ...]:
    result: list[DataCenter] = []
    for raw in _list(value, "dataCenters"):
        if raw is None:
            continue
        dc = _obj(raw, "dataCenters[]")
        gpus = tuple(
            DataCenterGpu(
                gpu_type_id=_required_str(g.get("gpuTypeId"), "gpuAvailability[].gpuTypeId"),
                stock_status=_str(g.get("stockStatus"), "gpuAvailability[].stockStatus"),
                available=g.get("available") is True,
            )
            for g in (
                _obj(x, "gpuAvailability[]")
                for x in _list(dc.get("gpuAvailability"), "gpuAvailability")
                if x is not None
            )
        )
        result.append(
            DataCenter(
                id=_required_str(dc.get("id"), "dataCenters[].id"),
                name=_str(dc.get("name"), "dataCenters[].name"),
                location=_str(dc.get("location"), "dataCenters[].location"),
                gpus=gpus,
            )
        )
    return tuple(result)
