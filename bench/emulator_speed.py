"""How fast the RunPod emulator runs: simulated market time per wall second, and in-process
GraphQL requests per second. Run: `python bench/emulator_speed.py`. Prints a table; no asserts.

Scenarios (each on a fresh emulator, virtual clock, seed 0):

* week, one jump: a week of market with 3 spot pods (bids at +5/+20/+50 % over the floor,
  busy for 2 days then idle) and 2 on-demand pods, reached by a single `advance`.
* week, 5-min polls: the same week reached in 5-minute `advance` steps, each followed by a
  `myself { pods { ... runtime } }` query, as a polling daemon would.
* requests: the market query (all GPU types x 2 clouds `lowestPrice`) and the pod list, in-process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator

WEEK = 7 * 24 * 3600
A40 = "NVIDIA A40"
MARKET = """
query Market {
  gpuTypes {
    id displayName memoryInGb securePrice communityPrice secureSpotPrice communitySpotPrice
    secure: lowestPrice(input: {gpuCount: 1, secureCloud: true}) {
      minimumBidPrice uninterruptablePrice stockStatus maxUnreservedGpuCount
    }
    community: lowestPrice(input: {gpuCount: 1, secureCloud: false}) {
      minimumBidPrice uninterruptablePrice stockStatus maxUnreservedGpuCount
    }
  }
}
"""
PODS = """
query ListPods {
  myself {
    pods {
      id name desiredStatus podType costPerHr gpuCount env lastStatusChange
      machine { gpuTypeId dataCenterId }
      runtime { uptimeInSeconds gpus { id gpuUtilPercent memoryUtilPercent } }
    }
  }
}
"""
CREATE = """
mutation($input: PodRentInterruptableInput!) { podRentInterruptable(input: $input) { id } }
"""
CREATE_OD = """
mutation($input: PodFindAndDeployOnDemandInput!) { podFindAndDeployOnDemand(input: $input) { id } }
"""


def setup() -> tuple[Emulator, VirtualClock, httpx.Client]:
    clock = VirtualClock(datetime(2026, 3, 2, tzinfo=UTC))
    emu = Emulator(clock, seed=0)
    emu.set_market(A40, "SECURE", stock=24)
    client = httpx.Client(
        transport=emu.transport(),
        base_url="https://api.runpod.io",
        headers={"Authorization": "Bearer bench"},
    )
    floor = emu.world.market[(A40, "SECURE")].spot() or 0.2
    sim = [
        {"key": "SPOTSCHED_SIM_BUSY_SECONDS", "value": str(2 * 86400)},
        {"key": "SPOTSCHED_SIM_THEN", "value": "idle"},
    ]
    base: dict[str, object] = {
        "imageName": "img",
        "gpuTypeId": A40,
        "cloudType": "SECURE",
        "env": sim,
    }
    for margin in (1.05, 1.2, 1.5):
        variables = {"input": {**base, "bidPerGpu": round(floor * margin, 3)}}
        assert client.post("/graphql", json={"query": CREATE, "variables": variables}).is_success
    for _ in range(2):
        variables = {"input": base}
        assert client.post("/graphql", json={"query": CREATE_OD, "variables": variables}).is_success
    return emu, clock, client


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def week_one_jump() -> tuple[float, int]:
    emu, _, client = setup()
    seconds = timed(lambda: emu.advance(WEEK))
    preempted = sum(p["preemptions"] for p in emu.state()["pods"])
    client.close()
    return seconds, preempted


def week_polled() -> tuple[float, int]:
    emu, _, client = setup()

    def run() -> None:
        for _ in range(WEEK // 300):
            emu.advance(300)
            client.post("/graphql", json={"query": PODS}).raise_for_status()

    seconds = timed(run)
    preempted = sum(p["preemptions"] for p in emu.state()["pods"])
    client.close()
    return seconds, preempted


def requests_per_second(query: str, n: int) -> float:
    _, _, client = setup()
    client.post("/graphql", json={"query": query}).raise_for_status()  # warm the document cache

    def run() -> None:
        for _ in range(n):
            client.post("/graphql", json={"query": query}).raise_for_status()

    seconds = timed(run)
    client.close()
    return n / seconds


def main() -> None:
    one_jump, preempted_jump = week_one_jump()
    polled, preempted_polled = week_polled()
    market_rps = requests_per_second(MARKET, 200)
    pods_rps = requests_per_second(PODS, 1000)
    hours = WEEK / 3600
    rows = [
        ("week, one jump (5 pods)", f"{hours / one_jump:,.0f} market-h/s", f"{one_jump:.3f} s"),
        (
            "week, 5-min polls + pod list",
            f"{hours / polled:,.0f} market-h/s",
            f"{polled:.3f} s ({WEEK // 300} requests)",
        ),
        ("market query (28 lowestPrice)", f"{market_rps:,.0f} req/s", "in-process"),
        ("pod list (5 pods, runtime)", f"{pods_rps:,.0f} req/s", "in-process"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'scenario':<{width}}  {'rate':>18}  wall")
    for name, rate, wall in rows:
        print(f"{name:<{width}}  {rate:>18}  {wall}")
    print(f"spot preemptions in the week: {preempted_jump} (one jump), {preempted_polled} (polled)")


if __name__ == "__main__":
    main()
