"""JSON values from RunPod → the frozen models in `models`, checked against hard bounds.

RunPod's output fields are nullable almost everywhere (reference §5), so absent numbers become
None (or 0 where the model needs a number) rather than crashing. Everything present is hostile
until checked: a value that cannot be what the schema says (a pod without an id, a string where
a list belongs), or that no real answer can hold (a NaN, infinite or negative price, 1e308 GPUs,
a NUL byte or an escape sequence in a name, a million pods) raises `MalformedResponse` naming
the field's path (`pods[3].costPerHr`). The whole answer is dropped: a pod silently left out of
a list would look gone, and a NaN price would reach the ledger and the budgets.

Pure: no I/O, no httpx.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Final

from scheduler.runpod.errors import MalformedResponse
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

__all__ = ["MalformedResponse"]

MAX_ITEMS: Final = 10_000
"""Pods, GPU types, data centres, volumes in one answer (an account has a few dozen)."""
MAX_SMALL_ITEMS: Final = 1_024
"""GPUs of one pod, GPU counts of one price, env entries of one pod."""
MAX_TEXT: Final = 1_024
"""Characters of an id, a name, a status."""
MAX_ENV_TEXT: Final = 65_536
MAX_PRICE: Final = 10_000.0
"""Dollars per hour, per GPU or per pod: the dearest pod RunPod rents costs tens of dollars."""
MAX_MONEY: Final = 1e9
"""Dollars of balance or spend limit."""
MAX_GPUS: Final = 1_024
MAX_GB: Final = 1_000_000
MAX_SECONDS: Final = 10 * 365 * 86_400
MAX_PERCENT: Final = 100

_ENV_WHITESPACE: Final = frozenset("\t\n\r")
_NAME_CONTROLS: Final = frozenset(chr(c) for c in [*range(1, 32), *range(127, 160)])


def _bad(path: str, problem: str) -> MalformedResponse:
    return MalformedResponse(f"{path} {problem}", field=path)


def _obj(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(path, "is not an object")
    return value


def _list(value: Any, path: str, limit: int = MAX_ITEMS) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _bad(path, "is not a list")
    if len(value) > limit:
        raise _bad(path, f"holds {len(value)} items, more than the {limit} any answer holds")
    return value


def _str(
    value: Any, path: str, limit: int = MAX_TEXT, allowed: frozenset[str] = frozenset()
) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(path, "is not a string")
    if len(value) > limit:
        raise _bad(path, f"is longer than {limit} characters")
    for ch in value:
        if ch not in allowed and unicodedata.category(ch) in ("Cc", "Cs"):
            raise _bad(path, f"holds a control character (U+{ord(ch):04X})")
    return value


def _name(value: Any, path: str) -> str:
    """A name anyone on the account chose (a pod's, a volume's, a template's): any text but NUL
    and lone surrogates. Control characters are shown escaped wherever we print a name; refusing
    them here would let one person's oddly named pod fail every pod list (and so every tick).
    Our own pods' names are plain ASCII, so such a name is never one of ours."""
    return _str(value, path, allowed=_NAME_CONTROLS) or ""


def _required_str(value: Any, path: str) -> str:
    text = _str(value, path)
    if not text:
        raise _bad(path, "is missing")
    return text


def _number(value: Any, path: str) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(path, "is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(path, "is not a finite number")
    return value


def _float(value: Any, path: str, limit: float) -> float | None:
    """A non-negative amount (dollars, dollars per hour) of at most `limit`."""
    number = _number(value, path)
    if number is None:
        return None
    if number < 0:
        raise _bad(path, "is negative")
    if number > limit:
        raise _bad(path, f"is more than {limit:g}")
    return float(number)


def _int(value: Any, path: str, limit: int) -> int | None:
    """A whole number from 0 to `limit`."""
    number = _number(value, path)
    if number is None:
        return None
    if isinstance(number, float) and not number.is_integer():
        raise _bad(path, "is not a whole number")
    if not 0 <= number <= limit:
        raise _bad(path, f"is outside 0..{limit}")
    return int(number)


def lowest_price(
    value: Any, gpu_count: int, secure_cloud: bool | None, path: str = "lowestPrice"
) -> LowestPrice | None:
    """One aliased `lowestPrice`; None when RunPod has no price for that combination."""
    if value is None:
        return None
    lp = _obj(value, path)
    counts_path = f"{path}.availableGpuCounts"
    raw_counts = _list(lp.get("availableGpuCounts"), counts_path, MAX_SMALL_ITEMS)
    counts = tuple(
        n
        for i, c in enumerate(raw_counts)
        if (n := _int(c, f"{counts_path}[{i}]", MAX_GPUS)) is not None
    )
    return LowestPrice(
        gpu_count=gpu_count,
        secure_cloud=secure_cloud,
        minimum_bid_price=_float(lp.get("minimumBidPrice"), f"{path}.minimumBidPrice", MAX_PRICE),
        uninterruptable_price=_float(
            lp.get("uninterruptablePrice"), f"{path}.uninterruptablePrice", MAX_PRICE
        ),
        stock_status=_str(lp.get("stockStatus"), f"{path}.stockStatus"),
        max_unreserved_gpu_count=_int(
            lp.get("maxUnreservedGpuCount"), f"{path}.maxUnreservedGpuCount", MAX_GPUS * 1_000
        ),
        available_gpu_counts=counts,
    )


def market(value: Any, combos: Sequence[tuple[int, bool | None]], aliases: Sequence[str]) -> Market:
    """`gpuTypes` with one aliased `lowestPrice` per combination (same order as `aliases`)."""
    gpus: list[GpuMarket] = []
    for i, raw in enumerate(_list(value, "gpuTypes")):
        if raw is None:
            continue
        at = f"gpuTypes[{i}]"
        g = _obj(raw, at)
        lowest = tuple(
            lp
            for (count, secure), alias in zip(combos, aliases, strict=True)
            if (lp := lowest_price(g.get(alias), count, secure, f"{at}.{alias}")) is not None
        )
        gpu_id = _required_str(g.get("id"), f"{at}.id")
        gpus.append(
            GpuMarket(
                id=gpu_id,
                display_name=_str(g.get("displayName"), f"{at}.displayName") or gpu_id,
                memory_gb=_int(g.get("memoryInGb"), f"{at}.memoryInGb", MAX_GB),
                secure_price=_float(g.get("securePrice"), f"{at}.securePrice", MAX_PRICE),
                community_price=_float(g.get("communityPrice"), f"{at}.communityPrice", MAX_PRICE),
                secure_spot_price=_float(
                    g.get("secureSpotPrice"), f"{at}.secureSpotPrice", MAX_PRICE
                ),
                community_spot_price=_float(
                    g.get("communitySpotPrice"), f"{at}.communitySpotPrice", MAX_PRICE
                ),
                lowest=lowest,
            )
        )
    return Market(gpus=tuple(gpus))


def runtime(value: Any, path: str = "runtime") -> PodRuntime | None:
    if value is None:
        return None
    rt = _obj(value, path)
    gpus: list[GpuUtilisation] = []
    for i, raw in enumerate(_list(rt.get("gpus"), f"{path}.gpus", MAX_SMALL_ITEMS)):
        at = f"{path}.gpus[{i}]"
        g = _obj(raw, at)
        gpus.append(
            GpuUtilisation(
                id=_str(g.get("id"), f"{at}.id") or "",
                gpu_util_percent=_int(g.get("gpuUtilPercent"), f"{at}.gpuUtilPercent", MAX_PERCENT),
                memory_util_percent=_int(
                    g.get("memoryUtilPercent"), f"{at}.memoryUtilPercent", MAX_PERCENT
                ),
            )
        )
    return PodRuntime(
        uptime_seconds=_int(rt.get("uptimeInSeconds"), f"{path}.uptimeInSeconds", MAX_SECONDS),
        gpus=tuple(gpus),
    )


def pod(value: Any, path: str = "pod") -> Pod:
    p = _obj(value, path)
    machine = p.get("machine")
    m = _obj(machine, f"{path}.machine") if machine is not None else {}
    env = tuple(
        s
        for i, e in enumerate(_list(p.get("env"), f"{path}.env", MAX_SMALL_ITEMS))
        if (s := _str(e, f"{path}.env[{i}]", MAX_ENV_TEXT, _ENV_WHITESPACE)) is not None
    )
    return Pod(
        id=_required_str(p.get("id"), f"{path}.id"),
        name=_name(p.get("name"), f"{path}.name"),
        # desiredStatus is RunPod's target state; null has been seen only on broken pods.
        desired_status=_str(p.get("desiredStatus"), f"{path}.desiredStatus") or "UNKNOWN",
        pod_type=_str(p.get("podType"), f"{path}.podType"),
        cost_per_hr=_float(p.get("costPerHr"), f"{path}.costPerHr", MAX_PRICE) or 0.0,
        gpu_count=_int(p.get("gpuCount"), f"{path}.gpuCount", MAX_GPUS) or 0,
        image_name=_name(p.get("imageName"), f"{path}.imageName") or None,
        gpu_type_id=_str(m.get("gpuTypeId"), f"{path}.machine.gpuTypeId"),
        data_center_id=_str(m.get("dataCenterId"), f"{path}.machine.dataCenterId"),
        last_status_change=_str(p.get("lastStatusChange"), f"{path}.lastStatusChange"),
        runtime=runtime(p.get("runtime"), f"{path}.runtime"),
        env=env,
        network_volume_id=_str(p.get("networkVolumeId"), f"{path}.networkVolumeId"),
        machine_id=_str(p.get("machineId"), f"{path}.machineId"),
    )


def pods(value: Any) -> tuple[Pod, ...]:
    return tuple(pod(p, f"pods[{i}]") for i, p in enumerate(_list(value, "pods")) if p is not None)


def network_volume(value: Any, path: str = "networkVolume") -> NetworkVolume:
    v = _obj(value, path)
    return NetworkVolume(
        id=_required_str(v.get("id"), f"{path}.id"),
        name=_name(v.get("name"), f"{path}.name"),
        size_gb=_int(v.get("size"), f"{path}.size", MAX_GB) or 0,
        data_center_id=_str(v.get("dataCenterId"), f"{path}.dataCenterId"),
    )


def network_volumes(value: Any) -> tuple[NetworkVolume, ...]:
    return tuple(
        network_volume(v, f"networkVolumes[{i}]")
        for i, v in enumerate(_list(value, "networkVolumes"))
        if v is not None
    )


def template(value: Any) -> Template:
    t = _obj(value, "template")
    return Template(
        id=_required_str(t.get("id"), "template.id"),
        name=_name(t.get("name"), "template.name"),
        image_name=_str(t.get("imageName"), "template.imageName"),
    )


def account(value: Any) -> Account:
    a = _obj(value, "myself")
    return Account(
        client_balance=_float(a.get("clientBalance"), "myself.clientBalance", MAX_MONEY),
        current_spend_per_hr=_float(
            a.get("currentSpendPerHr"), "myself.currentSpendPerHr", MAX_MONEY
        ),
        spend_limit=_float(a.get("spendLimit"), "myself.spendLimit", MAX_MONEY),
    )


def data_centers(value: Any) -> tuple[DataCenter, ...]:
    result: list[DataCenter] = []
    for i, raw in enumerate(_list(value, "dataCenters")):
        if raw is None:
            continue
        at = f"dataCenters[{i}]"
        dc = _obj(raw, at)
        gpus: list[DataCenterGpu] = []
        for j, x in enumerate(_list(dc.get("gpuAvailability"), f"{at}.gpuAvailability")):
            if x is None:
                continue
            g_at = f"{at}.gpuAvailability[{j}]"
            g = _obj(x, g_at)
            gpus.append(
                DataCenterGpu(
                    gpu_type_id=_required_str(g.get("gpuTypeId"), f"{g_at}.gpuTypeId"),
                    stock_status=_str(g.get("stockStatus"), f"{g_at}.stockStatus"),
                    available=g.get("available") is True,
                )
            )
        result.append(
            DataCenter(
                id=_required_str(dc.get("id"), f"{at}.id"),
                name=_str(dc.get("name"), f"{at}.name"),
                location=_str(dc.get("location"), f"{at}.location"),
                gpus=tuple(gpus),
            )
        )
    return tuple(result)
