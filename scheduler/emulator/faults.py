"""Injected faults: the failures a production client must survive, on demand and reproducibly.

Why: retries, idempotent creates and crash recovery can only be tested against a server that
fails in the ways RunPod (and the network in front of it) fails.

Fault rule JSON (`POST /_emulator/faults` takes one rule, `{"faults": [rule, ...]}`, or
`{"clear": true}`):

    {"kind": "http_503", "rate": 0.2, "count": 3, "match": "podRentInterruptable",
     "seconds": 2.0, "phase": "before"}

* `kind` (required): `http_500`, `http_502`, `http_503` (that status, non-JSON body);
  `timeout` (not executed; in-process transport raises `httpx.ReadTimeout`, the HTTP server holds
  the connection `seconds` (default 30) then answers 504); `timeout_after` (executed - e.g. the
  pod really is created - then times out the same way); `rate_limit` (429, `Retry-After: seconds`
  (default 1), `application/problem+json` body); `internal_error` (200, `Something went wrong.
  Please try again later or contact support.`, code INTERNAL_SERVER_ERROR); `capacity` (200, the
  capacity message of the mutation; only pod create/resume mutations match); `unauthorized`
  (401); `delay` (wait `seconds` on the emulator's clock - wall time on a real one, an instant
  advance on a virtual one - `phase` "before" or "after" execution, then answer normally; an
  in-process client whose read timeout is shorter times out after that timeout instead).
* `rate`: probability per matching request (default: every matching request).
* `count`: affect only the next N matching requests (default: until cleared).
* `match`: only GraphQL requests whose document text contains this substring.

Rules are tried in the order added; the first that fires decides the request. Random draws use
an RNG seeded from the emulator's seed. Admin requests are never faulted.

What it must not do: build responses or sleep; the handler acts on the chosen rule.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from scheduler.emulator import errors

FaultKind = Literal[
    "http_500",
    "http_502",
    "http_503",
    "timeout",
    "timeout_after",
    "rate_limit",
    "internal_error",
    "capacity",
    "unauthorized",
    "delay",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

CAPACITY_MESSAGES = {
    "podFindAndDeployOnDemand": errors.ON_DEMAND_CAPACITY,
    "podRentInterruptable": errors.SPOT_CAPACITY,
    "podBidResume": errors.SPOT_CAPACITY,
    "podResume": errors.HOST_FULL,
}


class FaultError(ValueError):
    """A fault rule is malformed."""


@dataclass(frozen=True)
class FaultRule:
    kind: FaultKind
    rate: float | None = None
    count: int | None = None
    match: str | None = None
    seconds: float | None = None
    phase: Literal["before", "after"] = "before"

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise FaultError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise FaultError("rate must be between 0 and 1")
        if self.count is not None and self.count < 0:
            raise FaultError("count must be >= 0")
        if self.seconds is not None and self.seconds < 0:
            raise FaultError("seconds must be >= 0")
        if self.phase not in ("before", "after"):
            raise FaultError("phase must be 'before' or 'after'")

    @classmethod
    def from_json(cls, raw: Any) -> FaultRule:
        if not isinstance(raw, Mapping):
            raise FaultError("a fault rule is a JSON object")
        unknown = set(raw) - {"kind", "rate", "count", "match", "seconds", "phase"}
        if unknown:
            raise FaultError(f"unknown fault rule keys: {sorted(unknown)}")
        try:
            return cls(
                kind=raw["kind"],
                rate=None if raw.get("rate") is None else float(raw["rate"]),
                count=None if raw.get("count") is None else int(raw["count"]),
                match=None if raw.get("match") is None else str(raw["match"]),
                seconds=None if raw.get("seconds") is None else float(raw["seconds"]),
                phase=raw.get("phase", "before"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, FaultError):
                raise
            raise FaultError(f"bad fault rule {dict(raw)!r}: {exc}") from exc

    def applies_to(self, document: str, root_fields: Sequence[str]) -> bool:
        if self.match is not None and self.match not in document:
            return False
        return self.kind != "capacity" or any(f in CAPACITY_MESSAGES for f in root_fields)


class FaultInjector:
    """The active rules with their remaining counts; thread-safe."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(f"{seed}/faults")
        self._lock = threading.Lock()
        self._rules: list[list[Any]] = []  # [rule, remaining count or None]

    def add(self, *rules: FaultRule) -> None:
        with self._lock:
            self._rules.extend([rule, rule.count] for rule in rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pick(self, document: str, root_fields: Sequence[str]) -> FaultRule | None:
        """The rule that fires for this request, consuming one of its count; None if none."""
        with self._lock:
            for entry in self._rules:
                rule: FaultRule = entry[0]
                if entry[1] == 0 or not rule.applies_to(document, root_fields):
                    continue
                if rule.rate is not None and self._rng.random() >= rule.rate:
                    continue
                if entry[1] is not None:
                    entry[1] -= 1
                return rule
            self._rules = [e for e in self._rules if e[1] != 0]
        return None

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**asdict(rule), "remaining": left} for rule, left in self._rules]
