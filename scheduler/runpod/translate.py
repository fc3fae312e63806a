"""Turn an HTTP exchange with RunPod into the root value or an error that says what to do next.

Rules (reference §2, which records how the SDK, runpodctl, dstack and SkyPilot classify):

- HTTP 401/403, a GraphQL error `Unauthorized` or one mentioning "forbidden", or the codes
  UNAUTHENTICATED/FORBIDDEN → `AuthenticationError` (stop and alert).
- For spot mutations only: a validation error saying the spot mutation, its input type or
  `bidPerGpu` is unknown, or a business error saying spot is unsupported/removed/deprecated
  (or code UNSUPPORTED) → `SpotUnsupportedError` (RunPod is removing spot pods).
- "There are no (longer any) instances available…", "not enough free GPUs on the host
  machine…" → `CapacityError` (RunPod does not tell a low bid from no capacity).
- "pod not found…", "…nonexistent…" → `NotFoundError`.
- INTERNAL_SERVER_ERROR, "Something went wrong…", rate-limit wording → `TransientError`.
- Any other GraphQL error (HTTP 400 validation or HTTP 200 business error) → `RejectedError`.
  A validation error (HTTP 400, or a validation/parse/bad-input code) is only ever
  authentication, spot-unsupported or rejected, whatever its words: graphql-js writes
  `Value "X" does not exist in "E" enum.`, which is not a missing pod.
- HTTP 5xx, 408, 429 (with `Retry-After`), non-JSON bodies, a body without `data`, timeouts and
  connection errors → `TransientError`.
- A JSON body nested deeper than `MAX_DEPTH` (or too deep for the JSON parser) →
  `MalformedResponse` (a `TransientError`); the client caps the body's size before this.
  RunPod's error messages are quoted cut to `MAX_MESSAGE` characters, control characters
  replaced, at most `MAX_ERRORS` of them.

When several GraphQL errors arrive, the one that most changes what the caller does wins
(authentication over spot-unsupported over capacity over not-found over rejected over
transient: retrying cannot fix a request that is also wrong).

This module is pure: no sleeping, no logging, no clock reads (the caller passes `now`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import httpx

from scheduler.runpod.documents import Operation
from scheduler.runpod.errors import (
    AuthenticationError,
    CapacityError,
    MalformedResponse,
    NotFoundError,
    RejectedError,
    RunPodError,
    SpotUnsupportedError,
    TransientError,
)
from scheduler.runpod.retry import parse_retry_after

MAX_DEPTH: Final = 32
"""Levels of JSON nesting in an answer; RunPod's deepest (a pod's runtime GPUs) has six."""
MAX_MESSAGE: Final = 500
MAX_ERRORS: Final = 20

_AUTH_CODES = frozenset({"UNAUTHENTICATED", "UNAUTHORIZED", "FORBIDDEN"})
# A document or its variables are wrong: never capacity, not-found or transient, whatever the
# words (graphql-js says `Value "X" does not exist in "E" enum`).
_VALIDATION_CODES = frozenset(
    {"GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED", "BAD_USER_INPUT", "BAD_REQUEST"}
)
_TRANSIENT_CODES = frozenset({"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "RATE_LIMITED"})

_AUTH = re.compile(r"^\s*unauthori[sz]ed\b|\bforbidden\b", re.IGNORECASE)
_CAPACITY = re.compile(
    r"\bno (?:longer any )?instances available\b"
    r"|\bnot enough free GPUs\b"
    r"|\bdoes not have the resources to deploy\b",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(r"\bnot found\b|\bnonexistent\b", re.IGNORECASE)
_TRANSIENT = re.compile(
    r"^\s*something went wrong\b|\brate limit|\btoo many requests\b|\btemporarily unavailable\b",
    re.IGNORECASE,
)

# Names that exist only for spot. graphql-js quotes with ", graphql-core 3.2 with '.
_SPOT_NAMES = r"(?:podRentInterruptable|podBidResume|PodRentInterruptableInput|PodBidResumeInput)"
_SPOT_UNKNOWN = re.compile(
    rf"Cannot query field [\"']{_SPOT_NAMES}[\"']"
    rf"|Unknown type [\"']{_SPOT_NAMES}[\"']"
    rf"|Field [\"']bidPerGpu[\"'] is not defined by type"
    rf"|Unknown argument [\"']bidPerGpu[\"']"
    rf"|Field [\"']{_SPOT_NAMES}[\"'] (?:is not defined|does not exist)",
)
_SPOT_WORD = re.compile(r"\bspot\b|interrupt[ai]ble", re.IGNORECASE)
_SPOT_GONE = re.compile(
    r"\b(?:un)?supported\b|\bsupport for\b|\bremoved\b|\bdeprecat|\bdiscontinu|\bretired\b",
    re.IGNORECASE,
)

# Most decisive first: see the module docstring.
_PRECEDENCE: tuple[type[RunPodError], ...] = (
    AuthenticationError,
    SpotUnsupportedError,
    CapacityError,
    NotFoundError,
    RejectedError,
    TransientError,
)


def error_kind(error: type[RunPodError] | RunPodError) -> str:
    """The snake_case outcome of an error: `SpotUnsupportedError` → "spot_unsupported"."""
    cls = error if isinstance(error, type) else type(error)
    name = cls.__name__.removesuffix("Error") or "runpod"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def classify_graphql_error(
    message: str, code: str | None, op: Operation, *, validation: bool = False
) -> type[RunPodError]:
    """Which error class one GraphQL error (message and `extensions.code`) means for `op`.

    `validation`: the request was refused before execution (HTTP 400), so only authentication,
    spot-unsupported or rejected are possible.
    """
    upper = (code or "").upper()
    validation = validation or upper in _VALIDATION_CODES
    if upper in _AUTH_CODES or _AUTH.search(message):
        return AuthenticationError
    if op.spot and (
        _SPOT_UNKNOWN.search(message)
        or (
            not validation
            and (
                upper == "UNSUPPORTED"
                or (_SPOT_WORD.search(message) and _SPOT_GONE.search(message))
            )
        )
    ):
        return SpotUnsupportedError
    if validation:
        return RejectedError
    if _CAPACITY.search(message):
        return CapacityError
    if _NOT_FOUND.search(message):
        return NotFoundError
    if upper in _TRANSIENT_CODES or _TRANSIENT.search(message):
        return TransientError
    return RejectedError


def error_from_graphql(errors: list[Any], op: Operation, status: int) -> RunPodError:
    """One error for a non-empty GraphQL `errors` array (RunPod's messages, joined)."""
    messages: list[str] = []
    classes: list[type[RunPodError]] = []
    for entry in errors[:MAX_ERRORS]:
        message, code = _message_and_code(entry)
        messages.append(message)
        classes.append(
            classify_graphql_error(message, code, op, validation=status == httpx.codes.BAD_REQUEST)
        )
    chosen = min(classes, key=_PRECEDENCE.index)
    text = "; ".join(dict.fromkeys(messages))  # keep order, drop repeats
    if status != httpx.codes.OK:
        text = f"{text} (HTTP {status})"
    if chosen is TransientError:
        return TransientError(text, operation=op.name)
    return chosen(text, operation=op.name)


def _printable(text: str) -> str:
    """RunPod's words made safe to quote in a log line: cut short, control characters replaced."""
    cut = text[:MAX_MESSAGE] + ("…" if len(text) > MAX_MESSAGE else "")
    return "".join("?" if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in cut)


def _message_and_code(entry: Any) -> tuple[str, str | None]:
    if not isinstance(entry, Mapping):
        what = entry if isinstance(entry, str) else f"an error entry of type {type(entry).__name__}"
        return _printable(what), None
    message = entry.get("message")
    extensions = entry.get("extensions")
    code = extensions.get("code") if isinstance(extensions, Mapping) else None
    return (
        _printable(message)
        if isinstance(message, str)
        else "RunPod returned an error without a message",
        _printable(code) if isinstance(code, str) else None,
    )


def _too_deep(value: Any) -> bool:
    """Whether `value` nests deeper than `MAX_DEPTH` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def root_value(
    response: httpx.Response, op: Operation, now: datetime, body: bytes | None = None
) -> Any:
    """The value of `op.root` in a successful response; raises the translated error otherwise.

    `body`: the response's bytes when the caller read them itself (with a size cap)."""
    status = response.status_code
    if status in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
        raise AuthenticationError(f"RunPod rejected the API key (HTTP {status})", operation=op.name)
    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    if status == httpx.codes.TOO_MANY_REQUESTS:
        raise TransientError(
            "RunPod is rate limiting requests (HTTP 429)",
            operation=op.name,
            retry_after=retry_after,
        )
    if status >= httpx.codes.INTERNAL_SERVER_ERROR or status == httpx.codes.REQUEST_TIMEOUT:
        raise TransientError(
            f"RunPod failed with HTTP {status}", operation=op.name, retry_after=retry_after
        )

    try:
        payload = json.loads(response.content if body is None else body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise _bad_body(status, op, "a body that is not JSON") from exc
    except RecursionError as exc:
        raise _too_deep_error(op) from exc
    if not isinstance(payload, Mapping):
        raise _bad_body(status, op, "a JSON body that is not an object")
    if _too_deep(payload):
        raise _too_deep_error(op)
    body_map: Mapping[str, Any] = payload

    errors = body_map.get("errors")
    if isinstance(errors, list) and errors:
        raise error_from_graphql(errors, op, status)
    if not httpx.codes.is_success(status):
        raise RejectedError(f"RunPod answered HTTP {status} without errors", operation=op.name)

    data = body_map.get("data")
    if not isinstance(data, Mapping) or op.root not in data:
        raise TransientError(
            f"RunPod answered without data for {op.root} (HTTP {status})", operation=op.name
        )
    return data[op.root]


def _too_deep_error(op: Operation) -> MalformedResponse:
    return MalformedResponse(
        f"RunPod answered {op.root} with JSON nested deeper than {MAX_DEPTH} levels",
        operation=op.name,
        field=op.root,
    )


def _bad_body(status: int, op: Operation, what: str) -> RunPodError:
    if httpx.codes.is_client_error(status):
        # A 4xx HTML page (wrong URL, a proxy refusing us) will not fix itself by retrying.
        return RejectedError(f"RunPod answered HTTP {status} with {what}", operation=op.name)
    return TransientError(f"RunPod answered HTTP {status} with {what}", operation=op.name)


def error_from_transport(exc: Exception, op: Operation) -> RunPodError:
    """Translate an httpx exception raised while sending or receiving."""
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(
            f"RunPod did not answer in time ({type(exc).__name__})", operation=op.name
        )
    if isinstance(exc, httpx.RequestError):
        return TransientError(
            f"could not reach RunPod ({type(exc).__name__}: {exc})", operation=op.name
        )
    # InvalidURL and friends: a configuration error that retrying cannot fix.
    return RejectedError(
        f"could not send the request ({type(exc).__name__}: {exc})", operation=op.name
    )
