"""Simulated containers: what a pod's workload does, driven only by the pod's env.

Why: the scheduler learns how a job ends through RunPod alone (GPU utilisation, the pod stopping
or removing itself), so the emulator must run a believable workload inside each pod.

Env contract (all optional):

* `SPOTSCHED_SIM_BUSY_SECONDS` - seconds of GPU work at high utilisation (85-100 %). Absent or not
  a number: busy forever.
* `SPOTSCHED_SIM_THEN` - what happens when the work is done: `idle` (default; utilisation 0, the
  pod keeps running and billing), `stop` (the pod stops itself, desiredStatus EXITED) or
  `terminate` (the pod removes itself).
* `SPOTSCHED_SIM_CHECKPOINT=1` - finished work survives stops, preemptions and restarts; progress
  is kept per `SPOTSCHED_JOB_ID` across pods (per pod id without one). Otherwise work starts over
  on every (re)start.

Work progresses only while the runtime is up, i.e. from `startup_delay` after a (re)start.

What it must not do: change pods or the world; the world asks it for times and numbers.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Then = Literal["idle", "stop", "terminate"]


@dataclass(frozen=True)
class ContainerSpec:
    busy_seconds: float | None
    then: Then
    checkpoint: bool
    job_id: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ContainerSpec:
        busy: float | None
        try:
            busy = max(0.0, float(env["SPOTSCHED_SIM_BUSY_SECONDS"]))
        except (KeyError, ValueError):
            busy = None
        raw_then = env.get("SPOTSCHED_SIM_THEN", "idle").strip().lower()
        then: Then = "stop" if raw_then == "stop" else "idle"
        if raw_then == "terminate":
            then = "terminate"
        checkpoint = env.get("SPOTSCHED_SIM_CHECKPOINT", "").strip().lower() in {"1", "true"}
        return cls(busy, then, checkpoint, env.get("SPOTSCHED_JOB_ID"))

    def progress_key(self, pod_id: str) -> str:
        return self.job_id if self.job_id is not None else f"pod:{pod_id}"


@dataclass
class ContainerRun:
    """One (re)start of a container; times are world seconds."""

    ready_at: float
    done_before: float
    finish_at: float | None
    finished: bool = False
    stopped_at: float | None = None

    def progress(self, t: float) -> float:
        """Seconds of work done at `t`, including work carried over by a checkpoint."""
        if self.stopped_at is not None:
            t = min(t, self.stopped_at)
        ran = max(0.0, t - self.ready_at)
        if self.finish_at is not None:
            ran = min(ran, self.finish_at - self.ready_at)
        return self.done_before + ran


def start_run(
    spec: ContainerSpec, started_at: float, startup_delay: float, carried: float
) -> ContainerRun:
    """A run that starts at `started_at` with `carried` seconds of checkpointed work."""
    ready_at = started_at + startup_delay
    if spec.busy_seconds is None:
        return ContainerRun(ready_at, carried, None)
    done = min(carried, spec.busy_seconds)
    return ContainerRun(ready_at, done, ready_at + (spec.busy_seconds - done))


@dataclass(frozen=True)
class Usage:
    gpu_percent: int
    memory_percent: int
    cpu_percent: int
    ram_percent: int


def usage(pod_id: str, gpu_index: int, t: float, busy: bool) -> Usage:
    """Plausible utilisation numbers, deterministic per pod, GPU and ten-second slot."""
    if not busy:
        return Usage(0, 0, 1, 4)
    rng = random.Random(f"{pod_id}/{gpu_index}/{int(t // 10)}")
    return Usage(
        gpu_percent=rng.randint(85, 100),
        memory_percent=rng.randint(55, 90),
        cpu_percent=rng.randint(20, 60),
        ram_percent=rng.randint(25, 50),
    )
