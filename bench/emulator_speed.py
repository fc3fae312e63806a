"""How fast the RunPod emulator runs: simulated market time per wall second, and in-process
GraphQL requests per second. Run: `python bench/emulator_speed.py`. Prints a table; no asserts.

Scenarios (each on a fresh emulator, virtual clock, seed 0):

* week, one jump: a week of market with 3 spot pods (bids at +5/+20/+50 % over the floor,
  busy for 2 days then idle) and 2 on-demand pods, reached by a single `advance`.
* week, 5-min polls: the same week reached in 5-minute `advance` steps, each followed by a
  `myself { pods { ... runtime } }` query, as a polling daemon would.
* requests: the market query (all GPU types x 2 clouds `lowestPrice`) and the pod list, in-process.
* client requests: CPU time per `RunPodClient.market()` (one GPU type, as a reconcile tick asks,
  and the whole market, as an hourly price sample asks) and `list_pods()` (4 pods), wired as the
  backtest wires them, with query plans and with graphql-core alone (`DocumentCache(plan=False)`),
  interleaved in the same run; best of 7 rounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator
from scheduler.emulator.graphql_app import DocumentCache
from scheduler.runpod.client import RunPodClient
from scheduler.runpod.models import DeployRequest

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


def client_setup(plan: bool) -> dict[str, Callable[[], object]]:
    """A `RunPodClient` over the in-process emulator (as `backtest.runner.Run` wires it)."""
    clock = VirtualClock(datetime(2026, 3, 2, tzinfo=UTC))
    emu = Emulator(clock, seed=0, api_key="bench")
    emu.documents = DocumentCache(plan=plan)
    emu.set_market(A40, "SECURE", stock=24)
    http = httpx.Client(transport=emu.transport(), base_url="https://api.runpod.io")
    client = RunPodClient(http, "bench", clock=clock, on_request=lambda _record: None)
    floor = emu.world.market[(A40, "SECURE")].spot() or 0.2
    for i, bid in enumerate((floor * 1.05, floor * 1.2, floor * 1.5, None)):
        client.deploy(
            DeployRequest(
                name=f"bench-{i}",
                image_name="img",
                gpu_type_id=A40,
                gpu_count=1,
                cloud_type="SECURE",
                bid_per_gpu=None if bid is None else round(bid, 3),
            )
        )
    clock.advance(60)  # past the startup delay: every pod has a runtime
    return {
        "market(), 1 GPU type": lambda: client.market(gpu_type_ids=[A40]),
        "market(), whole market": client.market,
        "list_pods(), 4 pods": client.list_pods,
    }


def cpu_per_call(action: Callable[[], object], n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        action()
    return (time.process_time() - start) / n


def client_requests(n: int = 200, rounds: int = 7) -> list[tuple[str, float, float]]:
    """(request, CPU s with plans, CPU s with graphql-core alone), interleaved, best of rounds."""
    planned, reference = client_setup(True), client_setup(False)
    rows = []
    for name in planned:
        for action in (planned[name], reference[name]):
            action()  # warm the document cache
        best = [float("inf"), float("inf")]
        for _ in range(rounds):
            for i, action in enumerate((planned[name], reference[name])):
                best[i] = min(best[i], cpu_per_call(action, n))
        rows.append((name, best[0], best[1]))
    return rows


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
    print()
    print(f"{'RunPodClient request (CPU/request)':<{width}}  {'plans':>10}  {'graphql-core':>12}")
    for name, with_plans, reference in client_requests():
        print(f"{name:<{width}}  {with_plans * 1e6:>7.0f} us  {reference * 1e6:>9.0f} us")


if __name__ == "__main__":
    main()
