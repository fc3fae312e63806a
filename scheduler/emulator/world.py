"""The emulated RunPod account and market: all mutable state, one lock, lazy catch-up to the clock.

Why: every request and admin call sees a world that has caught up to `clock.now()`: market steps
are applied at their fixed interval (preempting spot pods whose bid the floor has passed), and
container events (work finished -> idle/stop/terminate) happen at their exact time, in order.
Billing needs no stepping: a pod keeps closed totals plus the start of its open segment, so the
bill is an exact integral whenever it is read. Times inside are float seconds since the world was
created (`origin`), which keeps the arithmetic exact enough for 1e-9 relative billing checks.

Callers hold `lock` (re-entrant) and call `sync()` once before reading or changing anything.

What it must not do: speak GraphQL or HTTP, sleep, or read the clock outside `sync()`.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from scheduler.domain.clock import Clock
from scheduler.emulator import errors
from scheduler.emulator.account import Account, NetworkVolume
from scheduler.emulator.capacity import Capacity, HostState
from scheduler.emulator.catalogue import Catalogue, CloudType, GpuSpec, default_catalogue, random_id
from scheduler.emulator.containers import ContainerSpec, start_run
from scheduler.emulator.errors import ApiError
from scheduler.emulator.market import MarketKey, MarketSource, Quote, StochasticMarket
from scheduler.emulator.pods import Pod, PodRequest, status_text
from scheduler.emulator.traces import TraceMarket


class Keep(Enum):
    """Sentinel: leave a market setting as it is (None means "clear the pin")."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass
class MarketEntry:
    gpu: GpuSpec
    cloud: CloudType
    list_price: float
    model_spot: float | None
    model_on_demand: float
    available: bool = True
    pinned_spot: float | None = None
    pinned_on_demand: float | None = None

    def apply(self, quote: Quote) -> None:
        self.model_spot = quote.spot
        self.model_on_demand = self.list_price if quote.on_demand is None else quote.on_demand
        self.available = quote.available

    def spot(self) -> float | None:
        """The minimum bid now, ignoring the spot switch; None = no spot capacity."""
        if not self.available:
            return None
        return self.pinned_spot if self.pinned_spot is not None else self.model_spot

    def on_demand(self) -> float:
        return self.pinned_on_demand if self.pinned_on_demand is not None else self.model_on_demand


class World:
    def __init__(
        self,
        clock: Clock,
        *,
        seed: int = 0,
        market: MarketSource | None = None,
        startup_delay: float = 20.0,
        create_failure_rate: float = 0.0,
        catalogue: Catalogue | None = None,
        balance: float = 1000.0,
        spend_limit: float = 80.0,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.catalogue = catalogue or default_catalogue()
        self.origin = clock.now()
        self.t = 0.0
        self.startup_delay = startup_delay
        self.create_failure_rate = create_failure_rate
        self.initial_balance = balance
        self.spend_limit = spend_limit
        self.spot_enabled = True
        self._ids = random.Random(f"{seed}/ids")
        self._stock_rng = random.Random(f"{seed}/stock")
        self.capacity = Capacity(self.catalogue, random.Random(f"{seed}/hosts"))
        self.account = Account(random.Random(f"{seed}/account"))
        self.source: MarketSource = market or StochasticMarket(seed)
        self.pods: dict[str, Pod] = {}
        self.gone: dict[str, Pod] = {}
        self.progress: dict[str, float] = {}
        self.market: dict[MarketKey, MarketEntry] = {}
        for gpu in self.catalogue.gpu_types:
            for cloud in ("SECURE", "COMMUNITY"):
                price = gpu.on_demand_price(cloud)
                if price is not None:
                    self.market[(gpu.id, cloud)] = MarketEntry(gpu, cloud, price, None, price)
        if isinstance(self.source, TraceMarket):
            unknown = [key for key in self.source.keys if key not in self.market]
            if unknown:
                raise ValueError(f"the market file names keys the catalogue lacks: {unknown}")
        start = self.source.start
        self._market_origin = 0.0 if start is None else (start - self.origin).total_seconds()
        self._step = math.floor(-self._market_origin / self.source.step_seconds)
        self._apply_step(self._step)

    # ----------------------------------------------------------------- time
    def at(self, t: float) -> datetime:
        return self.origin + timedelta(seconds=t)

    @property
    def now(self) -> datetime:
        return self.at(self.t)

    def sync(self) -> float:
        """Catch up to the clock: market steps and container events in time order."""
        t = (self.clock.now() - self.origin).total_seconds()
        if t <= self.t:
            return self.t
        step_s = self.source.step_seconds
        while True:
            event = self._next_container_event()
            next_step_t = self._market_origin + (self._step + 1) * step_s
            if event is not None and event[0] <= t and event[0] <= next_step_t:
                self.t = max(self.t, event[0])
                self._finish_work(event[1])
            elif next_step_t <= t:
                if any(p.running and p.kind == "SPOT" for p in self.pods.values()):
                    self._apply_step(self._step + 1)
                else:
                    horizon = t if event is None else min(t, event[0])
                    target = math.floor((horizon - self._market_origin) / step_s)
                    self._apply_step(max(self._step + 1, target))
            else:
                break
        self.t = t
        return t

    def _apply_step(self, step: int) -> None:
        self._step = step
        self.t = max(self.t, self._market_origin + step * self.source.step_seconds)
        for key, entry in self.market.items():
            entry.apply(self.source.quote(key, step, entry.list_price, entry.gpu.spot_ratio))
        self._check_spot()

    def _check_spot(self) -> None:
        for pod in list(self.pods.values()):
            if pod.running and pod.kind == "SPOT":
                floor = self.market[(pod.gpu.id, pod.cloud)].spot()
                if floor is None or pod.bid_per_gpu is None or floor > pod.bid_per_gpu:
                    self._preempt(pod)

    def _next_container_event(self) -> tuple[float, Pod] | None:
        best: tuple[float, Pod] | None = None
        for pod in self.pods.values():
            run = pod.run
            if not pod.running or run is None or run.finished or run.finish_at is None:
                continue
            if best is None or run.finish_at < best[0]:
                best = (run.finish_at, pod)
        return best

    def _finish_work(self, pod: Pod) -> None:
        assert pod.run is not None
        pod.run.finished = True
        spec = pod.container
        if spec.checkpoint and spec.busy_seconds is not None:
            self.progress[spec.progress_key(pod.id)] = spec.busy_seconds
        pod.history.append((self.t, "work_done"))
        if spec.then == "stop":
            self._halt(pod, "Exited by User", "stopped_itself")
        elif spec.then == "terminate":
            self._terminate(pod, "terminated_itself")

    # ----------------------------------------------------------------- pod mechanics
    def _start(self, pod: Pod, cost_per_hr: float) -> None:
        spec = pod.container
        carried = self.progress.get(spec.progress_key(pod.id), 0.0) if spec.checkpoint else 0.0
        self.capacity.hosts[pod.host.id].used += pod.gpu_count
        pod.start(
            self.t, self.now, cost_per_hr, start_run(spec, self.t, self.startup_delay, carried)
        )
        pod.last_status_change = status_text("Rented by User", self.now)

    def _halt(self, pod: Pod, prose: str, reason: str) -> None:
        spec = pod.container
        if pod.run is not None:
            pod.run.stopped_at = self.t
            if spec.checkpoint:
                key = spec.progress_key(pod.id)
                self.progress[key] = max(self.progress.get(key, 0.0), pod.run.progress(self.t))
        self.capacity.hosts[pod.host.id].used -= pod.gpu_count
        pod.halt(self.t, status_text(prose, self.now), reason)

    def _preempt(self, pod: Pod) -> None:
        pod.preemptions += 1
        self._halt(pod, "Spot instance interrupted", "preempted")

    def _terminate(self, pod: Pod, reason: str) -> None:
        if pod.running:
            self._halt(pod, "Terminated by User", reason)
        else:
            pod.history.append((self.t, reason))
        pod.terminated_at = self.t
        self.gone[pod.id] = self.pods.pop(pod.id)

    def _live(self, pod_id: str) -> Pod:
        pod = self.pods.get(pod_id)
        if pod is None:
            raise ApiError(errors.POD_NOT_FOUND)
        return pod

    def _choose_host(
        self, req: PodRequest, data_center_id: str | None, spot: bool
    ) -> tuple[HostState, GpuSpec, float] | None:
        """The cheapest host with enough free GPUs for the first GPU type that has one."""
        for gpu_id in req.gpu_type_ids:
            gpu = self.catalogue.gpu(gpu_id)
            options: list[tuple[float, int, str, HostState]] = []
            for cloud in req.clouds():
                entry = self.market.get((gpu_id, cloud))
                if gpu is None or entry is None:
                    continue
                price = entry.spot() if spot else entry.on_demand()
                if price is None or (spot and (req.bid_per_gpu or 0.0) < price):
                    continue
                for host in self.capacity.hosts_for(gpu_id, cloud):
                    if self._host_fits(host, req, data_center_id):
                        options.append((price, -host.free, host.spec.id, host))
            if gpu is not None and options:
                best = min(options, key=lambda o: o[:3])
                return best[3], gpu, best[0]
        return None

    def _host_fits(self, host: HostState, req: PodRequest, data_center_id: str | None) -> bool:
        spec = host.spec
        if host.free < req.gpu_count:
            return False
        if data_center_id is not None and spec.data_center_id != data_center_id:
            return False
        if req.data_center_ids and spec.data_center_id not in req.data_center_ids:
            return False
        if req.country_code is not None:
            dc = self.catalogue.data_center(spec.data_center_id)
            if dc is None or dc.country_code != req.country_code:
                return False
        if req.min_vcpu is not None and spec.vcpu_per_gpu * req.gpu_count < req.min_vcpu:
            return False
        return not (
            req.min_memory_gb is not None
            and spec.memory_gb_per_gpu * req.gpu_count < req.min_memory_gb
        )

    # ----------------------------------------------------------------- API operations
    def create_pod(self, req: PodRequest, *, spot: bool) -> Pod:
        if spot and not self.spot_enabled:
            raise ApiError(errors.SPOT_UNSUPPORTED, "UNSUPPORTED")
        capacity_error = errors.SPOT_CAPACITY if spot else errors.ON_DEMAND_CAPACITY
        template = self.account.templates.get(req.template_id or "")
        image = req.image_name or (template or {}).get("imageName") or req.template_id
        if not image:
            raise ApiError(errors.NO_IMAGE)
        data_center_id = req.data_center_id
        if req.network_volume_id is not None:
            volume = self.account.volumes.get(req.network_volume_id)
            if volume is None:
                raise ApiError(errors.UNKNOWN_NETWORK_VOLUME)
            if data_center_id is not None and data_center_id != volume.data_center_id:
                raise ApiError(capacity_error)
            data_center_id = volume.data_center_id
        if spot and req.bid_per_gpu is None:
            raise ApiError(capacity_error)
        choice = self._choose_host(req, data_center_id, spot)
        if choice is None or (
            self.create_failure_rate > 0 and self._stock_rng.random() < self.create_failure_rate
        ):
            raise ApiError(capacity_error)
        host, gpu, price = choice
        env = {e["key"]: e["value"] for e in (template or {}).get("env", [])}
        env.update(req.env)
        pod_id = random_id(self._ids, 14)
        pod = Pod(
            id=pod_id,
            request=req,
            image_name=str(image),
            env=tuple(env.items()),
            host=host.spec,
            gpu=gpu,
            kind="SPOT" if spot else "ON_DEMAND",
            gpu_count=req.gpu_count,
            cost_per_hr=0.0,
            bid_per_gpu=req.bid_per_gpu if spot else None,
            created_at_time=self.now,
            last_status_change="",
            container=ContainerSpec.from_env(env),
            gpu_ids=tuple(self._gpu_uuid() for _ in range(8)),
            host_suffix=f"{self._ids.getrandbits(32):08x}",
            public_ip=f"{self._ids.randint(38, 213)}.{self._ids.randint(0, 255)}."
            f"{self._ids.randint(0, 255)}.{self._ids.randint(1, 254)}",
        )
        self.pods[pod_id] = pod
        unit = req.bid_per_gpu if spot and req.bid_per_gpu is not None else price
        self._start(pod, round(unit * req.gpu_count, 6))
        return pod

    def _gpu_uuid(self) -> str:
        h = f"{self._ids.getrandbits(128):032x}"
        return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def stop_pod(self, pod_id: str) -> Pod:
        pod = self._live(pod_id)
        if pod.running:
            self._halt(pod, "Exited by User", "stopped")
        return pod

    def resume_pod(self, pod_id: str, gpu_count: int | None) -> Pod:
        pod = self._live(pod_id)
        if pod.kind == "SPOT":
            raise ApiError(errors.SPOT_RESUME_AS_ON_DEMAND)
        if pod.running:
            return pod
        count = gpu_count if gpu_count is not None and gpu_count > 0 else pod.gpu_count
        if self.capacity.hosts[pod.host.id].free < count:
            raise ApiError(errors.HOST_FULL)
        pod.gpu_count = count
        self._start(pod, round(self.market[(pod.gpu.id, pod.cloud)].on_demand() * count, 6))
        return pod

    def bid_resume(self, pod_id: str, bid_per_gpu: float, gpu_count: int) -> Pod:
        if not self.spot_enabled:
            raise ApiError(errors.SPOT_UNSUPPORTED, "UNSUPPORTED")
        pod = self._live(pod_id)
        if pod.kind != "SPOT":
            raise ApiError(errors.ON_DEMAND_RESUME_AS_SPOT)
        floor = self.market[(pod.gpu.id, pod.cloud)].spot()
        if floor is None or bid_per_gpu < floor:
            raise ApiError(errors.SPOT_CAPACITY)
        if pod.running:
            # A re-bid: close the billing segment at the old price, keep the container running.
            pod.bid_per_gpu = bid_per_gpu
            pod.reprice(self.t, round(bid_per_gpu * pod.gpu_count, 6))
            return pod
        count = gpu_count if gpu_count > 0 else pod.gpu_count
        if self.capacity.hosts[pod.host.id].free < count:
            raise ApiError(errors.HOST_FULL)
        pod.gpu_count = count
        pod.bid_per_gpu = bid_per_gpu
        self._start(pod, round(bid_per_gpu * count, 6))
        return pod

    def restart_pod(self, pod_id: str) -> Pod:
        """Restart a running pod's container in place (REST v2 `restart`): same host and price;
        the work starts over unless it checkpoints."""
        pod = self._live(pod_id)
        if pod.running:
            cost = pod.cost_per_hr
            self._halt(pod, "Restarted by User", "restarted")
            self._start(pod, cost)
        return pod

    def terminate_pod(self, pod_id: str) -> None:
        pod = self.pods.get(pod_id)
        if pod is None:
            raise ApiError(errors.TERMINATE_NOT_FOUND)
        self._terminate(pod, "terminated")

    def create_volume(self, name: str, size: int, data_center_id: str) -> NetworkVolume:
        data_center_id = data_center_id.upper()  # RunPod accepts lower-case ids too
        if self.catalogue.data_center(data_center_id) is None:
            raise ApiError(errors.UNKNOWN_DATA_CENTER)
        return self.account.create_volume(name, size, data_center_id)

    # ----------------------------------------------------------------- admin operations
    def set_spot_enabled(self, enabled: bool) -> None:
        """Switch spot on or off; off interrupts every running spot pod (see emulator/__init__)."""
        self.spot_enabled = enabled
        if not enabled:
            for pod in list(self.pods.values()):
                if pod.running and pod.kind == "SPOT":
                    self._preempt(pod)

    def preempt(self, pod_id: str) -> Pod:
        pod = self.pods.get(pod_id)
        if pod is None or not pod.running:
            raise KeyError(f"no running pod {pod_id!r}")
        self._preempt(pod)
        return pod

    def set_market(
        self,
        gpu_type_id: str,
        cloud_type: str,
        *,
        spot_price: float | Keep | None = KEEP,
        on_demand_price: float | Keep | None = KEEP,
        stock: int | None = None,
    ) -> MarketEntry:
        entry = self.market.get((gpu_type_id, cloud_type))  # type: ignore[arg-type]
        if entry is None:
            raise KeyError(f"no market for {gpu_type_id!r} on {cloud_type!r}")
        if spot_price is not KEEP:
            entry.pinned_spot = spot_price
        if on_demand_price is not KEEP:
            entry.pinned_on_demand = on_demand_price
        if stock is not None:
            self.capacity.set_free(gpu_type_id, entry.cloud, stock)
        self._check_spot()
        return entry

    # ----------------------------------------------------------------- reading
    def billing_total(self, pod_id: str | None = None) -> float:
        if pod_id is not None:
            pod = self.pods.get(pod_id) or self.gone.get(pod_id)
            if pod is None:
                raise KeyError(f"no pod {pod_id!r}")
            return pod.billed_at(self.t)
        return sum(p.billed_at(self.t) for p in (*self.pods.values(), *self.gone.values()))

    def spend_per_hr(self) -> float:
        return sum(p.cost_per_hr for p in self.pods.values() if p.running)

    def balance(self) -> float:
        return self.initial_balance - self.billing_total()
