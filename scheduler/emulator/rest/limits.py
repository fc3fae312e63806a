"""Per-user rate limits: fixed minute/hour/day windows on the emulator's clock, with the IETF
`RateLimit` / `RateLimit-Policy` headers RunPod sends on every authenticated response.

Why: a v2 client must read `RateLimit-Policy`, slow down as `RateLimit` runs low and, on 429,
wait `Retry-After` seconds; that can only be tested against a server that counts. Windows are
fixed (aligned to the clock's epoch), counted per API key ("per-user"; the emulator has one user
per key), on the injected clock, so a test moves a virtual clock to reset them. A request refused
with 429 is not counted.

Defaults are above what the reference saw live (`"minute";r=176`, `"hour";r=7193` remaining), not
the spec's illustrative 60/3000/50000, so ordinary daemons and demos are not throttled.

What it must not do: sleep, or see anything of the request but its key.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime

from scheduler.emulator.rest.problems import RestError, rate_limited

WINDOWS: tuple[tuple[str, int], ...] = (("minute", 60), ("hour", 3600), ("day", 86400))


@dataclass(frozen=True)
class RateLimits:
    """Quotas per window; None switches limiting (and its headers) off, like an exempt caller."""

    minute: int | None = 300
    hour: int | None = 10_000
    day: int | None = 100_000

    def quotas(self) -> list[tuple[str, int, int]]:
        """(window name, quota, window seconds) for each limited window."""
        out = []
        for name, seconds in WINDOWS:
            quota = getattr(self, name)
            if quota is not None:
                out.append((name, int(quota), seconds))
        return out


class RateLimiter:
    """Counters per (key, window, window index); thread-safe."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], tuple[int, int]] = {}  # -> (window index, used)

    def policy_header(self) -> str:
        return ", ".join(f'"{n}";q={q};w={w}' for n, q, w in self.limits.quotas())

    def take(self, key: str, now: datetime) -> dict[str, str]:
        """Count one request for `key` and answer the headers; RestError 429 when a window is
        exhausted (Retry-After = seconds until that window resets)."""
        quotas = self.limits.quotas()
        if not quotas:
            return {}
        ts = now.timestamp()
        with self._lock:
            state = []
            for name, quota, seconds in quotas:
                index = math.floor(ts / seconds)
                reset = max(1, math.ceil((index + 1) * seconds - ts))
                seen_index, used = self._counts.get((key, name), (index, 0))
                used = used if seen_index == index else 0
                state.append((name, quota, index, reset, used))
            exhausted = next((s for s in state if s[4] >= s[1]), None)
            if exhausted is None:
                for name, _quota, index, _reset, used in state:
                    self._counts[(key, name)] = (index, used + 1)
                state = [(n, q, i, r, u + 1) for n, q, i, r, u in state]
        headers = {
            "ratelimit": ", ".join(f'"{n}";r={max(0, q - u)};t={r}' for n, q, _i, r, u in state),
            "ratelimit-policy": self.policy_header(),
        }
        if exhausted is not None:
            name, _quota, _index, reset, _used = exhausted
            raise RestError(429, rate_limited(name), headers={**headers, "retry-after": str(reset)})
        return headers
