"""REST v2 container-registry credentials (`/v2/registries`), on the account GraphQL shares.

Why: dstack 0.22.5 lists `/v2/registries` before creating pods from private images, and a pod's
`registry` names one of these ids. The password is write-only (never answered), as in production.
Deleting a credential a live pod uses is 400 (reference §4).

What it must not do: keep or answer the password.
"""

from __future__ import annotations

from typing import Any

from scheduler.emulator.handler import HttpResponse
from scheduler.emulator.rest.context import Ctx, no_content, reply
from scheduler.emulator.rest.problems import RestError

REGISTRY_NOT_FOUND = "registry not found"  # emulator
REGISTRY_IN_USE = "registry is in use by a pod"  # emulator


def _view(auth: dict[str, Any]) -> dict[str, Any]:
    return {"id": auth["id"], "name": auth["name"]}


def _find(ctx: Ctx) -> dict[str, Any]:
    auth = ctx.world.account.registry_auths.get(ctx.id)
    if auth is None:
        raise RestError(404, REGISTRY_NOT_FOUND)
    return auth


def list_registries(ctx: Ctx) -> HttpResponse:
    auths = ctx.world.account.registry_auths.values()
    return reply({"registries": [_view(a) for a in auths]})


def create_registry(ctx: Ctx) -> HttpResponse:
    body = ctx.body()
    return reply(_view(ctx.world.account.save_registry_auth(body["name"])), 201)


def get_registry(ctx: Ctx) -> HttpResponse:
    return reply(_view(_find(ctx)))


def delete_registry(ctx: Ctx) -> HttpResponse:
    auth = _find(ctx)
    live = ctx.world.pods
    if any(ctx.rest.pod_extras.get(p, {}).get("registry") == auth["id"] for p in live):
        raise RestError(400, REGISTRY_IN_USE)
    del ctx.world.account.registry_auths[auth["id"]]
    return no_content()
