"""What every RunPod request of either API (GraphQL, REST v2) shares: the headers that carry the
key, and the report of each request to the caller's hook.

Why one place: the key must reach exactly one header, built per request so that only `ApiKey`
holds it; and a metrics hook must never change what a RunPod call did.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from scheduler.runpod.models import RequestRecord
from scheduler.runpod.secret import ApiKey

_log = structlog.get_logger("spotsched.runpod")


def request_headers(key: ApiKey | None, user_agent: str) -> dict[str, str]:
    """Our own User-Agent, JSON, and the key as a Bearer header (only there, only if set)."""
    headers = {"User-Agent": user_agent, "Accept": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key.reveal()}"
    return headers


def report_request(hook: Callable[[RequestRecord], None] | None, record: RequestRecord) -> None:
    """Tell the hook (metrics) about one request. A failing hook is logged, never raised: a
    create that succeeded must still return its pod."""
    if hook is None:
        return
    try:
        hook(record)
    except Exception:
        _log.exception("runpod_request_hook_failed", operation=record.operation)
