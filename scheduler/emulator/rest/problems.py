"""RFC 9457 problem details: the one error shape of REST v2, with RunPod's exact `detail` texts.

Why: a v2 client classifies errors by status code and shows `detail`; the texts RunPod documents
(capacity, 401, 405, 422, 429) are reproduced verbatim, so a client's matching and messages can be
tested. Texts for cases the reference leaves open are marked "emulator": plausible and stable.

What it must not do: decide which error applies (the endpoint modules do) or touch HTTP framing.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from scheduler.emulator.errors import HOST_FULL, ON_DEMAND_CAPACITY
from scheduler.emulator.handler import HttpResponse

PROBLEM_JSON = "application/problem+json"

# Documented texts (reference §1.7, §1.5).
CAPACITY = ON_DEMAND_CAPACITY
MISSING_TOKEN = "missing bearer token"  # noqa: S105 (an error text, not a secret)
INVALID_KEY = "invalid api key"  # RunPod's gateway text; for /v2 inferred by the reference
ACCESS_DENIED = "access denied"
NOT_FOUND = "resource not found"
POD_NOT_FOUND = "pod not found"
METHOD_NOT_ALLOWED = "The requested method is not allowed for this path."
VALIDATION_FAILED = "Request validation failed."
INSUFFICIENT_BALANCE = "Insufficient balance."
VOLUME_SHRINK = "Invalid request body or size decrease attempted"
START_HOST_FULL = HOST_FULL  # GraphQL's text; v2's is unknown (reference §2.7)
# emulator: texts the reference does not document.
VOLUME_NOT_FOUND = "network volume not found"
TEMPLATE_NOT_FOUND = "template not found"
GPU_NOT_FOUND = "gpu type not found"
DATA_CENTER_NOT_FOUND = "data center not found"
BODY_TOO_LARGE = "request body exceeds 102400 bytes"
BAD_JSON = "request body is not valid JSON"
POD_LOCKED = "pod is locked"
BOTH_MOUNTS = "mounts: persistent and network cannot be used together"
CUDA_EXCLUSIVE = "gpu: allowedCudaVersions and minCudaVersion cannot be used together"
TEMPLATE_IN_USE = "template is in use by a pod"
INTERNAL = "internal server error"


def illegal_action(action: str, status: str) -> str:
    """emulator: the 409 text for an action the pod's status does not allow."""
    return f"action '{action}' is not allowed for a pod in status {status}"


def rate_limited(window: str) -> str:
    return f"rate limit exceeded for the {window} window"


class RestError(Exception):
    """An answer other than success: status, `detail`, optional validation `errors`, headers."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}

    def response(self) -> HttpResponse:
        return problem(self.status, self.detail, self.errors, self.headers)


def invalid(*errors: str) -> RestError:
    """A 422 with RunPod's summary `detail` and one string per failure."""
    return RestError(422, VALIDATION_FAILED, list(errors))


def problem(
    status: int,
    detail: str,
    errors: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    body: dict[str, Any] = {"title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return HttpResponse(
        status,
        json.dumps(body).encode(),
        {"content-type": PROBLEM_JSON, **(headers or {})},
    )
