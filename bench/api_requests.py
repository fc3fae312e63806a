"""RunPod requests per reconcile tick on each API (`[runpod] api`), at 1 and 1,000 live pods.
Run: `python bench/api_requests.py [--ticks N] [--live 1,1000]`. Prints a table; no asserts.

Each row uses the real `Reconciler`, a real `Store` on a SQLite file, the provider that
`build_provider` makes for that API and the RunPod emulator in-process on a `VirtualClock`. The
live jobs are on-demand (REST v2 has no spot) with containers busy forever on a pinned market, so
the measured ticks are steady state: nothing launches or ends. The clock moves 30 s per tick, so
every tenth tick is a full-market price sample. Requests are counted by the emulator (HTTP
requests it answered, retries included), split by operation; CPU is the process time of a tick
(client, store and the in-process emulator together).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

from scheduler.daemon.logs import configure_logging
from scheduler.domain.clock import VirtualClock
from scheduler.domain.job import JobSpec, parse_job
from scheduler.emulator import Emulator
from scheduler.policy import PolicyConfig
from scheduler.reconcile import Reconciler, ReconcilerSettings
from scheduler.runpod.factory import build_provider
from scheduler.store import Store, open_engine
from scheduler.store.migrate import upgrade

START = datetime(2026, 3, 2, tzinfo=UTC)
TICK_SECONDS = 30.0
API_KEY = "bench-key"
GPUS = (("NVIDIA A40", 0.40), ("NVIDIA RTX A5000", 0.27), ("NVIDIA GeForce RTX 4090", 0.69))
# "auto, no spot": RunPod has removed spot but GraphQL still answers (as from Sept 2026).
APIS = ("graphql", "rest", "auto", "auto, no spot")


def live_spec(i: int) -> JobSpec:
    gpu, on_demand = GPUS[i % len(GPUS)]
    return parse_job(
        {
            "name": f"live-{i}",
            "image": "ghcr.io/acme/train:1",
            "gpu_types": [gpu],
            "cloud_type": "SECURE",
            "max_spot_price": 0.01,
            "max_on_demand_price": round(on_demand * 1.1, 3),
            "max_preemptions": 0,
            "env": {"SPOTSCHED_SIM_THEN": "idle"},
        }
    )


def measure(api: str, live: int, ticks: int) -> tuple[float, float, Counter[str]]:
    """Mean requests per tick, mean CPU ms per tick, and requests by operation."""
    clock = VirtualClock(START)
    emu = Emulator(clock, seed=0, api_key=API_KEY, balance=1e9, spend_limit=1e9)
    for gpu, on_demand in GPUS:
        stock = live // len(GPUS) + 16
        emu.set_market(gpu, "SECURE", spot_price=0.05, on_demand_price=on_demand, stock=stock)
    if api.endswith("no spot"):
        emu.set_spot_enabled(False)
    http = httpx.Client(transport=emu.transport(), base_url="https://api.runpod.io")
    client = build_provider(api.split(",")[0], http, API_KEY, clock=clock)
    with tempfile.TemporaryDirectory(prefix="spotsched-bench-") as tmp:
        engine = open_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        store = Store(engine)
        reconciler = Reconciler(store, client, PolicyConfig(), ReconcilerSettings(), clock=clock)
        store.upsert([live_spec(i) for i in range(live)], clock.now(), "bench")
        for _ in range(3):  # launch, come up, settle
            reconciler.tick(clock.now())
            clock.advance(TICK_SECONDS)
        before = Counter(emu.state()["requests"]["byOperation"])
        total_before = int(emu.state()["requests"]["total"])
        cpu = 0.0
        for _ in range(ticks):
            clock.advance(TICK_SECONDS)
            started = time.process_time()
            report = reconciler.tick(clock.now())
            cpu += time.process_time() - started
            if not report.ok or report.errors or report.applied.launches:
                raise RuntimeError(f"not steady state: {report.errors or report.actions}")
        running = sum(1 for p in emu.state()["pods"] if p["desiredStatus"] == "RUNNING")
        if running != live:
            raise RuntimeError(f"{running} pods running, expected {live}")
        requests = int(emu.state()["requests"]["total"]) - total_before
        by_op = Counter(emu.state()["requests"]["byOperation"])
        by_op.subtract(before)
        engine.dispose()
    http.close()
    return requests / ticks, cpu * 1000 / ticks, +by_op


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--live", default="1,1000")
    args = parser.parse_args()
    configure_logging("console", "warning")
    sizes = [int(n) for n in args.live.split(",")]
    print(f"{'api':<14} {'live pods':>9} {'requests/tick':>13} {'CPU ms/tick':>11}  by operation")
    for live in sizes:
        for api in APIS:
            per_tick, cpu_ms, by_op = measure(api, live, args.ticks)
            ops = ", ".join(f"{k} {v / args.ticks:.1f}" for k, v in sorted(by_op.items()))
            print(f"{api:<14} {live:>9,} {per_tick:>13.1f} {cpu_ms:>11.1f}  {ops}")
    print(f"({args.ticks} steady-state ticks of {TICK_SECONDS:.0f} s per row; mean per tick)")


if __name__ == "__main__":
    main()
