"""The deadline rules the benchmark compares, on hand-built snapshots through `decide`.

`uniform_progress` is the paper's (Taking Risks, hysteresis ep(t + 2d), idle once ahead);
`default` is paced Uniform Progress (a buffer of 0.1 of the spare rate, spot whenever offered,
on-demand left only for spot, 2 minutes of extra safety reserve). Job: 4 h of work due 10 h after
submission at T0 (C/R = 0.4), d = 0.2 h, spot $0.2 (limit $0.5), on-demand $0.6 (limit $1).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scheduler.domain.actions import EndAttempt, Hold, Launch
from scheduler.domain.job import parse_job
from scheduler.domain.states import AttemptKind, AttemptState, JobState
from scheduler.domain.views import (
    AttemptView,
    JobView,
    MarketView,
    PodView,
    Quote,
    Snapshot,
    pod_name,
)
from scheduler.policy import PolicyConfig, decide
from scheduler.policy.config import Strategy
from scheduler.policy.deadline import SAFETY_MARGIN, last_safe_moment, safety_net

T0 = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = 3600.0
D = 0.2 * HOUR
GPU = "NVIDIA A40"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def config(strategy: Strategy) -> PolicyConfig:
    return PolicyConfig(strategy=strategy, changeover_delay=D)


def market(spot: bool) -> MarketView:
    return MarketView((Quote(GPU, 1, True, 0.2 if spot else None, 0.6, "High"),), True)


def job(done_hours: float, live: AttemptView | None = None) -> JobView:
    spec = parse_job(
        {
            "name": "j",
            "image": "img",
            "gpu_types": [GPU],
            "cloud_type": "SECURE",
            "max_spot_price": 0.5,
            "max_on_demand_price": 1.0,
            "estimated_runtime": 4 * HOUR,
            "deadline": at(10),
            "checkpoint": True,
        }
    )
    state = JobState.RUNNING if live is not None else JobState.QUEUED
    return JobView(1, spec, state, False, T0, T0, work_seconds=done_hours * HOUR, live=live)


def on_demand_attempt() -> AttemptView:
    return AttemptView(
        id=1,
        job_id=1,
        number=1,
        kind=AttemptKind.ON_DEMAND,
        state=AttemptState.RUNNING,
        gpu_type_id=GPU,
        gpu_count=1,
        secure_cloud=True,
        bid_per_gpu=None,
        on_demand_price_per_gpu=0.6,
        pod_name=pod_name(1, 1, installation="backtest01"),
        pod_id="pod-1",
        cost_per_hr=0.6,
        data_center_id=None,
        created_at=T0,
        started_at=T0,
    )


def pod_of(a: AttemptView) -> PodView:
    return PodView(
        a.pod_id or "", a.pod_name, "RUNNING", False, 0.6, 1, GPU, None, True, 95.0, 60.0
    )


def idle(strategy: Strategy, now: float, done: float, spot: bool) -> list[object]:
    snap = Snapshot(at(now), (job(done),), (), market(spot))
    return list(decide(snap, config(strategy)))


def on_demand(strategy: Strategy, now: float, done: float, spot: bool) -> list[object]:
    a = on_demand_attempt()
    snap = Snapshot(at(now), (job(done, a),), (pod_of(a),), market(spot))
    return list(decide(snap, config(strategy)))


def launched(actions: list[object]) -> tuple[AttemptKind, str] | None:
    for a in actions:
        if isinstance(a, Launch):
            return a.kind, a.reason
    return None


# -- uniform_progress: the paper's rules -----------------------------------------------------
def test_uniform_progress_takes_offered_spot_even_when_behind() -> None:
    # 5 h in, nothing done: ep = 2 h, behind
    assert launched(idle(Strategy.UNIFORM_PROGRESS, 5, 0, spot=True)) == (
        AttemptKind.SPOT,
        "spot_under_limit",
    )
    assert launched(idle(Strategy.UNIFORM_PROGRESS, 5, 0, spot=False)) == (
        AttemptKind.ON_DEMAND,
        "deadline_uniform_progress",
    )


def test_uniform_progress_stays_on_demand_until_ep_of_t_plus_2d() -> None:
    # 5 h in: ep(t) = 2.0 h, ep(t + 2d) = 2.16 h
    assert on_demand(Strategy.UNIFORM_PROGRESS, 5, 2.1, spot=True) == []
    leave = on_demand(Strategy.UNIFORM_PROGRESS, 5, 2.2, spot=True)
    assert isinstance(leave[0], EndAttempt) and launched(leave)[0] is AttemptKind.SPOT  # type: ignore[index]


def test_uniform_progress_waits_idle_once_ahead_without_spot() -> None:
    actions = on_demand(Strategy.UNIFORM_PROGRESS, 5, 2.2, spot=False)
    assert isinstance(actions[0], EndAttempt) and actions[0].job_to is JobState.QUEUED
    assert isinstance(actions[1], Hold)


# -- default: paced Uniform Progress -----------------------------------------------------------
def test_default_lets_progress_lag_the_line_by_a_tenth_of_the_spare_rate() -> None:
    # on-demand once C(t)/R(t) > 0.4 + 0.1 x 0.6 = 0.46: 1 h in 4/9 = 0.44 waits, 2 h in 0.5 goes
    assert isinstance(idle(Strategy.DEFAULT, 1, 0, spot=False)[0], Hold)
    assert launched(idle(Strategy.DEFAULT, 2, 0, spot=False)) == (
        AttemptKind.ON_DEMAND,
        "deadline_pace",
    )
    assert launched(idle(Strategy.DEFAULT, 2, 0, spot=True))[0] is AttemptKind.SPOT  # type: ignore[index]


def test_default_never_leaves_on_demand_to_wait_but_leaves_it_for_spot_once_on_pace() -> None:
    # 5 h in with 2 h done: C(t)/R(t) = 0.4, on pace
    assert on_demand(Strategy.DEFAULT, 5, 2.0, spot=False) == []
    actions = on_demand(Strategy.DEFAULT, 5, 2.0, spot=True)
    assert isinstance(actions[0], EndAttempt) and launched(actions)[0] is AttemptKind.SPOT  # type: ignore[index]
    # behind pace (1.5 h done: 2.5/5 = 0.5 > 0.46): stays on on-demand although spot is offered
    assert on_demand(Strategy.DEFAULT, 5, 1.5, spot=True) == []


def test_default_keeps_two_minutes_more_safety_reserve_than_the_paper() -> None:
    remaining = 4 * HOUR
    moment = at(10) - timedelta(seconds=remaining + 2 * D + SAFETY_MARGIN)
    j = job(0)
    assert last_safe_moment(j, config(Strategy.DEFAULT)) == moment
    assert last_safe_moment(j, config(Strategy.GREEDY)) == moment + timedelta(seconds=SAFETY_MARGIN)
    just_after = moment + timedelta(seconds=1)
    assert safety_net(j, just_after, config(Strategy.DEFAULT))
    assert not safety_net(j, just_after, config(Strategy.GREEDY))
