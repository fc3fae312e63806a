"""REST v2 billing history: `/v2/billing`, `/v2/billing/pods`, `/v2/billing/network-volumes`.

Why: the bill a v2 client reads must be the bill the world keeps (the GraphQL balance drops by
the same dollars): amounts are exact integrals of each pod's `cost` over its running time, cut at
bucket edges. Buckets (`hour day week month year`, default `day`) are UTC calendar units, weeks
start on Monday; `startTime` (default now - 30 days) snaps down to a bucket start, `endTime`
(exclusive, default now) snaps up; `lastN` counts buckets ending with the current one and
excludes `startTime`/`endTime` (400).

Emulator choices: the world bills GPU time only, so `cpuAmount`/`diskAmount` and all storage
amounts are 0 and `/v2/billing/network-volumes` has no records; `/v2/billing` has a record for
every bucket of the range, `/v2/billing/pods` one per pod and bucket that cost something.

What it must not do: change money; it reads segments the world recorded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from scheduler.emulator.handler import HttpResponse
from scheduler.emulator.rest.context import Ctx, iso, reply
from scheduler.emulator.rest.problems import RestError, invalid

AGGREGATE = (
    "podGpuAmount",
    "podCpuAmount",
    "podDiskAmount",
    "serverlessGpuAmount",
    "serverlessCpuAmount",
    "serverlessDiskAmount",
    "serverlessFeeAmount",
    "storageStandardAmount",
    "storageHighPerformanceAmount",
    "endpointAmount",
    "clusterGpuAmount",
    "clusterDiskAmount",
    "clusterNetworkingAmount",
)


def floor_bucket(when: datetime, size: str) -> datetime:
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    if size == "hour":
        return when.replace(minute=0, second=0, microsecond=0)
    if size == "day":
        return day
    if size == "week":
        return day - timedelta(days=day.weekday())
    if size == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def next_bucket(start: datetime, size: str) -> datetime:
    if size == "hour":
        return start + timedelta(hours=1)
    if size == "day":
        return start + timedelta(days=1)
    if size == "week":
        return start + timedelta(weeks=1)
    if size == "month":
        year, month = divmod(start.month, 12)
        return start.replace(year=start.year + year, month=month + 1)
    return start.replace(year=start.year + 1)


def _parse(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise invalid(f"{name}: '{text}' is not an RFC 3339 date-time") from exc
    if value.tzinfo is None:
        raise invalid(f"{name}: '{text}' has no time zone")
    return value


def buckets(ctx: Ctx) -> tuple[str, list[tuple[datetime, datetime]]]:
    query, now = ctx.query, ctx.world.now
    size = str(query.get("bucketSize", "day"))
    if "lastN" in query:
        if "startTime" in query or "endTime" in query:
            raise RestError(400, "lastN cannot be combined with startTime or endTime")
        end = next_bucket(floor_bucket(now, size), size)
        start = end
        for _ in range(int(query["lastN"])):
            start = floor_bucket(start - timedelta(microseconds=1), size)
    else:
        start = floor_bucket(
            _parse(query["startTime"], "startTime")
            if "startTime" in query
            else now - timedelta(days=30),
            size,
        )
        raw_end = _parse(query["endTime"], "endTime") if "endTime" in query else now
        end = floor_bucket(raw_end, size)
        if end < raw_end:
            end = next_bucket(end, size)
        if end <= start:
            raise RestError(400, "endTime must be after startTime")
    edges = []
    cursor = start
    while cursor < end:
        edges.append((cursor, next_bucket(cursor, size)))
        cursor = edges[-1][1]
    return size, edges


def _seconds(ctx: Ctx, when: datetime) -> float:
    return min((when - ctx.world.origin).total_seconds(), ctx.world.t)


def _metadata(
    size: str, edges: list[tuple[datetime, datetime]], records: list[Any], totals: dict[str, float]
) -> dict[str, Any]:
    start = edges[0][0] if edges else None
    end = edges[-1][1] if edges else None
    return {
        "query": {
            "startTime": iso(start) if start else None,
            "endTime": iso(end) if end else None,
            "bucketSize": size,
        },
        "recordCount": len(records),
        "totals": totals,
    }


def aggregate(ctx: Ctx) -> HttpResponse:
    size, edges = buckets(ctx)
    pods = [*ctx.world.pods.values(), *ctx.world.gone.values()]
    records = []
    for a, b in edges:
        gpu = sum(p.billed_between(_seconds(ctx, a), _seconds(ctx, b)) for p in pods)
        record: dict[str, Any] = {"startTime": iso(a), "endTime": iso(b), "totalAmount": gpu}
        record.update(dict.fromkeys(AGGREGATE, 0.0))
        record["podGpuAmount"] = gpu
        records.append(record)
    totals = {"totalAmount": sum(r["totalAmount"] for r in records)}
    totals.update({k: sum(r[k] for r in records) for k in AGGREGATE})
    return reply({"records": records, "metadata": _metadata(size, edges, records, totals)})


def pods(ctx: Ctx) -> HttpResponse:
    size, edges = buckets(ctx)
    wanted = ctx.query.get("podId")
    everyone = [*ctx.world.pods.values(), *ctx.world.gone.values()]
    chosen = [p for p in everyone if wanted is None or p.id == wanted]
    records: list[dict[str, Any]] = []
    for a, b in edges:
        for pod in chosen:
            gpu = pod.billed_between(_seconds(ctx, a), _seconds(ctx, b))
            if gpu > 0:
                records.append(
                    {
                        "startTime": iso(a),
                        "endTime": iso(b),
                        "podId": pod.id,
                        "totalAmount": gpu,
                        "gpuAmount": gpu,
                        "cpuAmount": 0.0,
                        "diskAmount": 0.0,
                    }
                )
    total = sum(r["totalAmount"] for r in records)
    totals = {"totalAmount": total, "gpuAmount": total, "cpuAmount": 0.0, "diskAmount": 0.0}
    metadata = _metadata(size, edges, records, totals)
    if wanted is not None:
        metadata["query"]["podId"] = wanted
    metadata["uniquePodCount"] = len({r["podId"] for r in records})
    return reply({"records": records, "metadata": metadata})


def network_volumes(ctx: Ctx) -> HttpResponse:
    size, edges = buckets(ctx)
    totals = {"totalAmount": 0.0, "standardAmount": 0.0, "highPerformanceAmount": 0.0}
    metadata = _metadata(size, edges, [], totals)
    if "networkVolumeId" in ctx.query:
        metadata["query"]["networkVolumeId"] = ctx.query["networkVolumeId"]
    metadata["uniqueNetworkVolumeCount"] = 0
    return reply({"records": [], "metadata": metadata})
