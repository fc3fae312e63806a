"""REST v2 settings and the little state REST keeps beside the shared world.

Why: pods, volumes, templates and billing live in the world both APIs share; what only v2 has
(registry credential and global-networking flag of a pod, `entrypoint`/`cmd`, a volume's tier) and
the per-key rate-limit counters are kept here, so the GraphQL side is unchanged.

What it must not do: hold pods or money (the world does).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from scheduler.emulator.rest.limits import RateLimiter, RateLimits


@dataclass(frozen=True)
class RestConfig:
    """`pagination=False` answers lists without `pagination` (the 2026-08-18 spec);
    `read_only_keys` get 403 `access denied` on every mutating request."""

    rate_limits: RateLimits = field(default_factory=RateLimits)
    pagination: bool = True
    read_only_keys: frozenset[str] = frozenset()


class RestState:
    def __init__(self, config: RestConfig) -> None:
        self.config = config
        self.limiter = RateLimiter(config.rate_limits)
        self.pod_extras: dict[str, dict[str, Any]] = {}
        self.volume_types: dict[str, str] = {}
        self._order: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def request_id(self) -> str:
        with self._lock:
            return f"emu-{next(self._ids):012d}"

    def order(self, ids: list[str]) -> dict[str, int]:
        """A stable creation rank per id, for cursors; `ids` come in creation order.

        Ids never seen before are numbered after all earlier ones: every id that existed at an
        earlier call was numbered then, so new ones were created later.
        """
        for item in ids:
            if item not in self._order:
                self._order[item] = len(self._order)
        return self._order

    def extras(self, pod_id: str) -> dict[str, Any]:
        return self.pod_extras.setdefault(pod_id, {})
