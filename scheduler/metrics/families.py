"""The scrape-time series: rendered from the frozen `ScrapeState` the last tick left behind.

Why a custom collector: these values are states (the market, the fleet, the jobs, the ledger's
money, health), so they are rendered whole at each scrape from one consistent tick, and a
series whose label set disappeared (a GPU type no longer listed, a hold reason gone) simply
stops being exported instead of lingering at its last value.

What it must not do: read the database, RunPod or a clock (health arrives as a value).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from scheduler.metrics.ledger import Totals
from scheduler.metrics.view import FleetView, JobsView, MarketEntry

PREFIX = "spotsched_"


@dataclass(frozen=True, slots=True)
class ScrapeState:
    """Everything the scrape-time collector renders; replaced whole once per tick."""

    last_ok: datetime | None = None
    auth_failing: bool = False
    spot_available: bool | None = None
    market_polled: datetime | None = None
    market: tuple[MarketEntry, ...] = ()
    fleet: FleetView | None = None
    jobs: JobsView | None = None
    money: Totals | None = None
    budget: dict[str, float] = field(default_factory=dict)  # period -> dollars
    spend_rate_cap: float | None = None


def families(s: ScrapeState, healthy: bool | None) -> Iterator[Metric]:
    """Every scrape-time series; `healthy` is None when no service is watched."""
    yield _gauge(
        "up",
        "1 while the last successful tick is within scheduler.stale_after, else 0.",
        [((), float(healthy))] if healthy is not None else [],
    )
    yield _gauge(
        "last_successful_tick_timestamp_seconds",
        "Unix time of the last tick that observed RunPod's pods.",
        [((), s.last_ok.timestamp())] if s.last_ok is not None else [],
    )
    yield _gauge(
        "runpod_auth_failing",
        "1 when RunPod refused the API key in the last tick.",
        [((), float(s.auth_failing))],
    )
    yield from _market(s)
    yield from _fleet(s.fleet)
    yield from _jobs(s.jobs)
    yield from _money(s)


def _market(s: ScrapeState) -> Iterator[Metric]:
    labels = ("gpu_type", "cloud_type")
    yield _gauge(
        "spot_min_bid_dollars_per_gpu_hour",
        "RunPod's minimum spot bid per GPU-hour (no series: no spot offer).",
        [((e.gpu_type, e.cloud_type), e.spot_min_bid) for e in s.market if e.spot_min_bid],
        labels,
    )
    yield _gauge(
        "on_demand_price_dollars_per_gpu_hour",
        "RunPod's on-demand price per GPU-hour.",
        [((e.gpu_type, e.cloud_type), e.on_demand) for e in s.market if e.on_demand],
        labels,
    )
    yield _gauge(
        "stock_level",
        "Listed stock: 0 none, 1 low, 2 medium, 3 high (advisory: creates can still fail).",
        [((e.gpu_type, e.cloud_type), e.stock) for e in s.market],
        labels,
    )
    yield _gauge(
        "spot_available",
        "1 while spot is a working capability (listed and not rejected as unsupported).",
        [((), float(s.spot_available))] if s.spot_available is not None else [],
    )
    yield _gauge(
        "market_last_poll_timestamp_seconds",
        "Unix time of the last successful market poll.",
        [((), s.market_polled.timestamp())] if s.market_polled is not None else [],
    )


def _fleet(fleet: FleetView | None) -> Iterator[Metric]:
    fleet = fleet or FleetView()
    yield _gauge(
        "pods",
        "The daemon's pods as RunPod lists them, by kind and desired status.",
        [(k, float(n)) for k, n in sorted(fleet.pods.items())],
        ("kind", "state"),
    )
    yield _gauge(
        "burn_rate_dollars_per_hour",
        "Sum of costPerHr of the daemon's running pods, by kind.",
        [((k,), v) for k, v in sorted(fleet.burn_rate.items())],
        ("kind",),
    )
    yield _gauge(
        "bid_dollars_per_gpu_hour",
        "Highest bid per GPU-hour of the daemon's live spot attempts, by GPU type.",
        [((g,), v) for g, v in sorted(fleet.bids.items())],
        ("gpu_type",),
    )


def _jobs(jobs: JobsView | None) -> Iterator[Metric]:
    jobs = jobs or JobsView()
    yield _gauge(
        "jobs",
        "Open jobs by state, at the start of the last tick.",
        [((k,), float(v)) for k, v in sorted(jobs.by_state.items())],
        ("state",),
    )
    yield _gauge(
        "jobs_held",
        "Queued jobs the last tick held back, by reason.",
        [((k,), float(v)) for k, v in sorted(jobs.held.items())],
        ("reason",),
    )
    yield _gauge(
        "queue_oldest_wait_seconds",
        "How long the longest-waiting queued job has waited.",
        [((), jobs.oldest_queued_seconds)] if jobs.oldest_queued_seconds is not None else [],
    )
    yield _gauge(
        "deadline_slack_seconds",
        "Least slack of open jobs with a deadline: time left less estimated work left.",
        [((), jobs.min_deadline_slack_seconds)]
        if jobs.min_deadline_slack_seconds is not None
        else [],
    )
    yield _gauge(
        "jobs_queued_past_deadline",
        "Queued jobs whose deadline has passed and that the last tick did not move.",
        [((), float(jobs.queued_past_deadline))],
    )
    yield _gauge(
        "job_price_limit_dollars_per_gpu_hour",
        "Highest max_spot_price / max_on_demand_price of open jobs accepting a GPU type.",
        [(k, v) for k, v in sorted(jobs.price_limits.items())],
        ("gpu_type", "kind"),
    )


def _money(s: ScrapeState) -> Iterator[Metric]:
    money = s.money
    rows = sorted(money.by_kind.items()) if money is not None else []
    for name, doc, attr in (
        ("spend_dollars", "Dollars spent on the daemon's pods (the ledger).", "spend"),
        (
            "on_demand_cost_dollars",
            "What the same GPU time would have cost on-demand (the ledger's counterfactual).",
            "on_demand_cost",
        ),
        (
            "waste_dollars",
            "Dollars spent on idle pods and on work lost to preemption.",
            "waste",
        ),
        ("gpu_seconds", "GPU-seconds billed (GPU count times billed seconds).", "gpu_seconds"),
    ):
        family = CounterMetricFamily(PREFIX + name, doc, labels=["kind"])
        for kind, totals in rows:
            family.add_metric([kind], getattr(totals, attr))
        yield family
    yield _gauge(
        "savings_dollars",
        "On-demand counterfactual less spend, all time (a gauge: spot can cost more).",
        [((k,), t.on_demand_cost - t.spend) for k, t in rows],
        ("kind",),
    )
    spent = {"day": money.spend_today, "month": money.spend_month} if money else {}
    yield _gauge(
        "period_spend_dollars",
        "Spend in the current UTC day and month (what the budgets count).",
        [((p,), v) for p, v in spent.items()],
        ("period",),
    )
    yield _gauge(
        "budget_dollars",
        "Configured daily / monthly budget.",
        [((p,), v) for p, v in s.budget.items()],
        ("period",),
    )
    yield _gauge(
        "budget_remaining_dollars",
        "Budget less spend in the period (negative when overspent by running pods).",
        [((p,), v - spent.get(p, 0.0)) for p, v in s.budget.items() if money is not None],
        ("period",),
    )
    yield _gauge(
        "spend_rate_cap_dollars_per_hour",
        "Configured budget.max_spend_rate.",
        [((), s.spend_rate_cap)] if s.spend_rate_cap is not None else [],
    )


def _gauge(
    name: str,
    doc: str,
    samples: Iterable[tuple[tuple[str, ...], float | None]],
    labels: Iterable[str] = (),
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(PREFIX + name, doc, labels=list(labels))
    for values, value in samples:
        if value is not None:
            family.add_metric(list(values), value)
    return family
