"""The core request handler shared by the in-process transport and the HTTP server.

Why: both serving modes must behave identically, so they only translate their own request and
response types to `HttpRequest`/`HttpResponse` and call `handle`. This module owns routing,
authentication, fault injection, request counters and the GraphQL envelope's HTTP status.

Auth: `Authorization: Bearer KEY` or `?api_key=KEY`. With a configured key only that key passes;
without one any non-empty key passes. A missing key is 401 except for documents that only read
`gpuTypes`, `dataCenters`, `countryCodes`, `cpuFlavors` (public in production too); a wrong key
is always 401. 401 bodies are `{"errors":[{"message":"Unauthorized"}]}`. The admin API under
`/_emulator/` needs the configured key too (any request passes when none is configured).

A POST body must be JSON (`Content-Type: application/json`, nested at most `MAX_JSON_DEPTH`
levels); anything else is a 400 in the route's own error format.

What it must not do: know sockets or httpx (transport.py and server.py do), or log API keys.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from scheduler.emulator import errors
from scheduler.emulator.faults import CAPACITY_MESSAGES, FaultRule
from scheduler.emulator.graphql_app import Json, Prepared, is_public, run
from scheduler.emulator.jsonvalues import js_numbers

if TYPE_CHECKING:
    from scheduler.emulator.emulator import Emulator

DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_JSON_DEPTH = 64


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    timeout: float | None = None
    """How long the client waits for the answer, when the serving mode knows it (in-process)."""


@dataclass(frozen=True)
class HttpResponse:
    """A response, or (`timeout` set) an instruction to time the client out after that long."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None

    @classmethod
    def json(
        cls, status: int, payload: Any, content_type: str = "application/json"
    ) -> HttpResponse:
        return cls(status, json.dumps(payload).encode(), {"content-type": content_type})

    @classmethod
    def text(cls, status: int, text: str) -> HttpResponse:
        return cls(status, text.encode(), {"content-type": "text/html; charset=utf-8"})


class RequestStats:
    """Counters of GraphQL requests; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.by_operation: Counter[str] = Counter()
        self.by_field: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()

    def enter(self) -> None:
        with self._lock:
            self.total += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self, status: int | None) -> None:
        with self._lock:
            self.in_flight -= 1
            self.by_status[status if status is not None else 0] += 1

    def count(self, operation: str, fields: tuple[str, ...]) -> None:
        with self._lock:
            self.by_operation[operation] += 1
            self.by_field.update(fields)

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "inFlight": self.in_flight,
                "maxInFlight": self.max_in_flight,
                "byOperation": dict(self.by_operation),
                "byField": dict(self.by_field),
                "byStatus": {str(k): v for k, v in self.by_status.items()},
                "faults": dict(self.faults),
            }


UNAUTHORIZED = HttpResponse.json(401, {"errors": [{"message": errors.UNAUTHORIZED}]})


def _bad_request(message: str) -> HttpResponse:
    return HttpResponse.json(
        400, {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]}
    )


def _api_key(request: HttpRequest) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        key = auth[7:].strip()
        if key:
            return key
    values = parse_qs(request.query).get("api_key")
    return values[0] if values and values[0] else None


def key_matches(key: str | None, configured: str | None) -> bool:
    """Any non-empty key without a configured one, else exactly it (compared as bytes, in
    constant time; a header with non-ASCII text must not raise)."""
    if key is None:
        return False
    if configured is None:
        return True
    return hmac.compare_digest(
        key.encode("utf-8", "surrogateescape"), configured.encode("utf-8", "surrogateescape")
    )


def _body_problem(request: HttpRequest) -> str | None:
    """Why a POST body is not JSON we can read, or None."""
    if request.method != "POST" or not request.body:
        return None
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        return "Content-Type must be application/json."
    return None


def load_json(body: bytes, default: bytes) -> Any:
    """`body` (or `default` when empty) parsed; ValueError if it is not JSON or is nested
    deeper than `MAX_JSON_DEPTH` (which graphql-core and our code would recurse into)."""
    try:
        value = json.loads(body or default)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        if children and depth > MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)
    return value


def _error_body(fields: tuple[str, ...], message: str, code: str) -> Json:
    return {
        "data": dict.fromkeys(fields) or None,
        "errors": [{"message": message, "path": list(fields[:1]), "extensions": {"code": code}}],
    }


def _fault_response(rule: FaultRule, fields: tuple[str, ...]) -> HttpResponse:
    kind = rule.kind
    if kind in ("http_500", "http_502", "http_503"):
        status = int(kind[-3:])
        phrase = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        return HttpResponse.text(
            status, f"<html><body><h1>{status} {phrase[status]}</h1></body></html>"
        )
    if kind in ("timeout", "timeout_after"):
        return HttpResponse(
            504, timeout=rule.seconds if rule.seconds is not None else DEFAULT_TIMEOUT_SECONDS
        )
    if kind == "rate_limit":
        retry = max(0, round(rule.seconds if rule.seconds is not None else 1.0))
        problem = {
            "title": "Too Many Requests",
            "status": 429,
            "detail": "rate limit exceeded for the minute window",
        }
        response = HttpResponse.json(429, problem, "application/problem+json")
        return HttpResponse(429, response.body, {**response.headers, "retry-after": str(retry)})
    if kind == "internal_error":
        return HttpResponse.json(200, _error_body(fields, errors.INTERNAL, "INTERNAL_SERVER_ERROR"))
    if kind == "capacity":
        field_name = next(f for f in fields if f in CAPACITY_MESSAGES)
        return HttpResponse.json(
            200, _error_body((field_name,), CAPACITY_MESSAGES[field_name], "RUNPOD")
        )
    return UNAUTHORIZED


def handle(emu: Emulator, request: HttpRequest) -> HttpResponse:
    """Route one request: `POST /graphql`, REST v2 under `/v2/` or the admin API."""
    path = request.path.rstrip("/") or "/"
    problem = _body_problem(request)
    if path.startswith("/_emulator"):
        from scheduler.emulator.admin import handle_admin

        if emu.api_key is not None and not key_matches(_api_key(request), emu.api_key):
            message = "the admin API needs the emulator's API key (Authorization: Bearer KEY)"
            return HttpResponse.json(401, {"error": message})
        if problem is not None:
            return HttpResponse.json(400, {"error": problem})
        return handle_admin(emu, request.method, path, request.body)
    if path == "/v2" or path.startswith("/v2/"):
        from scheduler.emulator.rest import handle_rest

        return handle_rest(emu, request)
    if problem is not None and path == "/graphql":
        return _bad_request(problem)
    if path != "/graphql":
        return HttpResponse.json(404, {"errors": [{"message": f"Cannot {request.method} {path}"}]})
    if request.method != "POST":
        return _bad_request("GET query missing.")
    emu.stats.enter()
    status: int | None = None
    try:
        response = _graphql(emu, request)
        status = response.status
        return response
    finally:
        emu.stats.leave(status)


def _graphql(emu: Emulator, request: HttpRequest) -> HttpResponse:
    try:
        body = load_json(request.body, b"null")
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, too deep
        return _bad_request("POST body sent invalid JSON.")
    if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"]:
        return _bad_request("GraphQL operations must contain a non-empty `query`.")
    variables = body.get("variables")
    operation_name = body.get("operationName")
    if variables is not None and not isinstance(variables, dict):
        return _bad_request("Variables must be an object.")
    if operation_name is not None and not isinstance(operation_name, str):
        return _bad_request("operationName must be a string.")
    text: str = body["query"]
    prepared = emu.documents.get(text)
    operation = prepared.operation(operation_name)
    fields = operation.root_fields if operation is not None else ()
    emu.stats.count((operation.name if operation else None) or "<anonymous>", fields)

    rule = emu.faults.pick(text, fields)
    if rule is not None:
        emu.stats.fault(rule.kind)
        if rule.kind == "delay" and rule.phase == "before":
            if _gave_up_waiting(emu, rule, request):
                return HttpResponse(504, timeout=0.0)
        elif rule.kind not in ("delay", "timeout_after"):
            return _fault_response(rule, fields)

    key = _api_key(request)
    authorized = key_matches(key, emu.api_key)
    if not authorized and not (key is None and is_public(operation) and not prepared.errors):
        return UNAUTHORIZED
    response = _execute(emu, prepared, variables, operation_name)

    if rule is not None and rule.kind == "timeout_after":
        return _fault_response(rule, fields)
    late = rule is not None and rule.kind == "delay" and rule.phase == "after"
    if late and rule is not None and _gave_up_waiting(emu, rule, request):
        return HttpResponse(504, timeout=0.0)
    return response


def _gave_up_waiting(emu: Emulator, rule: FaultRule, request: HttpRequest) -> bool:
    """A delay, on the emulator's clock (a virtual one moves on at once). A client that would
    give up first (its timeout is known in-process) waits only that long and times out."""
    seconds = rule.seconds or 0.0
    if request.timeout is not None and seconds > request.timeout:
        emu.clock.sleep(request.timeout)
        return True
    emu.clock.sleep(seconds)
    return False


def _execute(
    emu: Emulator, prepared: Prepared, variables: dict[str, Any] | None, operation_name: str | None
) -> HttpResponse:
    if prepared.document is None:
        return HttpResponse.json(400, {"errors": list(prepared.errors)})
    with emu.world.lock:
        emu.world.sync()
        status, payload = run(emu.world, prepared, variables, operation_name)
    return HttpResponse.json(status, js_numbers(payload))
