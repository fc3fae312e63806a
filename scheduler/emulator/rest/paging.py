"""Cursor pagination as RunPod's later v2 documents it: `cursor`/`limit` in, `pagination` out.

Why: `pagination: {nextCursor, hasNextPage}` on every list answer; `cursor` is opaque, passed
back verbatim, and valid only for the same operation and page size (anything else is 422). The
cursor names the sort key of the last item served, so items created or removed between pages
neither repeat nor shift the rest.

What it must not do: sort or filter (callers hand in items in their order, with a sort key).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from scheduler.emulator.rest.problems import invalid

T = TypeVar("T")


def _encode(operation: str, limit: int, key: list[Any]) -> str:
    raw = json.dumps({"op": operation, "limit": limit, "after": key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, operation: str, limit: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if data["op"] == operation and data["limit"] == limit and isinstance(data["after"], list):
            return list(data["after"])
    except (ValueError, KeyError, TypeError):
        pass
    raise invalid("cursor: invalid or foreign cursor")


def page(
    items: Sequence[T],
    key: Callable[[T], list[Any]],
    operation: str,
    query: dict[str, Any],
    default_limit: int,
) -> tuple[list[T], dict[str, Any]]:
    """One page of `items` (sorted ascending by `key`) and its `pagination` member."""
    limit = int(query.get("limit", default_limit))
    rest = list(items)
    if "cursor" in query:
        after = _decode(str(query["cursor"]), operation, limit)
        rest = [item for item in rest if key(item) > after]
    chunk, more = rest[:limit], len(rest) > limit
    cursor = _encode(operation, limit, key(chunk[-1])) if more else None
    return chunk, {"nextCursor": cursor, "hasNextPage": more}
