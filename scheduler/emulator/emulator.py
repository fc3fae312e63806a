"""`Emulator`: the public face of the RunPod emulator (world + GraphQL + REST v2 + faults +
serving).

Why: tests, the demo, benchmarks and the backtester need one object to build with a clock and a
seed, talk to through `transport()` or `server.serve()`, and steer through admin methods that
mirror the HTTP admin API.

What it must not do: contain simulation rules (world.py) or request handling (handler.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from scheduler.domain.clock import Clock, VirtualClock
from scheduler.emulator.capacity import stock_status, total_free
from scheduler.emulator.catalogue import Catalogue
from scheduler.emulator.faults import FaultInjector, FaultRule
from scheduler.emulator.graphql_app import DocumentCache
from scheduler.emulator.handler import HttpRequest, HttpResponse, RequestStats, handle
from scheduler.emulator.market import MarketSource
from scheduler.emulator.pods import Pod
from scheduler.emulator.rest.state import RestConfig, RestState
from scheduler.emulator.world import KEEP, Keep, MarketEntry, World


class Emulator:
    """A local RunPod GraphQL and REST v2 API on an injected clock.

    `seed` drives market prices, ids and random faults; `api_key` (if given) is the only key
    accepted; `market` replaces the default stochastic market (see `traces.load_market_file`);
    `startup_delay` is the clock time from (re)start until `runtime` is non-null;
    `create_failure_rate` is the probability that a create fails with the capacity error
    although stock is listed; `rest` sets REST v2 rate limits, pagination and read-only keys.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        seed: int = 0,
        api_key: str | None = None,
        market: MarketSource | None = None,
        startup_delay: float = 20.0,
        create_failure_rate: float = 0.0,
        balance: float = 1000.0,
        spend_limit: float = 80.0,
        catalogue: Catalogue | None = None,
        rest: RestConfig | None = None,
    ) -> None:
        self.clock = clock
        self.api_key = api_key
        self.world = World(
            clock,
            seed=seed,
            market=market,
            startup_delay=startup_delay,
            create_failure_rate=create_failure_rate,
            catalogue=catalogue,
            balance=balance,
            spend_limit=spend_limit,
        )
        self.faults = FaultInjector(seed)
        self.documents = DocumentCache()
        self.stats = RequestStats()
        self.rest = RestState(rest or RestConfig())

    def __repr__(self) -> str:
        return f"Emulator(now={self.world.now.isoformat()}, pods={len(self.world.pods)})"

    # ----------------------------------------------------------------- serving
    def handle(self, request: HttpRequest) -> HttpResponse:
        return handle(self, request)

    def transport(self) -> httpx.BaseTransport:
        """In-process httpx transport: `httpx.Client(transport=emu.transport(), base_url=...)`."""
        from scheduler.emulator.transport import EmulatorTransport

        return EmulatorTransport(self)

    # ----------------------------------------------------------------- admin
    def advance(self, seconds: float) -> datetime:
        """Move a `VirtualClock` on and let the world catch up; TypeError on other clocks."""
        if not isinstance(self.clock, VirtualClock):
            raise TypeError("advance needs a VirtualClock; this emulator runs on real time")
        self.clock.advance(seconds)
        with self.world.lock:
            self.world.sync()
            return self.world.now

    def set_market(
        self,
        gpu_type_id: str,
        cloud_type: str = "SECURE",
        *,
        spot_price: float | Keep | None = KEEP,
        on_demand_price: float | Keep | None = KEEP,
        stock: int | None = None,
    ) -> dict[str, Any]:
        """Pin (a number) or unpin (None) prices and set the free stock of one market.

        KeyError for a (GPU type, cloud type) the catalogue does not offer.
        """
        with self.world.lock:
            self.world.sync()
            entry = self.world.set_market(
                gpu_type_id,
                cloud_type,
                spot_price=spot_price,
                on_demand_price=on_demand_price,
                stock=stock,
            )
            return self._market_state(entry)

    def preempt(self, pod_id: str) -> None:
        """Preempt a running pod now (capacity reclaimed); KeyError if no such running pod."""
        with self.world.lock:
            self.world.sync()
            self.world.preempt(pod_id)

    def set_spot_enabled(self, enabled: bool) -> None:
        """False: like RunPod after spot removal (no spot prices, spot mutations UNSUPPORTED,
        running spot pods interrupted)."""
        with self.world.lock:
            self.world.sync()
            self.world.set_spot_enabled(enabled)

    def inject_faults(self, *rules: FaultRule) -> None:
        self.faults.add(*rules)

    def clear_faults(self) -> None:
        self.faults.clear()

    def billing_total(self, pod_id: str | None = None) -> float:
        """Dollars billed so far for one pod (also terminated ones) or for all pods."""
        with self.world.lock:
            self.world.sync()
            return self.world.billing_total(pod_id)

    # ----------------------------------------------------------------- state
    def _market_state(self, entry: MarketEntry) -> dict[str, Any]:
        world = self.world
        hosts = world.capacity.hosts_for(entry.gpu.id, entry.cloud)
        free = total_free(hosts)
        return {
            "gpuTypeId": entry.gpu.id,
            "cloudType": entry.cloud,
            "onDemandPrice": entry.on_demand(),
            "spotPrice": entry.spot() if world.spot_enabled else None,
            "modelSpotPrice": entry.model_spot,
            "pinnedSpotPrice": entry.pinned_spot,
            "pinnedOnDemandPrice": entry.pinned_on_demand,
            "available": entry.available,
            "freeGpus": free,
            "totalGpus": sum(h.capacity for h in hosts),
            "stockStatus": stock_status(free),
        }

    def _pod_state(self, pod: Pod) -> dict[str, Any]:
        t = self.world.t
        run = pod.run
        return {
            "id": pod.id,
            "name": pod.request.name,
            "desiredStatus": "TERMINATED" if pod.terminated_at is not None else pod.status,
            "podType": "INTERRUPTABLE" if pod.kind == "SPOT" else "RESERVED",
            "gpuTypeId": pod.gpu.id,
            "cloudType": pod.cloud,
            "gpuCount": pod.gpu_count,
            "costPerHr": pod.cost_per_hr,
            "bidPerGpu": pod.bid_per_gpu,
            "machineId": pod.host.id,
            "dataCenterId": pod.host.data_center_id,
            "billed": pod.billed_at(t),
            "runningSeconds": pod.running_seconds_at(t),
            "preemptions": pod.preemptions,
            "runtimeUp": pod.running and run is not None and t >= run.ready_at,
            "workDone": None if run is None else run.progress(t),
            "workFinished": None if run is None else run.finished,
            "events": [
                {"at": self.world.at(at).isoformat(), "event": what} for at, what in pod.history
            ],
            "billingSegments": [
                {
                    "start": self.world.at(start).isoformat(),
                    "end": None if end is None else self.world.at(end).isoformat(),
                    "costPerHr": price,
                }
                for start, end, price in pod.segments
            ],
            "jobId": dict(pod.env).get("SPOTSCHED_JOB_ID"),
        }

    def state(self) -> dict[str, Any]:
        """Everything an operator or a test wants to see, JSON-ready."""
        world = self.world
        with world.lock:
            world.sync()
            pods = [self._pod_state(p) for p in (*world.pods.values(), *world.gone.values())]
            return {
                "now": world.now.isoformat(),
                "spotEnabled": world.spot_enabled,
                "pods": pods,
                "market": [self._market_state(e) for e in world.market.values()],
                "totals": {
                    "billed": world.billing_total(),
                    "clientBalance": world.balance(),
                    "currentSpendPerHr": world.spend_per_hr(),
                    "livePods": len(world.pods),
                    "runningPods": sum(1 for p in world.pods.values() if p.running),
                    "terminatedPods": len(world.gone),
                },
                "requests": self.stats.snapshot(),
                "documentCache": {
                    "parses": self.documents.parses,
                    "hits": self.documents.hits,
                    "size": len(self.documents),
                },
                "faults": self.faults.snapshot(),
            }
