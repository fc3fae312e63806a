"""How long to wait before trying a transient failure again.

Capped exponential back-off with full jitter (AWS architecture blog, "Exponential Backoff And
Jitter"): attempt n waits `uniform(0, min(cap, base * 2**n))`, so many daemons that failed
together do not retry together. A server's `Retry-After` is a lower bound (capped, so a hostile
or broken header cannot park the daemon for a day).

Pure arithmetic: the random source and the current time are passed in, and the caller sleeps
on its injected clock. This module never sleeps and never reads the time itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry budget for idempotent RunPod calls.

    `max_attempts` counts the first try (1 = never retry). Delays are in the clock's seconds.
    """

    max_attempts: int = 4
    base: float = 0.5
    cap: float = 8.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts counts the first try, so it is at least 1")
        if self.base < 0 or self.cap < 0 or self.max_retry_after < 0:
            raise ValueError("retry delays cannot be negative")

    def delay(self, retry: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (0 = the first retry)."""
        jittered = rng.uniform(0.0, min(self.cap, self.base * 2**retry))
        if retry_after is None:
            return jittered
        return max(jittered, min(max(retry_after, 0.0), self.max_retry_after))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from `now`: delta-seconds or an HTTP-date; None if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds else None  # rejects NaN
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT by definition
        return None
    return max(0.0, (when - now).total_seconds())
