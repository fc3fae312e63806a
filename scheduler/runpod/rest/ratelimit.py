"""The IETF `RateLimit` / `RateLimit-Policy` headers REST v2 sends, read into one pause.

`RateLimit: "minute";r=0;t=12, "hour";r=2800;t=1812` says how many requests remain in each
window (`r`) and when it resets (`t` seconds); `RateLimit-Policy: "minute";q=60;w=60, ...` says the
quotas. A window with nothing left means the next request would be a 429: the client waits until
it resets (if that fits its bound) or fails fast without sending. Malformed members are ignored
(the headers are advisory; a 429 still tells the truth).

Pure: the caller passes `now` and sleeps on its own clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

_MEMBER = re.compile(r'^\s*"?(?P<name>[A-Za-z0-9_-]{1,32})"?\s*((?:;\s*[a-z]+=[^;,]*)*)\s*$')
_PARAM = re.compile(r";\s*([a-z]+)=([0-9]{1,12})")


def parse(header: str | None) -> dict[str, dict[str, int]]:
    """`"minute";r=0;t=12, "hour";r=5;t=100` → {"minute": {"r": 0, "t": 12}, ...}."""
    out: dict[str, dict[str, int]] = {}
    if not header:
        return out
    for member in header[:2000].split(",")[:10]:
        match = _MEMBER.match(member)
        if match is None:
            continue
        params = {k: int(v) for k, v in _PARAM.findall(member)}
        out[match.group("name")] = params
    return out


@dataclass
class RateLimitState:
    """What the last answer said: when the next request may go, and the quotas."""

    blocked_until: datetime | None = None
    window: str | None = None
    policy: dict[str, dict[str, int]] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)

    def observe(self, ratelimit: str | None, policy: str | None, now: datetime) -> bool:
        """Take one answer's headers; True when the policy (quotas) changed."""
        changed = False
        quotas = parse(policy)
        if quotas and quotas != self.policy:
            self.policy, changed = quotas, True
        state = parse(ratelimit)
        if not state:
            return changed
        self.remaining = {n: p["r"] for n, p in state.items() if "r" in p}
        exhausted = [(p.get("t", 1), n) for n, p in state.items() if p.get("r") == 0]
        if exhausted:
            wait, name = max(exhausted)
            self.blocked_until, self.window = now + timedelta(seconds=max(1, wait)), name
        else:
            self.blocked_until, self.window = None, None
        return changed

    def wait(self, now: datetime) -> float:
        """Seconds to wait before the next request may be sent (0 when it may go now)."""
        if self.blocked_until is None or now >= self.blocked_until:
            return 0.0
        return (self.blocked_until - now).total_seconds()
