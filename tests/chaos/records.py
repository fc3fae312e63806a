"""What a chaos run leaves behind: its counters and the records the invariants are checked
against (the emulator's state, the daemon's rows, every text the key must not be in)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.chaos.scenario import Scenario


@dataclass
class RunStats:
    kills: Counter[str] = field(default_factory=Counter)
    targeted_fallbacks: int = 0
    restarts: int = 0
    restart_wall: float = 0.0  # wall seconds from a start until the daemon's first tick
    downtimes: list[float] = field(default_factory=list)  # simulated seconds down per kill
    daemon_exits: list[int] = field(default_factory=list)  # exits nobody asked for
    stalled_steps: int = 0
    steps: int = 0
    submitted: int = 0
    cancels: int = 0
    preempt_calls: int = 0
    spikes: int = 0
    spot_switches: int = 0
    wall_seconds: float = 0.0
    simulated_seconds: float = 0.0
    drained: bool = False
    chaos_end: float = 0.0  # simulated seconds when the chaos ended and the drain began
    cut_short: bool = False  # the chaos phase hit the wall-time limit before its last day


@dataclass
class Records:
    """What the invariants are checked against (emulator state, database rows, every text)."""

    scenario: Scenario
    stats: RunStats
    start: datetime
    kinds: dict[str, str]  # job name → JobKind value
    pods: list[dict[str, Any]]
    requests: dict[str, Any]
    jobs: list[dict[str, Any]]
    attempts: list[dict[str, Any]]
    api_key: str
    texts: dict[str, bytes]  # source → content, searched for the key
    budget_enforce_running: bool
    foreign_pod_ids: list[str]
