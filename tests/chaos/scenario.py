"""The seeded plan of a chaos run: which jobs arrive when, and what the world does to the daemon.

Everything random in a run comes from here, drawn from one `random.Random(seed)`: the jobs (and
the outcome each must have by construction), the kills (when, and at which instant of a tick),
the preemptions, the price spikes and the hours without spot. The same seed gives the same plan;
the interleaving of two processes on a shared machine is not reproducible to the request, so a
seed reproduces the run's course, not every byte of it.

Jobs know their outcome by construction, through the emulator's simulated containers:

* `finish`: busy for a while, then the pod removes itself (spot first, on-demand allowed);
* `finish_on_demand`: on-demand only, the pod stops itself when done;
* `idle`: busy, then idles until `idle_timeout` ends it (`on_idle` terminate or stop);
* `deadline`: like `finish`, with a deadline and an estimated runtime;
* `max_cost`: busy forever with a small `max_cost`: must end `failed`, never `succeeded`;
* `cancel`: busy forever, cancelled by the harness: must end `cancelled`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class JobKind(StrEnum):
    FINISH = "finish"
    FINISH_ON_DEMAND = "finish_on_demand"
    IDLE = "idle"
    DEADLINE = "deadline"
    MAX_COST = "max_cost"
    CANCEL = "cancel"


FINITE_KINDS = frozenset({JobKind.FINISH, JobKind.FINISH_ON_DEMAND, JobKind.IDLE, JobKind.DEADLINE})
"""Kinds whose work ends by itself: the only ones that may ever be `succeeded`."""


class KillMode(StrEnum):
    """Where a SIGKILL lands. `tick`: at a random instant after the clock moved (mostly inside a
    tick). The others hold one RunPod call of that kind in flight and kill the daemon while it
    waits: `before_*` before RunPod acts on it, `after_*` after RunPod acted, before the answer."""

    TICK = "tick"
    BEFORE_CREATE = "before_create"
    AFTER_CREATE = "after_create"
    BEFORE_TERMINATE = "before_terminate"
    AFTER_TERMINATE = "after_terminate"
    AFTER_STOP = "after_stop"
    AFTER_RESUME = "after_resume"


KILL_MATCH: dict[KillMode, tuple[str, ...]] = {
    KillMode.BEFORE_CREATE: ("podRentInterruptable", "podFindAndDeployOnDemand"),
    KillMode.AFTER_CREATE: ("podRentInterruptable", "podFindAndDeployOnDemand"),
    KillMode.BEFORE_TERMINATE: ("podTerminate",),
    KillMode.AFTER_TERMINATE: ("podTerminate",),
    KillMode.AFTER_STOP: ("podStop",),
    KillMode.AFTER_RESUME: ("podBidResume", "podResume"),
}

TARGET_WEIGHTS = {
    KillMode.BEFORE_CREATE: 1,
    KillMode.AFTER_CREATE: 2,
    KillMode.BEFORE_TERMINATE: 1,
    KillMode.AFTER_TERMINATE: 3,
    KillMode.AFTER_STOP: 2,
    KillMode.AFTER_RESUME: 1,
}
"""The windows the issue names (a terminate or stop that took effect, unrecorded) come most."""

GPU_TYPES = (
    ("NVIDIA RTX A4000", 0.25),
    ("NVIDIA RTX A5000", 0.27),
    ("NVIDIA GeForce RTX 3090", 0.43),
    ("NVIDIA A40", 0.40),
    ("NVIDIA RTX A6000", 0.49),
)
"""Cheap types with plenty of hosts, and their secure-cloud list price ($/GPU-hour)."""

MAX_SPEND_RATE = 1.5
DAILY_BUDGET = 20.0
MONTHLY_BUDGET = 1000.0
FAULT_RATE = 0.05
STARTUP_DELAY = 60.0
HOUR = 3600.0


@dataclass(frozen=True)
class JobPlan:
    name: str
    kind: JobKind
    submit_at: float  # seconds from the start of the run
    fields: dict[str, object]  # the [[job]] table
    cancel_at: float | None = None
    deadline_in: float | None = None  # seconds after submission (a deadline is absolute)


@dataclass(frozen=True)
class Event:
    at: float
    what: str  # "preempt", "spike", "unspike", "spot_off", "spot_on"
    gpu: str | None = None


@dataclass(frozen=True)
class Kill:
    at: float
    mode: KillMode
    downtime_steps: int  # clock steps the daemon stays down before it is started again


@dataclass
class Scenario:
    seed: int
    days: float
    kills: int
    step: float
    drain: float
    jobs: list[JobPlan] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    kill_plan: list[Kill] = field(default_factory=list)

    @property
    def chaos_seconds(self) -> float:
        return self.days * 86400.0


def _job(rng: random.Random, index: int, at: float) -> JobPlan:
    kind = rng.choices(
        list(JobKind),
        weights=[35, 10, 15, 10, 17, 13],
    )[0]
    gpus = rng.sample(GPU_TYPES, rng.choice((1, 1, 2)))
    list_price = max(price for _, price in gpus)
    busy = rng.uniform(0.3, 4.0) * HOUR
    env: dict[str, str] = {}
    fields: dict[str, object] = {
        "name": f"chaos-{index:04d}-{kind.value}",
        "image": "chaos/worker:1",
        "gpu_types": [gpu for gpu, _ in gpus],
        "cloud_type": rng.choice(("ALL", "ALL", "SECURE")),
        "max_spot_price": round(list_price * rng.uniform(0.5, 0.85), 3),
        "max_on_demand_price": round(list_price * 1.25, 3),
        "fallback_after": f"{rng.randint(20, 180)}m",
        "max_preemptions": rng.randint(1, 4),
        "priority": rng.randint(0, 3),
        "idle_timeout": "10m",
        "idle_grace": "2m",
    }
    cancel_at = deadline_in = None
    if rng.random() < 0.4:
        fields["checkpoint"] = True
        env["SPOTSCHED_SIM_CHECKPOINT"] = "1"
    if kind is JobKind.FINISH or kind is JobKind.DEADLINE:
        env |= {"SPOTSCHED_SIM_BUSY_SECONDS": str(int(busy)), "SPOTSCHED_SIM_THEN": "terminate"}
        if kind is JobKind.DEADLINE:
            fields["estimated_runtime"] = f"{int(busy)}s"
            deadline_in = busy * rng.uniform(1.6, 4.0) + HOUR
    elif kind is JobKind.FINISH_ON_DEMAND:
        env |= {"SPOTSCHED_SIM_BUSY_SECONDS": str(int(busy)), "SPOTSCHED_SIM_THEN": "stop"}
        fields |= {"max_spot_price": 0.01, "fallback_after": "0s"}
    elif kind is JobKind.IDLE:
        env |= {"SPOTSCHED_SIM_BUSY_SECONDS": str(int(busy)), "SPOTSCHED_SIM_THEN": "idle"}
        fields["on_idle"] = rng.choice(("terminate", "terminate", "stop"))
    elif kind is JobKind.MAX_COST:
        fields["max_cost"] = round(rng.uniform(0.05, 0.4), 2)
    else:
        cancel_at = at + rng.uniform(0.3, 5.0) * HOUR
    fields["env"] = env
    return JobPlan(str(fields["name"]), kind, at, fields, cancel_at, deadline_in)


def make_scenario(
    seed: int, *, days: float, kills: int, step: float = 30.0, drain_hours: float = 30.0
) -> Scenario:
    """The plan of a run of `days` simulated days with `kills` SIGKILLs, then a quiet drain."""
    rng = random.Random(seed)
    sc = Scenario(seed, days, kills, step, drain_hours * HOUR)
    span = sc.chaos_seconds
    # jobs: six at the start, then a batch of 2-6 every 1.5-3.5 hours
    t, index = 0.0, 1
    while t < span - HOUR:
        for _ in range(6 if t == 0.0 else rng.randint(2, 6)):
            sc.jobs.append(_job(rng, index, t))
            index += 1
        t += rng.uniform(1.5, 3.5) * HOUR
    # preemptions by RunPod: about one an hour; price spikes every ~8 h; spot away twice a week
    hours = int(span // HOUR)
    for _ in range(hours):
        sc.events.append(Event(rng.uniform(0, span), "preempt"))
    for _ in range(max(1, hours // 8)):
        start = rng.uniform(0, span - HOUR)
        gpu = rng.choice(GPU_TYPES)[0]
        sc.events.append(Event(start, "spike", gpu))
        sc.events.append(Event(min(span, start + rng.uniform(0.3, 2.0) * HOUR), "unspike", gpu))
    for _ in range(max(1, round(days * 2 / 7))):
        start = rng.uniform(0.1 * span, 0.9 * span)
        sc.events.append(Event(start, "spot_off"))
        sc.events.append(Event(min(span, start + rng.uniform(1.0, 6.0) * HOUR), "spot_on"))
    sc.events.sort(key=lambda e: e.at)
    # kills: evenly spread with jitter; half at a random instant, half inside a RunPod call
    targeted = [m for m in KillMode if m is not KillMode.TICK]
    weights = [TARGET_WEIGHTS[m] for m in targeted]
    for i in range(kills):
        at = (i + rng.random()) * span / kills
        mode = KillMode.TICK if rng.random() < 0.5 else rng.choices(targeted, weights)[0]
        sc.kill_plan.append(Kill(at, mode, rng.choice((0, 0, 0, 0, 1, 2))))
    return sc


def daemon_settings(
    state_dir: Path, emulator_url: str, metrics_port: int, *, enforce_running: bool
) -> dict[str, Any]:
    """The daemon's configuration for a run: ticks at the harness's pace on the emulator's
    clock, JSON debug logs (every line searched for the key), metrics on, the budgets above."""
    budget: dict[str, Any] = {
        "max_spend_rate": MAX_SPEND_RATE,
        "daily": DAILY_BUDGET,
        "monthly": MONTHLY_BUDGET,
    }
    if enforce_running:
        budget["enforce"] = "running"
    return {
        "state_dir": str(state_dir),
        "runpod": {"api_url": f"{emulator_url}/graphql", "timeout": 0.5},
        "scheduler": {
            "tick_interval": "0.02s",
            "price_sample_interval": "10m",
            "virtual_clock_url": f"{emulator_url}/_emulator",
        },
        "policy": {
            "launch_grace": "3m",
            "launch_timeout": "20m",
            "resume_wait": "10m",
            "orphan_grace": "5m",
        },
        "budget": budget,
        "metrics": {"enabled": True, "host": "127.0.0.1", "port": metrics_port},
        "log": {"format": "json", "level": "debug"},
    }
