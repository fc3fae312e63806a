"""REST v2 request handling: size limit, Bearer auth, rate limits, routing, faults, counters.

Why: one entry (`handle_rest`) for every `/v2/...` request, called by the shared handler for
both serving modes (in-process transport and HTTP server), so the two behave identically.
Routes, their operation ids and their query parameters come from `openapi-v2.json`; this module
maps each operation id to its endpoint function.

Order (reference §1.3, §1.5, §6): a body over 102400 bytes is 413 before auth; `Authorization:
Bearer KEY` is required everywhere (401 `missing bearer token`; with a configured key any other
key is 401 `invalid api key`; `?api_key=` is not accepted); then the per-key rate limit (429 +
`Retry-After`; `RateLimit`/`RateLimit-Policy` on every authenticated answer); then routing (404
`resource not found`, 405 with `Allow`); then injected faults (matched on
`"METHOD /v2/path operationId"`); a read-only key gets 403 `access denied` on mutations. Every
answer carries `x-request-id`. `GET /v2/openapi.json` answers the document of the subset served,
without auth (as production serves its own).

What it must not do: know sockets or httpx, or log API keys.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from scheduler.emulator.faults import FaultRule
from scheduler.emulator.handler import HttpRequest, HttpResponse, key_matches
from scheduler.emulator.rest import (
    account,
    billing,
    catalog,
    pods,
    problems,
    registries,
    validate,
)
from scheduler.emulator.rest.context import Ctx, Endpoint, reply
from scheduler.emulator.rest.problems import RestError

if TYPE_CHECKING:
    from scheduler.emulator.emulator import Emulator

MAX_BODY_BYTES = 102_400
DEFAULT_TIMEOUT_SECONDS = 30.0

ENDPOINTS: dict[str, Endpoint] = {
    "listPods": pods.list_pods,
    "createPod": pods.create_pod,
    "getPod": pods.get_pod,
    "updatePod": pods.update_pod,
    "deletePod": pods.delete_pod,
    "podAction": pods.pod_action,
    "listGpuTypes": catalog.list_gpu_types,
    "getGpuType": catalog.get_gpu_type,
    "listDataCenters": catalog.list_data_centers,
    "getDataCenter": catalog.get_data_center,
    "listNetworkVolumes": account.list_volumes,
    "createNetworkVolume": account.create_volume,
    "getNetworkVolume": account.get_volume,
    "updateNetworkVolume": account.update_volume,
    "deleteNetworkVolume": account.delete_volume,
    "listTemplates": account.list_templates,
    "createTemplate": account.create_template,
    "getTemplate": account.get_template,
    "updateTemplate": account.update_template,
    "deleteTemplate": account.delete_template,
    "listRegistries": registries.list_registries,
    "createRegistry": registries.create_registry,
    "getRegistry": registries.get_registry,
    "deleteRegistry": registries.delete_registry,
    "getSshKeys": account.get_ssh_keys,
    "putSshKeys": account.put_ssh_keys,
    "getBilling": billing.aggregate,
    "getPodBilling": billing.pods,
    "getNetworkVolumeBilling": billing.network_volumes,
}

# The GraphQL field each operation stands for, so `capacity` fault rules apply to creates/starts.
_CAPACITY_FIELDS = {"createPod": ("podFindAndDeployOnDemand",), "podAction": ("podResume",)}


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    operation_id: str
    parameters: list[dict[str, Any]]
    body_schema: str | None


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    template: str
    operations: dict[str, Operation]


@cache
def routes() -> tuple[Route, ...]:
    out = []
    for template, item in validate.openapi()["paths"].items():
        shared = item.get("parameters", [])
        operations = {}
        for method, spec in item.items():
            if method == "parameters":
                continue
            content = spec.get("requestBody", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref")
            operations[method.upper()] = Operation(
                method.upper(),
                template,
                spec["operationId"],
                [*shared, *spec.get("parameters", [])],
                None if ref is None else ref.rsplit("/", 1)[-1],
            )
        pattern = re.compile("^" + re.sub(r"\{id\}", "(?P<id>[^/]+)", template) + "$")
        out.append(Route(pattern, template, operations))
    return tuple(out)


def _route(method: str, path: str) -> tuple[Operation, str | None]:
    for route in routes():
        match = route.pattern.match(path)
        if match is None:
            continue
        operation = route.operations.get(method)
        if operation is None:
            allow = ", ".join(route.operations)
            raise RestError(405, problems.METHOD_NOT_ALLOWED, headers={"allow": allow})
        return operation, match.groupdict().get("id")
    raise RestError(404, problems.NOT_FOUND)


def _authenticate(emu: Emulator, request: HttpRequest) -> str:
    auth = request.headers.get("authorization", "")
    scheme, _, key = auth.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise RestError(401, problems.MISSING_TOKEN)
    if not key_matches(key, emu.api_key):
        raise RestError(401, problems.INVALID_KEY)
    return key


def handle_rest(emu: Emulator, request: HttpRequest) -> HttpResponse:
    """Answer one `/v2/...` request."""
    request_id = emu.rest.request_id()
    emu.stats.enter()
    response: HttpResponse | None = None
    try:
        response = _answer(emu, request)
        return HttpResponse(
            response.status,
            response.body,
            {**response.headers, "x-request-id": request_id},
            response.timeout,
        )
    finally:
        emu.stats.leave(None if response is None else response.status)


def _answer(emu: Emulator, request: HttpRequest) -> HttpResponse:
    limits: dict[str, str] = {}
    if request.method == "GET" and request.path.rstrip("/") == "/v2/openapi.json":
        return reply(validate.openapi())  # public in production too (reference §1.1)
    try:
        if len(request.body) > MAX_BODY_BYTES:
            raise RestError(413, problems.BODY_TOO_LARGE)
        key = _authenticate(emu, request)
        limits = emu.rest.limiter.take(key, emu.clock.now())
        path = request.path.rstrip("/")
        operation, path_id = _route(request.method, path)
        emu.stats.count(f"{operation.method} {operation.template}", (operation.operation_id,))
        rule = emu.faults.pick(
            f"{operation.method} {path} {operation.operation_id}",
            _CAPACITY_FIELDS.get(operation.operation_id, (operation.operation_id,)),
        )
        if rule is not None:
            emu.stats.fault(rule.kind)
            if rule.kind == "delay" and rule.phase == "before":
                time.sleep(rule.seconds or 0.0)
            elif rule.kind not in ("delay", "timeout_after"):
                return _with(_fault(rule, operation), limits)
        if operation.method != "GET" and key in emu.rest.config.read_only_keys:
            raise RestError(403, problems.ACCESS_DENIED)
        query = validate.query(parse_qs(request.query), operation.parameters)
        ctx = Ctx(emu, request, path_id, query, operation.body_schema)
        with emu.world.lock:
            emu.world.sync()
            response = ENDPOINTS[operation.operation_id](ctx)
        if rule is not None and rule.kind == "timeout_after":
            return _fault(rule, operation)
        if rule is not None and rule.kind == "delay" and rule.phase == "after":
            time.sleep(rule.seconds or 0.0)
        return _with(response, limits)
    except RestError as exc:
        return _with(exc.response(), limits)


def _with(response: HttpResponse, headers: dict[str, str]) -> HttpResponse:
    if not headers:
        return response
    return HttpResponse(
        response.status, response.body, {**headers, **response.headers}, response.timeout
    )


def _fault(rule: FaultRule, operation: Operation) -> HttpResponse:
    kind = rule.kind
    if kind in ("http_500", "http_502", "http_503"):
        status = int(kind[-3:])
        return HttpResponse.text(status, f"<html><body><h1>{status}</h1></body></html>")
    if kind in ("timeout", "timeout_after"):
        seconds = rule.seconds if rule.seconds is not None else DEFAULT_TIMEOUT_SECONDS
        return HttpResponse(504, timeout=seconds)
    if kind == "rate_limit":
        retry = max(0, round(rule.seconds if rule.seconds is not None else 1.0))
        return problems.problem(
            429, problems.rate_limited("minute"), headers={"retry-after": str(retry)}
        )
    if kind == "capacity":
        if operation.operation_id == "podAction":
            return problems.problem(400, problems.START_HOST_FULL)
        return problems.problem(400, problems.CAPACITY)
    if kind == "unauthorized":
        return problems.problem(401, problems.INVALID_KEY)
    return problems.problem(500, problems.INTERNAL)
