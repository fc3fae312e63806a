"""The pure parts: what a tick report means as gauge values, and the counters' guards.

Reports here are built by hand from the same frozen views a tick produces, for the cases a
real tick rarely shows (a job stuck queued past its deadline, an overbid, a quote aging out).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from scheduler.domain.actions import MoveJob
from scheduler.domain.job import parse_job
from scheduler.domain.states import AttemptKind, AttemptState, JobState
from scheduler.domain.views import AttemptView, JobView, MarketView, PodView, Quote
from scheduler.metrics import Metrics
from scheduler.metrics.ledger import KindTotals, Totals
from scheduler.metrics.view import (
    LaunchWaits,
    MarketCache,
    fleet_view,
    jobs_view,
    stock_level,
)
from scheduler.reconcile import TickReport
from scheduler.reconcile.apply import ApplyResult

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
A40 = "NVIDIA A40"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def job(
    job_id: int,
    state: JobState = JobState.QUEUED,
    *,
    queued: float = 0.0,
    live: AttemptView | None = None,
    work: float = 0.0,
    **spec: Any,
) -> JobView:
    raw: dict[str, Any] = {
        "name": f"j{job_id}",
        "image": "img",
        "gpu_types": [A40],
        "max_spot_price": 0.5,
    }
    raw.update(spec)
    return JobView(
        id=job_id,
        spec=parse_job(raw),
        state=state,
        cancel_requested=False,
        submitted_at=at(queued),
        queued_since=at(queued),
        work_seconds=work,
        live=live,
    )


def attempt(
    attempt_id: int,
    job_id: int,
    created: float,
    kind: AttemptKind = AttemptKind.SPOT,
    bid: float | None = 0.3,
) -> AttemptView:
    return AttemptView(
        id=attempt_id,
        job_id=job_id,
        number=1,
        kind=kind,
        state=AttemptState.RUNNING,
        gpu_type_id=A40,
        gpu_count=1,
        secure_cloud=True,
        bid_per_gpu=bid,
        on_demand_price_per_gpu=0.4,
        pod_name=f"spotsched-ourinstall1-{job_id}-1",
        pod_id=f"p{attempt_id}",
        cost_per_hr=bid,
        data_center_id=None,
        created_at=at(created),
    )


def pod(name: str, *, spot: bool = True, status: str = "RUNNING", cost: float = 0.3) -> PodView:
    return PodView(
        pod_id=name,
        name=name,
        desired_status=status,
        is_spot=spot,
        cost_per_hr=cost,
        gpu_count=1,
        gpu_type_id=A40,
        data_center_id=None,
        runtime_up=status == "RUNNING",
        gpu_util=90.0,
        uptime_seconds=10.0,
    )


def test_stock_words_become_levels() -> None:
    assert [stock_level(s) for s in ("High", "Medium", "Low", None, "weird")] == [3, 2, 1, 0, 0]


def test_deadline_slack_is_the_least_spare_time_after_estimated_work() -> None:
    jobs = [
        job(1, deadline=at(3600), estimated_runtime=1800),  # 1800 s to spare
        job(2, JobState.RUNNING, deadline=at(1000), estimated_runtime=900, work=300),  # 400 s
        job(3),  # no deadline: not counted
    ]
    view = jobs_view(jobs, [], {}, T0)
    assert view.min_deadline_slack_seconds == 400
    assert jobs_view([job(3)], [], {}, T0).min_deadline_slack_seconds is None


def test_queued_past_deadline_counts_only_jobs_the_tick_left_queued() -> None:
    stuck, expiring = job(1, deadline=at(-60)), job(2, deadline=at(-60))
    moved = MoveJob(2, JobState.QUEUED, JobState.EXPIRED, "deadline passed before a launch")
    view = jobs_view([stuck, expiring, job(3, deadline=at(60))], [moved], {}, T0)
    assert view.queued_past_deadline == 1
    assert view.min_deadline_slack_seconds == -60


def test_jobs_by_state_holds_oldest_wait_and_price_limits() -> None:
    jobs = [
        job(1, queued=-600),
        job(2, queued=-60, max_on_demand_price=0.9, gpu_types=[A40, "NVIDIA L4"]),
        job(3, JobState.RUNNING, live=attempt(7, 3, -30)),
    ]
    view = jobs_view(jobs, [], {1: "spend rate cap", 2: "spend rate cap"}, T0)
    assert view.by_state == {"queued": 2, "launching": 0, "running": 1, "preempted": 0}
    assert view.held == {"spend rate cap": 2}
    assert view.oldest_queued_seconds == 600
    assert view.price_limits == {
        (A40, "spot"): 0.5,
        ("NVIDIA L4", "spot"): 0.5,
        (A40, "on_demand"): 0.9,
        ("NVIDIA L4", "on_demand"): 0.9,
    }


def test_fleet_counts_only_the_daemons_pods() -> None:
    pods = [
        pod("spotsched-ourinstall1-1-1", cost=0.3),
        pod("spotsched-ourinstall1-2-1", spot=False, cost=0.4),
        pod("spotsched-ourinstall1-3-1", status="EXITED", cost=0.3),
        pod("someone-elses", cost=5.0),
        pod("spotsched-neighbour22-1-1", cost=0.7),  # another installation's
        pod("spotsched-4-1", cost=0.9),  # old format, not ours
    ]
    own = {p.pod_id for p in pods if "ourinstall1" in p.name}  # `TickReport.own_pods`
    view = fleet_view(pods, [job(1, JobState.RUNNING, live=attempt(1, 1, 0, bid=0.31))], own)
    assert view.pods == {("spot", "running"): 1, ("on_demand", "running"): 1, ("spot", "exited"): 1}
    assert view.burn_rate == {"spot": pytest.approx(0.3), "on_demand": pytest.approx(0.4)}
    assert view.bids == {A40: 0.31}


def test_market_entries_age_out_when_no_poll_lists_them() -> None:
    cache = MarketCache(max_age=600)
    quote = Quote(A40, 1, True, spot_min_bid=0.2, on_demand=0.4, stock="Low")
    two = Quote(A40, 2, True, spot_min_bid=0.1, on_demand=0.3, stock="High")
    cache.update(MarketView(quotes=(quote, two), spot_capable=True), T0)
    [entry] = cache.entries(at(600))  # the two-GPU quote does not stand for the type
    assert (entry.spot_min_bid, entry.on_demand, entry.stock) == (0.2, 0.4, 1.0)
    assert cache.entries(at(601)) == ()


def test_queue_waits_are_observed_once_per_new_attempt_and_not_after_a_restart() -> None:
    waits = LaunchWaits()
    adopted = job(1, JobState.RUNNING, queued=-900, live=attempt(1, 1, -800))
    assert waits.new([adopted]) == []  # the first snapshot seeds
    fresh = job(2, JobState.LAUNCHING, queued=-120, live=attempt(2, 2, -20))
    assert waits.new([adopted, fresh]) == [("spot", 100.0)]
    assert waits.new([adopted, fresh]) == []


def test_money_totals_never_go_down() -> None:
    before = Totals(by_kind={"spot": KindTotals(spend=2.0, on_demand_cost=4.0)})
    after = Totals(by_kind={"spot": KindTotals(spend=1.9999999, on_demand_cost=5.0)})
    merged = after.at_least(before)
    assert merged.by_kind["spot"] == KindTotals(spend=2.0, on_demand_cost=5.0)


def test_events_of_a_report_are_counted_without_a_service() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, version="x")
    applied = ApplyResult(
        overbids=2,
        orphans=["orphan", "foreign_idle"],
        ended=[("spot", "completed")],
        launches=[("spot", A40, "capacity")],
    )
    metrics.on_tick(TickReport(now=T0, applied=applied, invalid=[(5, "bad image")]))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("spotsched_overbids_total") == 2
    assert value("spotsched_stray_pods_ended_total", reason="foreign_idle") == 1
    assert value("spotsched_attempts_ended_total", kind="spot", reason="completed") == 1
    assert value("spotsched_launches_total", kind="spot", outcome="capacity") == 1
    assert value("spotsched_jobs_invalid_total") == 1
    assert value("spotsched_up") is None  # nothing watched: no health to report
    assert metrics.health() == "no service"
