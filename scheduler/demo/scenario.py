"""The demo's simulated day: six jobs and the market events that put the policy to work.

Everything here is data; `run.py` drives it. Times are seconds after the start of the day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scheduler.emulator import Emulator

HOUR = 3600.0


def _sim(busy_hours: float, then: str, checkpoint: bool = False) -> dict[str, str]:
    env = {"SPOTSCHED_SIM_BUSY_SECONDS": str(int(busy_hours * HOUR)), "SPOTSCHED_SIM_THEN": then}
    if checkpoint:
        env["SPOTSCHED_SIM_CHECKPOINT"] = "1"
    return env


IMAGE = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"

JOBS: list[dict[str, Any]] = [
    {
        "name": "finetune-7b",
        "image": IMAGE,
        "gpu_types": [{"id": "NVIDIA RTX A6000"}, {"id": "NVIDIA A40", "speed": 0.9}],
        "cloud_type": "SECURE",
        "max_spot_price": 0.30,
        "max_on_demand_price": 0.55,
        "fallback_after": "3h",
        "checkpoint": True,
        "estimated_runtime": "5h",
        "env": _sim(5, "terminate", checkpoint=True),
        "priority": 10,
    },
    {
        "name": "sweep-a100",
        "image": IMAGE,
        "gpu_types": ["NVIDIA A100-SXM4-80GB"],
        "cloud_type": "SECURE",
        "max_spot_price": 0.80,
        "max_on_demand_price": 1.80,
        "max_preemptions": 1,
        "env": _sim(4, "terminate"),
    },
    {
        "name": "embed-batch",
        "image": IMAGE,
        "gpu_types": ["NVIDIA L4"],
        "cloud_type": "SECURE",
        "max_spot_price": 0.25,
        "idle_timeout": "15m",
        "idle_grace": "5m",
        "env": _sim(1.5, "idle"),
    },
    {
        "name": "render-deadline",
        "image": IMAGE,
        "gpu_types": ["NVIDIA GeForce RTX 4090"],
        "cloud_type": "SECURE",
        "max_spot_price": 0.40,
        "max_on_demand_price": 0.80,
        "estimated_runtime": "6h",
        "deadline_in": 10 * HOUR,
        "env": _sim(6, "terminate"),
    },
    {
        "name": "cheap-h100",
        "image": IMAGE,
        "gpu_types": ["NVIDIA H100 80GB HBM3"],
        "cloud_type": "SECURE",
        "max_spot_price": 0.50,
        "fallback_after": "6h",
        "env": _sim(2, "terminate"),
    },
]

# Inserted as a raw row into the jobs table mid-day, as any program could.
SQL_JOB = {
    "at": 14.5 * HOUR,
    "name": "nightly-eval",
    "image": IMAGE,
    "gpu_types": "NVIDIA RTX A5000",
    "max_spot_price": 0.20,
    "max_on_demand_price": 0.40,
    "env": "SPOTSCHED_SIM_BUSY_SECONDS=7200\nSPOTSCHED_SIM_THEN=terminate",
}


@dataclass(frozen=True)
class MarketEvent:
    at: float
    text: str
    apply: Callable[[Emulator, dict[str, str]], None]
    """Gets the emulator and the map job name -> live pod id (for targeted preemptions)."""


def _pin(
    gpu: str, spot: float | None = None, on_demand: float | None = None
) -> Callable[[Emulator, dict[str, str]], None]:
    def apply(emu: Emulator, _pods: dict[str, str]) -> None:
        kwargs: dict[str, Any] = {"spot_price": spot}
        if on_demand is not None:
            kwargs["on_demand_price"] = on_demand
        emu.set_market(gpu, "SECURE", **kwargs)

    return apply


def _preempt(job: str) -> Callable[[Emulator, dict[str, str]], None]:
    def apply(emu: Emulator, pods: dict[str, str]) -> None:
        if job in pods:
            emu.preempt(pods[job])

    return apply


def _spot_off(emu: Emulator, _pods: dict[str, str]) -> None:
    emu.set_spot_enabled(False)


OPENING: list[MarketEvent] = [
    MarketEvent(0, "market opens", _pin("NVIDIA RTX A6000", 0.25, 0.49)),
    MarketEvent(0, "", _pin("NVIDIA A40", 0.22, 0.40)),
    MarketEvent(0, "", _pin("NVIDIA A100-SXM4-80GB", 1.10, 1.64)),
    MarketEvent(0, "", _pin("NVIDIA L4", 0.19, 0.43)),
    MarketEvent(0, "", _pin("NVIDIA GeForce RTX 4090", 0.35, 0.69)),
    MarketEvent(0, "", _pin("NVIDIA H100 80GB HBM3", 1.75, 2.99)),
    MarketEvent(0, "", _pin("NVIDIA RTX A5000", 0.16, 0.27)),
]

EVENTS: list[MarketEvent] = [
    MarketEvent(2 * HOUR, "a spot host reclaims finetune-7b's GPU", _preempt("finetune-7b")),
    MarketEvent(
        3 * HOUR,
        "A100 spot floor drops to $0.70 (under sweep-a100's $0.80 limit)",
        _pin("NVIDIA A100-SXM4-80GB", 0.70),
    ),
    MarketEvent(
        5 * HOUR,
        "A100 spot floor jumps to $1.25: spot A100 pods are outbid",
        _pin("NVIDIA A100-SXM4-80GB", 1.25),
    ),
    MarketEvent(
        5.5 * HOUR,
        "RTX 4090 spot floor jumps to $0.90: render-deadline is outbid",
        _pin("NVIDIA GeForce RTX 4090", 0.90),
    ),
    MarketEvent(14 * HOUR, "RunPod removes spot pods: spot mutations now rejected", _spot_off),
]
