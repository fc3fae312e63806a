"""REST v2 pods: the `Pod` view of a world pod, and list/get/create/update/delete/action.

Why: the same pods the GraphQL side serves, seen as v2 shows them: `status` derived from the
world (PROVISIONING for the first half of the start-up delay, STARTING until the container is
up, RUNNING, EXITED; ERROR never arises in the emulator; terminated pods are 404 and absent from
the list), `actions[]` legal for that status, `cost` 0 unless the pod holds GPUs, `runtime` and
`ssh.direct` only while RUNNING.

Emulator choices where the reference is silent: a locked pod refuses `stop` and `restart` (409);
`start` of a spot pod (made over GraphQL) is 400 `Cannot resume a spot pod as an on demand pod.`;
PATCH changes the stored configuration without restarting the container; a pod without a
container disk size shows `disk` 20.

What it must not do: decide placement or billing (world.py does), or parse bodies by hand (the
OpenAPI schemas are checked first).
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from typing import Any

from scheduler.emulator.containers import usage
from scheduler.emulator.errors import ApiError
from scheduler.emulator.handler import HttpResponse
from scheduler.emulator.pods import Pod, PodRequest
from scheduler.emulator.rest import problems
from scheduler.emulator.rest.context import Ctx, no_content, reply
from scheduler.emulator.rest.context import iso as _iso
from scheduler.emulator.rest.paging import page
from scheduler.emulator.rest.problems import RestError
from scheduler.emulator.views import _runtime_ports
from scheduler.emulator.world import World

CUDA_VERSION = "12.8"  # what every emulated host reports (views.py machineSystem)
DEFAULT_DISK_GB = 20


class PodStatus(StrEnum):
    PROVISIONING = "PROVISIONING"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    EXITED = "EXITED"
    ERROR = "ERROR"
    TERMINATED = "TERMINATED"


ACTIONS: dict[PodStatus, tuple[str, ...]] = {
    PodStatus.PROVISIONING: ("stop", "terminate"),
    PodStatus.STARTING: ("stop", "terminate"),
    PodStatus.RUNNING: ("stop", "restart", "terminate"),
    PodStatus.EXITED: ("start", "terminate"),
    PodStatus.ERROR: ("start", "terminate"),
    PodStatus.TERMINATED: (),
}


def status(world: World, pod: Pod) -> PodStatus:
    if pod.terminated_at is not None:
        return PodStatus.TERMINATED
    run = pod.run
    if not pod.running or run is None:
        return PodStatus.EXITED
    started = run.ready_at - world.startup_delay
    if world.t < started + world.startup_delay / 2:
        return PodStatus.PROVISIONING
    if world.t < run.ready_at:
        return PodStatus.STARTING
    return PodStatus.RUNNING


def _mounts(pod: Pod) -> dict[str, Any]:
    req = pod.request
    path = req.volume_mount_path or "/workspace"
    if req.network_volume_id is not None:
        return {"network": [{"volumeId": req.network_volume_id, "path": path}]}
    if req.volume_gb:
        return {"persistent": {"size": req.volume_gb, "path": path}}
    return {}


def pod_view(ctx: Ctx, pod: Pod) -> dict[str, Any]:
    world, req, host = ctx.world, pod.request, pod.host
    extras = ctx.rest.pod_extras.get(pod.id, {})
    now = status(world, pod)
    ports = [p.strip() for p in (req.ports or "").split(",") if p.strip()]
    username = f"{pod.id}-{pod.host_suffix}"
    ssh: dict[str, Any] = {
        "proxy": {
            "host": "ssh.runpod.io",
            "port": 22,
            "username": username,
            "command": f"ssh {username}@ssh.runpod.io",
        },
        "direct": None,
    }
    runtime = None
    if now is PodStatus.RUNNING:
        mapped = _runtime_ports(pod)
        for item in mapped:
            if item["privatePort"] == 22 and item["type"] == "tcp" and item["isIpPublic"]:
                ssh["direct"] = {
                    "host": item["ip"],
                    "port": item["publicPort"],
                    "username": "root",
                    "command": f"ssh root@{item['ip']} -p {item['publicPort']}",
                }
        runtime = _runtime(world, pod, mapped)
    global_networking = bool(extras.get("globalNetworking", False))
    view: dict[str, Any] = {
        "id": pod.id,
        "name": req.name or "",
        "status": now.value,
        "actions": list(ACTIONS[now]),
        "image": pod.image_name,
        "args": req.docker_args or "",
        "disk": req.container_disk_gb or DEFAULT_DISK_GB,
        "mounts": _mounts(pod),
        "ports": ports,
        "env": dict(pod.env),
        "registry": extras.get("registry"),
        "gpu": {
            "id": pod.gpu.id,
            "count": pod.gpu_count,
            "vcpuCount": host.vcpu_per_gpu * pod.gpu_count,
            "memory": host.memory_gb_per_gpu * pod.gpu_count,
        },
        "cloud": pod.cloud,
        "dataCenterId": host.data_center_id,
        "cudaVersion": CUDA_VERSION,
        "ssh": ssh,
        "template": None,  # v2 keeps no link to the template a pod was made from
        "cost": pod.cost_per_hr if pod.running else 0.0,
        "locked": pod.locked,
        "globalNetworking": {"enabled": global_networking}
        | ({"internalDns": f"{pod.id}.runpod.internal"} if global_networking else {}),
        "runtime": runtime,
        "createdAt": _iso(pod.created_at_time),
        "startedAt": None
        if pod.last_started_at is None or now is PodStatus.PROVISIONING
        else _iso(pod.last_started_at),
    }
    for key in ("entrypoint", "cmd"):
        if key in extras:
            view[key] = extras[key]
    return view


def _runtime(world: World, pod: Pod, ports: list[dict[str, Any]]) -> dict[str, Any]:
    run = pod.run
    assert run is not None
    busy = not run.finished
    gpus = []
    for i in range(pod.gpu_count):
        u = usage(pod.id, i, world.t, busy)
        gpus.append({"util": u.gpu_percent, "memoryUtil": u.memory_percent})
    box = usage(pod.id, -1, world.t, busy)
    return {
        "uptime": int(world.t - run.ready_at),
        "gpus": gpus,
        "cpu": {"util": box.cpu_percent},
        "memory": {"util": box.ram_percent},
        "ports": [
            {
                "private": p["privatePort"],
                "public": p["publicPort"],
                "type": p["type"],
                "ip": p["ip"],
            }
            for p in ports
        ],
    }


def _live(ctx: Ctx) -> Pod:
    pod = ctx.world.pods.get(ctx.id)
    if pod is None:
        raise RestError(404, problems.POD_NOT_FOUND)
    return pod


# ----------------------------------------------------------------- endpoints
def list_pods(ctx: Ctx) -> HttpResponse:
    pods = list(ctx.world.pods.values())  # creation order
    if not ctx.rest.config.pagination:
        return reply({"pods": [pod_view(ctx, p) for p in pods]})
    order = ctx.rest.order([p.id for p in pods])
    chunk, pagination = page(pods, lambda p: [order[p.id]], "listPods", ctx.query, 1000)
    return reply({"pods": [pod_view(ctx, p) for p in chunk], "pagination": pagination})


def get_pod(ctx: Ctx) -> HttpResponse:
    return reply(pod_view(ctx, _live(ctx)))


def _cuda_fits(gpu: dict[str, Any]) -> bool:
    allowed = gpu.get("allowedCudaVersions") or []
    if allowed and gpu.get("minCudaVersion") is not None:
        raise RestError(400, problems.CUDA_EXCLUSIVE)
    if allowed and CUDA_VERSION not in allowed:
        return False
    wanted = gpu.get("minCudaVersion")
    if wanted is None:
        return True
    have = tuple(int(x) for x in CUDA_VERSION.split("."))
    return tuple(int(x) for x in str(wanted).split(".")) <= have


def _template(ctx: Ctx, template_id: str | None) -> dict[str, Any]:
    if template_id is None:
        return {}
    template = ctx.world.account.templates.get(template_id)
    if template is None:
        raise RestError(404, problems.TEMPLATE_NOT_FOUND)
    return template


def _mount_fields(ctx: Ctx, mounts: dict[str, Any]) -> dict[str, Any]:
    persistent, network = mounts.get("persistent"), mounts.get("network")
    if persistent is not None and network:
        raise RestError(400, problems.BOTH_MOUNTS)
    if network:
        volume_id = network[0]["volumeId"]
        if volume_id not in ctx.world.account.volumes:
            raise RestError(400, problems.VOLUME_NOT_FOUND)
        return {"network_volume_id": volume_id, "volume_mount_path": network[0]["path"]}
    if persistent is not None:
        return {"volume_gb": persistent["size"], "volume_mount_path": persistent["path"]}
    return {}


def create_pod(ctx: Ctx) -> HttpResponse:
    body = ctx.body()
    if "gpu" not in body:
        raise problems.invalid("$: missing property 'gpu'")
    template = _template(ctx, body.get("templateId"))
    image = body.get("image") or template.get("imageName")
    if not image:
        raise problems.invalid("$: missing property 'image'")
    gpu = body["gpu"]
    count = int(gpu.get("count", 1))
    cloud = body.get("cloud", "SECURE")
    env = {e["key"]: e["value"] for e in template.get("env", [])}
    env.update(body.get("env", {}))
    ports = body.get("ports")
    req = PodRequest(
        name=body["name"],
        image_name=str(image),
        gpu_type_ids=(gpu["id"],),
        gpu_count=count,
        cloud_type=cloud,
        data_center_id=None,
        country_code=None,
        container_disk_gb=body.get("disk", template.get("containerDiskInGb")),
        volume_gb=None,
        volume_mount_path=None,
        docker_args=body.get("args", template.get("dockerArgs")),
        ports=",".join(ports) if ports is not None else template.get("ports"),
        env=tuple(env.items()),
        template_id=body.get("templateId"),  # kept inside (a template in use cannot go)
        network_volume_id=None,
        min_vcpu=None if "minVcpuCountPerGpu" not in gpu else gpu["minVcpuCountPerGpu"] * count,
        min_memory_gb=None if "minRamPerGpu" not in gpu else gpu["minRamPerGpu"] * count,
        bid_per_gpu=None,
        support_public_ip=True,
        data_center_ids=tuple(body.get("dataCenterIds", ())),
    )
    req = replace(req, **_mount_fields(ctx, body.get("mounts", {})))
    world = ctx.world
    if not _cuda_fits(gpu):
        raise RestError(400, problems.CAPACITY)
    entry = world.market.get((gpu["id"], cloud))
    if entry is not None and world.balance() < entry.on_demand() * count:
        raise RestError(402, problems.INSUFFICIENT_BALANCE)
    try:
        pod = world.create_pod(req, spot=False)
    except ApiError as exc:
        raise RestError(400, exc.message) from exc
    extras = ctx.rest.extras(pod.id)
    for key in ("registry", "globalNetworking", "entrypoint", "cmd"):
        if key in body:
            extras[key] = body[key]
    return reply(pod_view(ctx, pod), 201)


def update_pod(ctx: Ctx) -> HttpResponse:
    body = ctx.body()
    pod = _live(ctx)
    template = _template(ctx, body.get("templateId"))
    changes: dict[str, Any] = {}
    image = body.get("image", template.get("imageName"))
    if image:
        pod.image_name = str(image)
    if "name" in body:
        changes["name"] = body["name"]
    args = body.get("args", template.get("dockerArgs"))
    if args is not None:
        changes["docker_args"] = args
    disk = body.get("disk", template.get("containerDiskInGb"))
    if disk is not None:
        changes["container_disk_gb"] = disk
    if "ports" in body:
        changes["ports"] = ",".join(body["ports"])
    elif template.get("ports"):
        changes["ports"] = template["ports"]
    if "env" in body or template.get("env"):
        env = body.get("env", {e["key"]: e["value"] for e in template.get("env", [])})
        pod.env = tuple(env.items())
        changes["env"] = pod.env
    changes.update(_patch_mounts(pod, body.get("mounts")))
    pod.request = replace(pod.request, **changes)
    if "locked" in body:
        pod.locked = body["locked"]
    extras = ctx.rest.extras(pod.id)
    for key in ("registry", "globalNetworking", "entrypoint", "cmd"):
        if key in body:
            extras[key] = body[key]
    return reply(pod_view(ctx, pod))


def _patch_mounts(pod: Pod, mounts: dict[str, Any] | None) -> dict[str, Any]:
    """Mount kind and volume are fixed at create; only a persistent volume's size/path change."""
    if not mounts:
        return {}
    req = pod.request
    if "network" in mounts:
        network = mounts["network"]
        if (
            not network
            or req.network_volume_id is None
            or network[0]["volumeId"] != req.network_volume_id
        ):
            raise RestError(400, "mounts.network: the network volume cannot be changed")
        return {"volume_mount_path": network[0]["path"]}
    persistent = mounts.get("persistent")
    if persistent is None:
        return {}
    if req.network_volume_id is not None or not req.volume_gb:
        raise RestError(400, "mounts.persistent: the pod was created without a persistent volume")
    return {"volume_gb": persistent["size"], "volume_mount_path": persistent["path"]}


def delete_pod(ctx: Ctx) -> HttpResponse:
    _live(ctx)
    ctx.world.terminate_pod(ctx.id)
    return no_content()


def pod_action(ctx: Ctx) -> HttpResponse:
    action = ctx.body()["action"]
    pod = _live(ctx)
    now = status(ctx.world, pod)
    if action not in ACTIONS[now]:
        raise RestError(409, problems.illegal_action(action, now.value))
    if pod.locked and action in ("stop", "restart"):
        raise RestError(409, problems.POD_LOCKED)
    world = ctx.world
    if action == "terminate":
        world.terminate_pod(pod.id)
        return no_content()
    try:
        if action == "stop":
            world.stop_pod(pod.id)
        elif action == "restart":
            world.restart_pod(pod.id)
        else:
            world.resume_pod(pod.id, None)
    except ApiError as exc:
        raise RestError(400, exc.message) from exc
    return reply(pod_view(ctx, pod))
