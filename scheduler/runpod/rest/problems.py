"""REST v2 status codes and RFC 9457 problem bodies → the provider port's errors.

The taxonomy RunPod advises for `POST /v2/pods` (reference §1.7), applied to every operation:

| status | error | what the caller does |
|---|---|---|
| 400 with the capacity text | `CapacityError` | try the next offer / data center |
| 400 otherwise, 413, other 4xx | `RejectedError` | the request is wrong: fail the job |
| 401 | `AuthenticationError` | stop and alert |
| 402 | `InsufficientBalanceError` | stop launching, alert |
| 403 on a create | `PoolForbiddenError` | skip that pool |
| 403 otherwise | `AuthenticationError` | the key lacks the permission |
| 404 | `NotFoundError` | the pod / volume is gone |
| 409 | `ConflictError` | illegal action for the pod's status |
| 422 | `RejectedError` naming the fields (`errors[]`) | fix the request |
| 408, 429, 5xx | `TransientError` (`retry_after` from `Retry-After`) | wait, maybe retry |

`detail` and `errors[]` are RunPod's text (hostile: cut to a bounded length, control characters
dropped). Pure: no I/O, no clock reads (the caller passes `now`).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import httpx

from scheduler.runpod.errors import (
    AuthenticationError,
    CapacityError,
    ConflictError,
    InsufficientBalanceError,
    NotFoundError,
    PoolForbiddenError,
    RejectedError,
    RunPodError,
    TransientError,
)
from scheduler.runpod.retry import parse_retry_after

MAX_DETAIL = 300
MAX_FIELD_ERRORS = 5
CAPACITY = re.compile(
    r"\bno (?:longer any )?instances available\b|\bnot enough free GPUs\b", re.IGNORECASE
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class RateLimitedError(TransientError):
    """HTTP 429: RunPod refused the request unexecuted; `retry_after` says when to ask again."""


def clean(text: str, limit: int = MAX_DETAIL) -> str:
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _problem(content: bytes) -> tuple[str | None, list[str]]:
    """`detail` and `errors[]` of a problem+json body (None, [] when it is not one)."""
    try:
        body = json.loads(content)
    except ValueError:
        return None, []
    if not isinstance(body, dict):
        return None, []
    detail = body.get("detail")
    errors = body.get("errors")
    listed = [clean(e) for e in errors if isinstance(e, str)] if isinstance(errors, list) else []
    return (clean(detail) if isinstance(detail, str) else None), listed[:MAX_FIELD_ERRORS]


def error_for(
    response: httpx.Response, operation: str, *, create: bool, now: datetime
) -> RunPodError:
    """The error an unsuccessful answer means for `operation`."""
    status = response.status_code
    detail, field_errors = _problem(response.content)
    text = detail or f"RunPod answered HTTP {status} without a problem body"
    if field_errors:
        text = f"{text}: {'; '.join(field_errors)}"
    text = f"{text} (HTTP {status})"
    kind: type[RunPodError]
    if status == httpx.codes.TOO_MANY_REQUESTS:
        return RateLimitedError(
            text,
            operation=operation,
            retry_after=parse_retry_after(response.headers.get("retry-after"), now),
        )
    if status == httpx.codes.REQUEST_TIMEOUT:
        return TransientError(
            text,
            operation=operation,
            retry_after=parse_retry_after(response.headers.get("retry-after"), now),
        )
    if status >= httpx.codes.INTERNAL_SERVER_ERROR:
        return TransientError(
            text,
            operation=operation,
            retry_after=parse_retry_after(response.headers.get("retry-after"), now),
        )
    if status == httpx.codes.BAD_REQUEST:
        kind = CapacityError if detail and CAPACITY.search(detail) else RejectedError
    elif status == httpx.codes.UNAUTHORIZED:
        return AuthenticationError(f"RunPod rejected the API key: {text}", operation=operation)
    elif status == httpx.codes.PAYMENT_REQUIRED:
        kind = InsufficientBalanceError
    elif status == httpx.codes.FORBIDDEN:
        kind = PoolForbiddenError if create and detail is not None else AuthenticationError
    elif status == httpx.codes.NOT_FOUND:
        kind = NotFoundError
    elif status == httpx.codes.CONFLICT:
        kind = ConflictError
    else:
        kind = RejectedError
    return kind(text, operation=operation)


def transport_error(exc: Exception, operation: str) -> RunPodError:
    """An httpx exception raised while sending or receiving."""
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(
            f"RunPod did not answer in time ({type(exc).__name__})", operation=operation
        )
    if isinstance(exc, httpx.RequestError):
        return TransientError(
            f"could not reach RunPod ({type(exc).__name__}: {clean(str(exc))})",
            operation=operation,
        )
    return RejectedError(
        f"could not send the request ({type(exc).__name__}: {clean(str(exc))})",
        operation=operation,
    )


def json_body(response: httpx.Response, operation: str) -> Any:
    """The JSON of a successful answer; a 2xx that is not JSON is transient (a proxy page)."""
    try:
        return json.loads(response.content)
    except ValueError:
        raise TransientError(
            f"RunPod answered HTTP {response.status_code} with a body that is not JSON",
            operation=operation,
        ) from None
