"""REST v2 account things: network volumes, templates and SSH keys, on the world's account.

Why: both APIs share one store, so a volume made over GraphQL is listed here and a template saved
here deploys over GraphQL. Renames against GraphQL (reference §4): `dataCenterId -> dataCenter`,
`imageName -> image`, `dockerArgs -> args`, `containerDiskInGb -> disk`, `ports "a,b" -> [...]`,
`env [{key,value}] -> {K: V}`, templates deleted by id; SSH keys are GraphQL's `pubKey`, one key
per line.

Emulator choices: template names stay unique per account (the GraphQL rule; 400
`Template name must be unique.`); a volume's tier is STANDARD unless created over REST with
`HIGH_PERFORMANCE`; templates list newest first.

What it must not do: bill storage (the world bills pods only) or know about hosts.
"""

from __future__ import annotations

from typing import Any

from scheduler.emulator.account import NetworkVolume
from scheduler.emulator.errors import ApiError
from scheduler.emulator.handler import HttpResponse
from scheduler.emulator.rest import problems
from scheduler.emulator.rest.context import Ctx, no_content, reply
from scheduler.emulator.rest.paging import page
from scheduler.emulator.rest.problems import RestError


# ----------------------------------------------------------------- network volumes
def volume_view(ctx: Ctx, volume: NetworkVolume) -> dict[str, Any]:
    return {
        "id": volume.id,
        "name": volume.name,
        "size": volume.size,
        "dataCenter": volume.data_center_id,
        "type": ctx.rest.volume_types.get(volume.id, "STANDARD"),
    }


def _volume(ctx: Ctx) -> NetworkVolume:
    volume = ctx.world.account.volumes.get(ctx.id)
    if volume is None:
        raise RestError(404, problems.VOLUME_NOT_FOUND)
    return volume


def list_volumes(ctx: Ctx) -> HttpResponse:
    volumes = list(ctx.world.account.volumes.values())
    order = ctx.rest.order([v.id for v in volumes])
    if not ctx.rest.config.pagination:
        return reply({"networkVolumes": [volume_view(ctx, v) for v in volumes]})
    chunk, pagination = page(
        volumes, lambda v: [order[v.id], v.id], "listNetworkVolumes", ctx.query, 1000
    )
    return reply({"networkVolumes": [volume_view(ctx, v) for v in chunk], "pagination": pagination})


def create_volume(ctx: Ctx) -> HttpResponse:
    body = ctx.body()
    world = ctx.world
    if world.catalogue.data_center(body["dataCenter"]) is None:
        offered = ", ".join(dc.id for dc in world.catalogue.data_centers)
        raise RestError(
            400,
            f"data center {body['dataCenter']} does not support network volumes; "
            f"data centers that do: {offered}",
        )
    volume = world.account.create_volume(body["name"], body["size"], body["dataCenter"])
    ctx.rest.volume_types[volume.id] = body.get("type", "STANDARD")
    return reply(volume_view(ctx, volume), 201)


def get_volume(ctx: Ctx) -> HttpResponse:
    return reply(volume_view(ctx, _volume(ctx)))


def update_volume(ctx: Ctx) -> HttpResponse:
    body = ctx.body()
    volume = _volume(ctx)
    if "size" in body and body["size"] < volume.size:
        raise RestError(400, problems.VOLUME_SHRINK)
    ctx.world.account.update_volume(volume.id, body.get("name"), body.get("size"))
    return reply(volume_view(ctx, volume))


def delete_volume(ctx: Ctx) -> HttpResponse:
    _volume(ctx)
    ctx.world.account.delete_volume(ctx.id)
    ctx.rest.volume_types.pop(ctx.id, None)
    return no_content()


# ----------------------------------------------------------------- templates
def template_view(template: dict[str, Any]) -> dict[str, Any]:
    mounts: dict[str, Any] = {}
    if template.get("volumeInGb"):
        mounts["persistent"] = {
            "size": template["volumeInGb"],
            "path": template.get("volumeMountPath") or "/workspace",
        }
    ports = [p.strip() for p in (template.get("ports") or "").split(",") if p.strip()]
    return {
        "id": template["id"],
        "name": template.get("name") or "",
        "image": template.get("imageName") or "",
        "args": template.get("dockerArgs") or "",
        "disk": template.get("containerDiskInGb") or 20,
        "mounts": mounts,
        "ports": ports,
        "env": {e["key"]: e["value"] for e in template.get("env", [])},
        "registry": template.get("containerRegistryAuthId"),
        "serverless": bool(template.get("isServerless", False)),
        "public": bool(template.get("isPublic", False)),
        "category": template.get("category") or "NVIDIA",
        "startSsh": bool(template.get("startSsh", True)),
        "startJupyter": bool(template.get("startJupyter", True)),
        "allowedCudaVersions": list(template.get("allowedCudaVersions") or []),
    }


def _graphql_fields(body: dict[str, Any]) -> dict[str, Any]:
    """A v2 template body in the account's (GraphQL) field names."""
    out: dict[str, Any] = {}
    renames = {
        "name": "name",
        "image": "imageName",
        "args": "dockerArgs",
        "disk": "containerDiskInGb",
        "registry": "containerRegistryAuthId",
        "serverless": "isServerless",
        "public": "isPublic",
        "startSsh": "startSsh",
        "startJupyter": "startJupyter",
        "category": "category",
    }
    for key, name in renames.items():
        if key in body:
            out[name] = body[key]
    if "ports" in body:
        out["ports"] = ",".join(body["ports"])
    if "env" in body:
        out["env"] = [{"key": k, "value": v} for k, v in body["env"].items()]
    persistent = (body.get("mounts") or {}).get("persistent")
    if persistent is not None:
        out["volumeInGb"], out["volumeMountPath"] = persistent["size"], persistent["path"]
    return out


def _save(ctx: Ctx, data: dict[str, Any], cuda: list[str] | None) -> dict[str, Any]:
    try:
        template = ctx.world.account.save_template(data)
    except ApiError as exc:
        raise RestError(400, exc.message) from exc
    if cuda is not None:
        template["allowedCudaVersions"] = cuda
    return template


def _template(ctx: Ctx) -> dict[str, Any]:
    template = ctx.world.account.templates.get(ctx.id)
    if template is None:
        raise RestError(404, problems.TEMPLATE_NOT_FOUND)
    return template


def list_templates(ctx: Ctx) -> HttpResponse:
    templates = list(reversed(ctx.world.account.templates.values()))  # newest first
    rank = ctx.rest.order([t["id"] for t in reversed(templates)])
    order = {t["id"]: -rank[t["id"]] for t in templates}
    if not ctx.rest.config.pagination:
        return reply({"templates": [template_view(t) for t in templates]})
    chunk, pagination = page(
        templates, lambda t: [order[t["id"]], t["id"]], "listTemplates", ctx.query, 100
    )
    return reply({"templates": [template_view(t) for t in chunk], "pagination": pagination})


def create_template(ctx: Ctx) -> HttpResponse:
    body = ctx.body()
    data = {"startSsh": True, "startJupyter": True, **_graphql_fields(body)}
    return reply(template_view(_save(ctx, data, body.get("allowedCudaVersions"))), 201)


def get_template(ctx: Ctx) -> HttpResponse:
    return reply(template_view(_template(ctx)))


def update_template(ctx: Ctx) -> HttpResponse:
    body = ctx.body()
    template = _template(ctx)
    data = {"id": template["id"], **_graphql_fields(body)}
    return reply(template_view(_save(ctx, data, body.get("allowedCudaVersions"))))


def delete_template(ctx: Ctx) -> HttpResponse:
    template = _template(ctx)
    if any(p.request.template_id == template["id"] for p in ctx.world.pods.values()):
        raise RestError(400, problems.TEMPLATE_IN_USE)
    del ctx.world.account.templates[template["id"]]
    return no_content()


# ----------------------------------------------------------------- SSH keys
def _keys(ctx: Ctx) -> list[str]:
    return [line.strip() for line in ctx.world.account.pub_key.splitlines() if line.strip()]


def get_ssh_keys(ctx: Ctx) -> HttpResponse:
    return reply({"keys": _keys(ctx)})


def put_ssh_keys(ctx: Ctx) -> HttpResponse:
    keys = ctx.body()["keys"]
    ctx.world.account.pub_key = "\n".join(keys)
    return reply({"keys": _keys(ctx)})
