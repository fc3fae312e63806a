"""GraphQL-shaped views of the world: dicts keyed by schema field names.

Why: graphql-core's default resolver reads dict keys and calls callables with `(info, **args)`,
so fields with arguments (`lowestPrice(input)`, `gpuAvailability(input)`) and costly ones
(`runtime`, `pods`) are callables evaluated only when a document selects them.

What it must not do: change the world; views are read under the world lock the request holds.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from scheduler.emulator.capacity import available_counts, stock_status
from scheduler.emulator.catalogue import CLOUD_TYPES, CloudType, DataCenterSpec, GpuSpec
from scheduler.emulator.containers import usage
from scheduler.emulator.pods import Pod
from scheduler.emulator.world import World

View = dict[str, Any]
USER_ID = "user_2emulatorSpotsched"


def _spot(world: World, gpu_id: str, cloud: CloudType) -> float | None:
    entry = world.market.get((gpu_id, cloud))
    if entry is None or not world.spot_enabled:
        return None
    return entry.spot()


def _on_demand(world: World, gpu_id: str, cloud: CloudType) -> float | None:
    entry = world.market.get((gpu_id, cloud))
    return None if entry is None else entry.on_demand()


def gpu_view(world: World, gpu: GpuSpec) -> View:
    secure = _on_demand(world, gpu.id, "SECURE")
    community = _on_demand(world, gpu.id, "COMMUNITY")
    base = secure if secure is not None else community or 0.0
    return {
        "id": gpu.id,
        "displayName": gpu.display_name,
        "manufacturer": gpu.manufacturer,
        "memoryInGb": gpu.memory_gb,
        "cudaCores": gpu.cuda_cores,
        "secureCloud": secure is not None,
        "communityCloud": community is not None,
        "securePrice": secure,
        "communityPrice": community,
        "secureSpotPrice": _spot(world, gpu.id, "SECURE"),
        "communitySpotPrice": _spot(world, gpu.id, "COMMUNITY"),
        "oneWeekPrice": round(base * 0.97, 3),
        "oneMonthPrice": round(base * 0.93, 3),
        "threeMonthPrice": round(base * 0.89, 3),
        "sixMonthPrice": round(base * 0.85, 3),
        "maxGpuCount": 8,
        "maxGpuCountSecureCloud": 8 if secure is not None else 0,
        "maxGpuCountCommunityCloud": 8 if community is not None else 0,
        "minPodGpuCount": 1,
        "clusterPrice": None,
        "nodeGroupDatacenters": [],
        "lowestPrice": lambda _info, input=None: lowest_price(world, gpu, input or {}),
    }


def _clouds(secure: Any) -> tuple[CloudType, ...]:
    if secure is True:
        return ("SECURE",)
    if secure is False:
        return ("COMMUNITY",)
    return CLOUD_TYPES


def lowest_price(world: World, gpu: GpuSpec, args: Mapping[str, Any]) -> View:
    count = max(1, int(args.get("gpuCount") or 1))
    dc_id, country = args.get("dataCenterId"), args.get("countryCode")
    min_vcpu, min_mem = args.get("minVcpuCount") or 0, args.get("minMemoryInGb") or 0
    on_demand: list[float] = []
    spot: list[float] = []
    hosts = []
    for cloud in _clouds(args.get("secureCloud")):
        price = _on_demand(world, gpu.id, cloud)
        if price is None:
            continue
        on_demand.append(price)
        matching = []
        for host in world.capacity.hosts_for(gpu.id, cloud):
            spec = host.spec
            dc = world.catalogue.data_center(spec.data_center_id)
            if (dc_id and spec.data_center_id != dc_id) or (
                country and (dc is None or dc.country_code != country)
            ):
                continue
            if spec.vcpu_per_gpu * count < min_vcpu or spec.memory_gb_per_gpu * count < min_mem:
                continue
            matching.append(host)
        hosts.extend(matching)
        floor = _spot(world, gpu.id, cloud)
        if floor is not None and any(h.free >= count for h in matching):
            spot.append(floor)
    fitting = [h for h in hosts if h.free >= count]
    max_free = max((h.free for h in hosts), default=0)
    total = sum(h.capacity for h in hosts)
    rented = sum(h.capacity - h.free for h in hosts)
    return {
        "minimumBidPrice": min(spot, default=None),
        "uninterruptablePrice": min(on_demand, default=None),
        "stockStatus": stock_status(sum(h.free for h in fitting)),
        "availableGpuCounts": available_counts(max_free),
        "maxUnreservedGpuCount": max_free,
        "minVcpu": min((h.spec.vcpu_per_gpu * count for h in fitting), default=None),
        "minMemory": min((h.spec.memory_gb_per_gpu * count for h in fitting), default=None),
        "compliance": None,
        "countryCode": country,
        "gpuName": gpu.display_name,
        "gpuTypeId": gpu.id,
        "rentalPercentage": round(rented / total, 4) if total else None,
        "rentedCount": rented,
        "totalCount": total,
        "minDownload": 100 if fitting else None,
        "minDisk": 100 if fitting else None,
        "minUpload": 100 if fitting else None,
        "supportPublicIp": True,
    }


def data_center_view(world: World, dc: DataCenterSpec) -> View:
    def availability(_info: Any, input: Mapping[str, Any] | None = None) -> list[View]:
        args = input or {}
        count = max(1, int(args.get("gpuCount") or 1))
        out = []
        for gpu in world.catalogue.gpu_types:
            hosts = [
                h
                for cloud in _clouds(args.get("secureCloud"))
                for h in world.capacity.hosts_for(gpu.id, cloud)
                if h.spec.data_center_id == dc.id
            ]
            if not hosts:
                continue
            free = sum(h.free for h in hosts if h.free >= count)
            out.append(
                {
                    "id": gpu.id,
                    "gpuTypeId": gpu.id,
                    "displayName": gpu.display_name,
                    "gpuTypeDisplayName": gpu.display_name,
                    "stockStatus": stock_status(free),
                    "available": free > 0,
                }
            )
        return out

    return {
        "id": dc.id,
        "name": dc.name,
        "location": dc.country,
        "listed": True,
        "storageSupport": True,
        "compliance": None,
        "gpuAvailability": availability,
    }


def volume_view(world: World, volume_id: str | None) -> View | None:
    volume = world.account.volumes.get(volume_id or "")
    if volume is None:
        return None
    dc = world.catalogue.data_center(volume.data_center_id)
    return {
        "id": volume.id,
        "name": volume.name,
        "size": volume.size,
        "dataCenterId": volume.data_center_id,
        "dataCenter": None if dc is None else data_center_view(world, dc),
    }


def _runtime_ports(pod: Pod) -> list[View]:
    out: list[View] = []
    for item in (pod.request.ports or "").split(","):
        port, _, kind = item.strip().partition("/")
        if not port.isdigit():
            continue
        rng = random.Random(f"{pod.id}/{port}")
        public = kind == "tcp" and pod.request.support_public_ip
        out.append(
            {
                "ip": pod.public_ip
                if public
                else f"100.65.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                "isIpPublic": public,
                "privatePort": int(port),
                "publicPort": rng.randint(10000, 60000),
                "type": kind or "tcp",
            }
        )
    return out


def runtime_view(world: World, pod: Pod) -> View | None:
    run = pod.run
    t = world.t
    if not pod.running or run is None or t < run.ready_at:
        return None
    busy = not run.finished
    gpus = []
    for i in range(pod.gpu_count):
        u = usage(pod.id, i, t, busy)
        gpus.append(
            {
                "id": pod.gpu_ids[i],
                "gpuUtilPercent": u.gpu_percent,
                "memoryUtilPercent": u.memory_percent,
            }
        )

    def container(_info: Any) -> View:
        u = usage(pod.id, -1, t, busy)
        return {"cpuPercent": u.cpu_percent, "memoryPercent": u.ram_percent}

    return {
        "uptimeInSeconds": int(t - run.ready_at),
        "ports": lambda _info: _runtime_ports(pod),
        "gpus": gpus,
        "container": container,  # lazy: a seeded RNG per call, and few documents ask
    }


def pod_view(world: World, pod: Pod) -> View:
    req, host = pod.request, pod.host
    dc = world.catalogue.data_center(host.data_center_id)
    floor = _spot(world, pod.gpu.id, pod.cloud) if pod.kind == "SPOT" else None
    run = pod.run
    uptime = int(world.t - run.ready_at) if pod.running and run and world.t >= run.ready_at else 0
    machine = {
        "id": host.id,
        "podHostId": f"{pod.id}-{pod.host_suffix}",
        "gpuDisplayName": pod.gpu.display_name,
        "location": None if dc is None else dc.country_code,
        "gpuTypeId": pod.gpu.id,
        "gpuType": lambda _info: gpu_view(world, pod.gpu),
        "dataCenterId": host.data_center_id,
        "costPerHr": pod.cost_per_hr,
        "currentPricePerGpu": round(pod.cost_per_hr / pod.gpu_count, 6),
        "secureCloud": host.cloud == "SECURE",
        "supportPublicIp": True,
        "minPodGpuCount": 1,
        "machineSystem": {
            "os": "Ubuntu 22.04.5 LTS",
            "cudaVersion": "12.8",
            "diskTotal": 2000,
            "diskFree": 1200,
            "dockerVersion": "27.3.1",
            "kernelVersion": "6.8.0-48-generic",
        },
        "cpuTypeId": "AMD EPYC 7763 64-Core Processor",
        "cpuCount": 2,
        "vcpuTotal": host.vcpu_per_gpu * host.gpu_count,
        "memoryTotal": host.memory_gb_per_gpu * host.gpu_count,
        "listed": True,
    }
    started = pod.last_started_at
    return {
        "id": pod.id,
        "name": req.name,
        "imageName": pod.image_name,
        "desiredStatus": pod.status,
        "podType": "INTERRUPTABLE" if pod.kind == "SPOT" else "RESERVED",
        "costPerHr": pod.cost_per_hr,
        "adjustedCostPerHr": pod.cost_per_hr,
        "lowestBidPriceToResume": floor,
        "gpuCount": pod.gpu_count,
        "vcpuCount": host.vcpu_per_gpu * pod.gpu_count,
        "memoryInGb": host.memory_gb_per_gpu * pod.gpu_count,
        "containerDiskInGb": req.container_disk_gb,
        "volumeInGb": req.volume_gb,
        "volumeMountPath": req.volume_mount_path,
        "volumeEncrypted": False,
        "networkVolumeId": req.network_volume_id,
        "networkVolume": lambda _info: volume_view(world, req.network_volume_id),
        "dockerArgs": req.docker_args,
        "dockerId": None,
        "env": [f"{k}={v}" for k, v in pod.env],
        "ports": req.ports,
        "port": None,
        "machineId": host.id,
        "machine": machine,
        "runtime": lambda _info: runtime_view(world, pod),
        "lastStatusChange": pod.last_status_change,
        "uptimeSeconds": uptime,
        "createdAt": pod.created_at_time.isoformat().replace("+00:00", "Z"),
        "lastStartedAt": None if started is None else started.isoformat().replace("+00:00", "Z"),
        "templateId": req.template_id,
        "containerRegistryAuthId": None,
        "locked": pod.locked,
        "consumerUserId": USER_ID,
        "costMultiplier": 1.0,
        "gpuPowerLimitPercent": 100,
        "version": 0,
        "gpus": [{"id": g, "podId": pod.id} for g in pod.gpu_ids[: pod.gpu_count]],
    }


def user_view(world: World) -> View:
    balance = world.balance()
    return {
        "id": USER_ID,
        "authId": "auth0|emulator",
        "email": "emulator@spotsched.invalid",
        "pubKey": world.account.pub_key,
        "pods": lambda _info: [pod_view(world, p) for p in world.pods.values()],
        "networkVolumes": lambda _info: [volume_view(world, v) for v in world.account.volumes],
        "podTemplates": lambda _info: list(world.account.templates.values()),
        "containerRegistryCreds": lambda _info: list(world.account.registry_auths.values()),
        "endpoints": [],
        "datacenters": lambda _info: [
            data_center_view(world, d) for d in world.catalogue.data_centers
        ],
        "clientBalance": round(balance, 6),
        "currentSpendPerHr": round(world.spend_per_hr(), 6),
        "spendLimit": world.spend_limit,
        "minBalance": 0.0,
        "underBalance": balance < 0,
        "notifyPodsStale": True,
        "notifyPodsGeneral": True,
        "notifyLowBalance": True,
    }
