"""What `/healthz` and `spotsched_up` say: healthy while the last successful tick is recent.

The decision is `Service.healthy(now)` (last successful tick within `scheduler.stale_after`);
this module only adds the short reason a 503 carries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from scheduler.domain.clock import Clock


class Watched(Protocol):
    """The parts of the daemon's `Service` that health reads."""

    @property
    def clock(self) -> Clock: ...

    @property
    def last_ok(self) -> datetime | None: ...

    def healthy(self, now: datetime) -> bool: ...


def health_problem(service: Watched) -> str | None:
    """None while healthy, else why not, in a few words."""
    now = service.clock.now()
    if service.healthy(now):
        return None
    if service.last_ok is None:
        return "no successful tick yet"
    age = (now - service.last_ok).total_seconds()
    return f"last successful tick {age:.0f}s ago"
