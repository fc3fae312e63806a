"""Money and the market on a virtual clock: the spend ledger, per-day totals for budgets, price
samples, daemon facts and the spot history policy reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduler.domain.actions import Launch
from scheduler.domain.clock import VirtualClock
from scheduler.domain.job import JobSpec
from scheduler.domain.states import AttemptKind, EndReason, JobState
from scheduler.domain.views import AttemptView, Quote, SpotHistory
from scheduler.store import Observation, Store

L, R = JobState.LAUNCHING, JobState.RUNNING
HOUR = 3600.0


def obs(
    attempt: AttemptView,
    *,
    billing: bool = True,
    up: bool = True,
    idle: bool = False,
    rate: float | None = None,
    on_demand: float | None = 0.8,
    speed: float = 1.0,
) -> Observation:
    return Observation(attempt.id, billing, up, idle, rate, on_demand, speed)


def launched(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Launch],
    name: str = "train",
    **spec: Any,
) -> AttemptView:
    """A job whose spot pod (2 GPUs bid at $0.30, so $0.60/h) was created now and bills."""
    job = store.submit(new_spec(name, **spec), clock.now())
    attempt = store.begin_attempt(new_launch(job, gpu_count=2, bid=0.3), clock.now())
    store.set_pod(attempt.id, f"pod-{name}", 0.6, None, clock.now())
    return attempt


def spend(store: Store, clock: VirtualClock) -> tuple[float, float]:
    """(spend today, spend this month) as the tick's snapshot sees them."""
    money = store.load(clock.now())[1]
    return money.spend_today, money.spend_month


def job_row(sql: Any, job_id: int) -> tuple[float, float]:
    [(spend, work)] = sql("SELECT spend, work_seconds FROM jobs WHERE id = :i", i=job_id)
    return float(spend), float(work)


def attempt_row(sql: Any, attempt_id: int) -> dict[str, float]:
    [row] = sql(
        "SELECT cost, counterfactual, waste, running_seconds FROM attempts WHERE id = :i",
        i=attempt_id,
    )
    return {k: float(v) for k, v in row._mapping.items()}


def test_cost_is_rate_times_billing_time_with_half_intervals_at_the_edges(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Launch],
    sql: Any,
) -> None:
    a = launched(store, clock, new_spec, new_launch)
    # 10 min: billed throughout (create call to now), runtime came up somewhere in between
    store.accrue([obs(a, rate=0.6)], clock.advance(600))
    store.mark_running(a.id, L, clock.now())
    assert attempt_row(sql, a.id) == pytest.approx(
        {"cost": 0.1, "counterfactual": 0.8 * 2 / 6, "waste": 0.0, "running_seconds": 300.0}
    )
    assert job_row(sql, a.job_id) == pytest.approx((0.1, 300.0))

    # an hour idle: all of it billed, all of it waste, no work done
    store.accrue([obs(a, idle=True)], clock.advance(HOUR))
    # 20 min in which the pod stopped: half billed, half run
    store.accrue([obs(a, billing=False, up=False)], clock.advance(1200))
    # stopped pods cost nothing
    store.accrue([obs(a, billing=False, up=False)], clock.advance(HOUR))

    assert attempt_row(sql, a.id) == pytest.approx(
        {
            "cost": 0.1 + 0.6 + 0.1,
            "counterfactual": 1.6 * (600 + 3600 + 600) / HOUR,
            "waste": 0.6,
            "running_seconds": 300 + 3600 + 600,
        }
    )
    assert job_row(sql, a.job_id) == pytest.approx((0.8, 300 + 600))
    [(day, cost, counterfactual, waste, gpu_seconds)] = sql(
        "SELECT day, cost, counterfactual, waste, gpu_seconds FROM ledger_days"
    )
    assert day == "2026-01-05"
    assert (cost, counterfactual, waste) == pytest.approx((0.8, 1.6 * 4800 / HOUR, 0.6))
    assert gpu_seconds == pytest.approx(2 * (600 + 3600 + 600))

    [view], money, _ = store.load(clock.now())
    assert (view.spend, view.work_seconds) == pytest.approx((0.8, 900.0))
    assert view.live is not None and view.live.cost == pytest.approx(0.8)
    assert (money.spend_today, money.spend_month) == pytest.approx((0.8, 0.8))


def test_observed_rate_wins_and_work_scales_with_speed(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Launch],
    sql: Any,
) -> None:
    a = launched(store, clock, new_spec, new_launch)
    store.accrue([obs(a, rate=0.9, speed=1.5)], clock.advance(HOUR))  # RunPod charges $0.90/h
    store.accrue([obs(a, rate=None, on_demand=None, speed=1.5)], clock.advance(HOUR))
    costs = attempt_row(sql, a.id)
    assert costs["cost"] == pytest.approx(0.9 + 0.9), "no rate observed: the last one stands"
    assert costs["counterfactual"] == pytest.approx(2 * 0.8 * 2), "launch's on-demand price"
    assert job_row(sql, a.job_id)[1] == pytest.approx(1.5 * (HOUR / 2 + HOUR))


def test_accrue_ignores_unknown_attempts_and_zero_intervals(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Launch],
    sql: Any,
) -> None:
    a = launched(store, clock, new_spec, new_launch)
    ghost = Observation(a.id + 999, True, True, False, 5.0, 5.0)
    store.accrue([ghost, obs(a, rate=0.6)], clock.now())
    assert attempt_row(sql, a.id)["cost"] == 0.0
    assert sql("SELECT count(*) FROM ledger_days") == [(0,)]


def test_days_and_months_feed_the_budgets(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Launch],
) -> None:
    a = launched(store, clock, new_spec, new_launch, "early")
    store.accrue([obs(a, rate=0.6)], clock.advance(HOUR))  # $0.60 on Jan 5
    store.end_attempt(a.id, EndReason.COMPLETED, L, JobState.SUCCEEDED, clock.now())

    clock.set(datetime(2026, 1, 20, 12, tzinfo=UTC))
    b = launched(store, clock, new_spec, new_launch, "late")
    store.accrue([obs(b, rate=1.2)], clock.advance(HOUR))  # $1.20 on Jan 20
    assert spend(store, clock) == pytest.approx((1.2, 1.8))

    # an interval is booked on the day it was observed
    last = clock.now()
    clock.set(datetime(2026, 1, 31, 23, 30, tzinfo=UTC))
    store.accrue([obs(b, rate=1.2)], clock.now())
    jan31 = 1.2 * (clock.now() - last).total_seconds() / HOUR
    assert spend(store, clock) == pytest.approx((jan31, 1.8 + jan31))

    store.accrue([obs(b, rate=1.2)], clock.advance(HOUR))  # Feb 1, 00:30
    assert spend(store, clock) == pytest.approx((1.2, 1.2)), "a new month starts from zero"


def test_preemption_wastes_unsaved_work(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Launch],
    sql: Any,
) -> None:
    plain = launched(store, clock, new_spec, new_launch, "plain")
    saved = launched(store, clock, new_spec, new_launch, "saved", checkpoint=True)
    for a in (plain, saved):
        store.mark_running(a.id, L, clock.now())
    store.accrue([obs(plain, rate=0.6), obs(saved, rate=0.6)], clock.advance(HOUR))
    for a in (plain, saved):
        store.mark_preempted(a.id, R, clock.now())

    assert attempt_row(sql, plain.id)["waste"] == pytest.approx(0.6), "the hour is lost"
    waste = sql("SELECT attempt_id, waste FROM ledger_days ORDER BY attempt_id")
    assert [tuple(r) for r in waste] == [(plain.id, pytest.approx(0.6)), (saved.id, 0.0)]
    assert job_row(sql, plain.job_id) == pytest.approx((0.6, 0.0))
    assert attempt_row(sql, saved.id)["waste"] == 0.0, "a checkpoint keeps the hour's work"
    assert job_row(sql, saved.job_id) == pytest.approx((0.6, HOUR / 2))
    views = {v.spec.name: v for v in store.load(clock.now())[0]}
    assert views["plain"].preemptions == 1 and views["plain"].state is JobState.PREEMPTED


def test_spot_history_is_the_mean_run_before_a_preemption(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Launch],
) -> None:
    assert store.load(clock.now())[2] == SpotHistory()
    short = launched(store, clock, new_spec, new_launch, "short")
    long = launched(store, clock, new_spec, new_launch, "long")
    on_demand = store.begin_attempt(
        new_launch(store.submit(new_spec("steady"), clock.now()), kind=AttemptKind.ON_DEMAND),
        clock.now(),
    )
    for a in (short, long, on_demand):
        store.mark_running(a.id, L, clock.now())
    store.mark_preempted(short.id, R, clock.advance(600))
    store.mark_preempted(long.id, R, clock.advance(1200))

    history = store.load(clock.now())[2]
    assert history == SpotHistory(mean_lifetime_seconds=(600 + 1800) / 2, observations=2)


def test_price_samples_are_recorded_and_pruned(store: Store, clock: VirtualClock, sql: Any) -> None:
    quotes = [
        Quote("NVIDIA A40", 1, True, 0.2, 0.4, "High"),
        Quote("NVIDIA A40", 2, False, None, 0.35, None),
    ]
    start = clock.now()
    for _ in range(3):
        assert store.record_prices(quotes, clock.now()) == 2
        clock.advance(HOUR)
    assert store.prune_prices(start + timedelta(minutes=90)) == 4
    assert store.prune_prices(start) == 0
    rows = sql(
        "SELECT gpu_type_id, gpu_count, secure_cloud, spot_min_bid, on_demand, stock"
        " FROM price_samples ORDER BY id"
    )
    assert [tuple(r) for r in rows] == [
        ("NVIDIA A40", 1, True, 0.2, 0.4, "High"),
        ("NVIDIA A40", 2, False, None, 0.35, None),
    ]


def test_daemon_facts_keep_the_latest_value(store: Store, clock: VirtualClock) -> None:
    assert set(store.facts()) <= {"installation_id"}  # the migrations may have created it
    store.set_facts({"spot_capable": "true"}, clock.now())
    later = clock.advance(60)
    store.set_facts({"spot_capable": "false", "last_tick": later.isoformat()}, later)
    facts = store.facts()
    facts.pop("installation_id", None)
    assert facts == {"spot_capable": ("false", later), "last_tick": (later.isoformat(), later)}
    updated = facts["spot_capable"][1]
    assert updated is not None and updated.tzinfo is not None


def test_a_stop_in_the_same_whole_second_as_the_last_look_is_billed_up_to_that_look(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Launch],
    sql: Any,
) -> None:
    """RunPod's `lastStatusChange` has whole seconds: a pod that stopped 0.4 s after the last
    look reads as stopped 0.6 s *before* it. That moment is clamped to the look (nothing billed
    after it), not dropped for the half-interval rule, which would bill half the interval."""
    a = launched(store, clock, new_spec, new_launch)
    store.accrue([obs(a, rate=0.6)], clock.advance(600.6))  # last look at :00.6
    looked = clock.now()
    stopped_prose = looked.replace(microsecond=0)  # what RunPod's prose says (truncated)
    clock.advance(30)
    gone = Observation(a.id, False, False, False, 0.6, 0.8, 1.0, stopped_prose, 1.0)
    store.accrue([gone], clock.now())
    # billed exactly to the last look: 600.6 s at $0.60/h, none of the 30 s after it
    assert attempt_row(sql, a.id)["cost"] == pytest.approx(0.6 * 600.6 / HOUR)
