"""A virtual clock served over HTTP: rehearse days of operation against the emulator in minutes.

`[scheduler] virtual_clock_url = "http://127.0.0.1:8765/_emulator"` makes the daemon take its
time from `spotsched emulator --virtual-clock` instead of the system clock: `now()` is
`GET {url}/clock` and `sleep(s)` (retry back-off) is `POST {url}/advance {"seconds": s}`, the
same semantics as the in-process `VirtualClock` the tests, the demo and the backtester use. The
emulator's clock moves only when someone advances it, so a rehearsal (or the chaos benchmark)
decides how much time passes between ticks; APScheduler still triggers ticks on wall time.

What it must not do: send the RunPod API key (the clock is not RunPod), or be used against the
real RunPod (production runs on `SystemClock`; config validation keeps this URL on loopback).
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from scheduler.domain.errors import SpotschedError


class VirtualClockError(SpotschedError):
    """The virtual clock could not be read or advanced."""


class HttpVirtualClock:
    """`Clock` over HTTP: `GET {url}/clock` → `{"now": ISO-8601}`; sleep = `POST {url}/advance`."""

    def __init__(self, url: str, http: httpx.Client) -> None:
        self.url = url.rstrip("/")
        self.http = http

    def now(self) -> datetime:
        try:
            answer = self.http.get(f"{self.url}/clock").raise_for_status().json()
            when = datetime.fromisoformat(str(answer["now"]))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise VirtualClockError(
                f"virtual clock {self.url}/clock unreadable: {type(exc).__name__}"
            ) from None
        if when.tzinfo is None:
            raise VirtualClockError(f"virtual clock {self.url}/clock gave a time without a zone")
        return when.astimezone(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        try:
            self.http.post(f"{self.url}/advance", json={"seconds": seconds}).raise_for_status()
        except httpx.HTTPError as exc:
            raise VirtualClockError(
                f"virtual clock {self.url}/advance failed: {type(exc).__name__}"
            ) from None
