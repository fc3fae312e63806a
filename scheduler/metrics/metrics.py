"""`Metrics`: every `spotsched_*` series, on an injected `CollectorRegistry`.

Why: operators watch the daemon in Prometheus and Grafana (DESIGN.md, Operations). Events of a
tick (launches, preemptions, RunPod requests) are counted as they are reported; everything that
is a state (the market, the fleet, the jobs, the ledger's money, health) is read at scrape time
from frozen values the last tick left behind, by one custom collector.

What it must not do: change what a tick does (a failure here is logged, never raised), use a
module-global registry, label a series with a job id or pod id, or query the database or
RunPod at scrape time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from scheduler.domain.actions import Launch, ResumeSpot
from scheduler.domain.states import AttemptKind, EndReason
from scheduler.metrics.families import PREFIX, ScrapeState, families
from scheduler.metrics.health import Watched, health_problem
from scheduler.metrics.ledger import LedgerReader, read_totals
from scheduler.metrics.view import (
    KINDS,
    LaunchWaits,
    MarketCache,
    fleet_view,
    jobs_view,
)
from scheduler.reconcile import TickReport
from scheduler.runpod.models import RequestRecord
from scheduler.runpod.port import Capabilities, Capability

log = structlog.get_logger("spotsched.metrics")

LAUNCH_OUTCOMES = (
    "ok",
    "capacity",
    "rejected",
    "unknown",
    "spot_unsupported",
    "auth",
    "insufficient_balance",
)
# The request that polls the market on each API (GraphQL document, REST v2 operation id).
MARKET_OPERATIONS = frozenset({"market", "listGpuTypes"})
RESUME_OUTCOMES = ("ok", "failed", "spot_unsupported", "unknown")
# Seconds: a tick is milliseconds to a few seconds (RunPod latency, retries); a queue wait is
# seconds to days.
TICK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
REQUEST_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
WAIT_BUCKETS = (10.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 86400.0)


class BudgetLimits(Protocol):
    """`[budget]` of the configuration (`BudgetSection`)."""

    @property
    def max_spend_rate(self) -> float | None: ...

    @property
    def daily(self) -> float | None: ...

    @property
    def monthly(self) -> float | None: ...


class _Settings(Protocol):
    @property
    def budget(self) -> BudgetLimits: ...


class ServiceLike(Watched, Protocol):
    """What `Metrics` reads from the daemon's `Service`: health, the ledger, the budgets."""

    @property
    def store(self) -> LedgerReader: ...

    @property
    def settings(self) -> _Settings: ...


class Metrics:
    """The daemon's metrics. `Service(metrics=...)` feeds it: `on_request` per RunPod HTTP
    request, `on_tick` per tick, and `watch(service)` once, for health, ledger and budgets."""

    def __init__(
        self, registry: CollectorRegistry, *, version: str, market_max_age: float = 3600.0
    ) -> None:
        self.registry = registry
        self._market = MarketCache(market_max_age)
        self._waits = LaunchWaits()
        self._state = ScrapeState()
        self._service: ServiceLike | None = None
        self._lock = threading.Lock()
        self._market_outcomes: list[str] = []

        def counter(name: str, doc: str, labels: Iterable[str] = ()) -> Counter:
            return Counter(PREFIX + name, doc, list(labels), registry=registry)

        Info(PREFIX + "build", "The spotsched version that runs.", registry=registry).info(
            {"version": version}
        )
        self.ticks = counter(
            "ticks", "Reconcile ticks by outcome (failed: RunPod pods unknown).", ["outcome"]
        )
        self.tick_seconds = Histogram(
            PREFIX + "reconcile_duration_seconds",
            "Wall time of one reconcile tick (observe, decide, apply, record).",
            buckets=TICK_BUCKETS,
            registry=registry,
        )
        self.requests = counter(
            "runpod_requests",
            "RunPod API HTTP requests by GraphQL operation and outcome (ok or the error kind).",
            ["operation", "outcome"],
        )
        self.request_seconds = Histogram(
            PREFIX + "runpod_request_duration_seconds",
            "Latency of RunPod API HTTP requests by GraphQL operation.",
            ["operation"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.api_serving = Gauge(
            PREFIX + "runpod_api_serving",
            "1 for the RunPod API (graphql, rest, or absent) serving each capability now.",
            ["capability", "api"],
            registry=registry,
        )
        self.poll_errors = counter(
            "market_poll_errors",
            "Ticks whose market poll failed, by the error kind of its last request.",
            ["reason"],
        )
        self.launches = counter(
            "launches", "Pod creations attempted, by kind and outcome.", ["kind", "outcome"]
        )
        self.fallbacks = counter(
            "fallbacks",
            "On-demand launches decided instead of spot, by the policy's reason.",
            ["reason"],
        )
        self.bids = counter(
            "bids", "Spot bids placed (spot creations and bid-resumes), by GPU type.", ["gpu_type"]
        )
        self.overbids = counter(
            "overbids", "Spot pods whose observed costPerHr was above the bid placed."
        )
        self.preemptions = counter("preemptions", "Spot pods preempted, by GPU type.", ["gpu_type"])
        self.resumes = counter(
            "resumes", "Bid-resumes of preempted spot pods, by outcome.", ["outcome"]
        )
        self.ended = counter(
            "attempts_ended", "Attempts (pods) ended, by kind and end reason.", ["kind", "reason"]
        )
        self.idle_stops = counter(
            "idle_stops", "The daemon's pods stopped or terminated for idleness, by kind.", ["kind"]
        )
        self.strays = counter(
            "stray_pods_ended",
            "Pods the daemon ended that no job owns: orphans and idle foreign pods, by reason.",
            ["reason"],
        )
        self.invalid = counter("jobs_invalid", "Job rows that failed validation.")
        self.deadlines_missed = counter(
            "deadlines_missed", "Jobs whose deadline passed (or can no longer be met) unfinished."
        )
        self.held = counter(
            "job_rows_held",
            "Ticks in which a job with a live pod was held because its row cannot be read "
            "(one per job per tick): fix the row.",
        )
        self.queue_wait = Histogram(
            PREFIX + "queue_wait_seconds",
            "Time a job waited in the queue before its pod was created, by attempt kind.",
            ["kind"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        for outcome in ("ok", "failed"):
            self.ticks.labels(outcome)
        for kind in KINDS:
            self.idle_stops.labels(kind)
            self.ended.labels(kind, EndReason.IDLE.value)
            self.ended.labels(kind, EndReason.PREEMPTED.value)
            for outcome in LAUNCH_OUTCOMES:
                self.launches.labels(kind, outcome)
        for outcome in RESUME_OUTCOMES:
            self.resumes.labels(outcome)
        registry.register(_Scrape(self))

    # -- feeding -------------------------------------------------------------------------------
    def watch(self, service: ServiceLike) -> None:
        """Read health, the ledger and the budgets from this service from now on."""
        self._service = service

    def health(self) -> str | None:
        """None while the watched service is healthy, else a short reason (for `/healthz`)."""
        if self._service is None:
            return "no service"
        return health_problem(self._service)

    def on_request(self, record: RequestRecord) -> None:
        """The RunPod client's hook: called after each HTTP request, retries included."""
        self.requests.labels(record.operation, record.outcome).inc()
        self.request_seconds.labels(record.operation).observe(record.seconds)
        if record.operation in MARKET_OPERATIONS:
            with self._lock:
                self._market_outcomes.append(record.outcome)

    def on_capabilities(self, capabilities: Capabilities) -> None:
        """Which API serves what (`[runpod] api`; changes when GraphQL retires)."""
        self.api_serving.clear()
        for capability in Capability:
            api = capabilities.api_for(capability)
            self.api_serving.labels(capability.value, api.value if api else "absent").set(1)

    def on_tick(self, report: TickReport) -> None:
        """Count the tick's events and freeze its state for scrapes. Never raises."""
        try:
            self._on_tick(report)
        except Exception:
            log.exception("metrics_update_failed")

    def _on_tick(self, report: TickReport) -> None:
        with self._lock:
            market_outcomes, self._market_outcomes = self._market_outcomes, []
        self.ticks.labels("ok" if report.ok else "failed").inc()
        self.tick_seconds.observe(report.seconds)
        self._count_events(report)
        state = self._state
        polled = state.market_polled
        if "ok" in market_outcomes:
            polled = report.now
        elif market_outcomes:
            self.poll_errors.labels(market_outcomes[-1]).inc()
        if report.market_view is not None:
            self._market.update(report.market_view, report.now)
        fleet, jobs = state.fleet, state.jobs
        if report.ok:
            fleet = fleet_view(report.pods, report.jobs, report.own_pods)
            jobs = jobs_view(report.jobs, report.actions, report.applied.holds, report.now)
            for kind, waited in self._waits.new(report.jobs):
                self.queue_wait.labels(kind).observe(waited)
        money, budget, cap = state.money, state.budget, state.spend_rate_cap
        if self._service is not None:
            fresh = read_totals(self._service.store, report.now)
            money = fresh if money is None else fresh.at_least(money)
            limits = self._service.settings.budget
            budget = {
                p: v for p, v in (("day", limits.daily), ("month", limits.monthly)) if v is not None
            }
            cap = limits.max_spend_rate
        self._state = ScrapeState(
            last_ok=report.now if report.ok else state.last_ok,
            auth_failing=report.auth_failed,
            spot_available=(
                report.spot_capable if report.spot_capable is not None else state.spot_available
            ),
            market_polled=polled,
            market=self._market.entries(report.now),
            fleet=fleet,
            jobs=jobs,
            money=money,
            budget=budget,
            spend_rate_cap=cap,
        )

    def _count_events(self, report: TickReport) -> None:
        applied = report.applied
        if report.invalid:
            self.invalid.inc(len(report.invalid))
        if report.held:
            self.held.inc(len(report.held))
        for kind, gpu, outcome in applied.launches:
            self.launches.labels(kind, outcome).inc()
            if kind == AttemptKind.SPOT.value and outcome != "auth":
                self.bids.labels(gpu).inc()
        jobs = {j.id: j for j in report.jobs}
        resumed = [a for a in report.actions if isinstance(a, ResumeSpot)]
        for resume, outcome in zip(resumed, applied.resumes, strict=False):
            self.resumes.labels(outcome).inc()
            live = jobs[resume.job_id].live if resume.job_id in jobs else None
            if live is not None:
                self.bids.labels(live.gpu_type_id).inc()
        for action in report.actions:
            if isinstance(action, Launch) and action.kind is AttemptKind.ON_DEMAND:
                self.fallbacks.labels(action.reason).inc()
        if applied.overbids:
            self.overbids.inc(applied.overbids)
        if applied.deadlines_missed:
            self.deadlines_missed.inc(applied.deadlines_missed)
        for gpu in applied.preemptions:
            self.preemptions.labels(gpu).inc()
        for kind, reason in applied.ended:
            self.ended.labels(kind, reason).inc()
            if reason == EndReason.IDLE.value:
                self.idle_stops.labels(kind).inc()
        for reason in applied.orphans:
            self.strays.labels(reason).inc()

    # -- scraping ------------------------------------------------------------------------------
    def families(self) -> Iterator[Metric]:
        """The scrape-time series, from the last tick's frozen state."""
        healthy = None if self._service is None else self.health() is None
        return families(self._state, healthy)


class _Scrape(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return list(self._metrics.families())

    def describe(self) -> Iterable[Metric]:
        """The families without samples, so the registry can refuse duplicate names."""
        return [_empty(m) for m in self._metrics.families()]


def _empty(m: Metric) -> Metric:
    return Metric(m.name, m.documentation, m.type, m.unit)
