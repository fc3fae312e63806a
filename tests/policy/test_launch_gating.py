"""Which queued jobs launch this tick: order, the spend-rate cap, daily and monthly budgets.

DESIGN.md, Budgets: a global spend-rate cap and daily/monthly budgets gate new launches. Jobs
are considered highest priority first, oldest first among equals, and a job that cannot launch
is held with its reason without blocking the jobs behind it.
"""

from __future__ import annotations

import pytest

from scheduler.domain.actions import EndAttempt, Hold, Launch, MoveJob, ResumeSpot
from scheduler.domain.states import AttemptKind, AttemptState, JobState

from .factories import (
    A40,
    A5000,
    at,
    attempt,
    config,
    holds,
    job,
    launches,
    live_job,
    market,
    of_type,
    pod_of,
    quote,
    run,
    snapshot,
)

SPOT_COST = 0.21  # default market: A40 spot floor $0.20, bid with the 5 % margin


def launched(actions: list) -> list[int]:
    return [launch.job_id for launch in launches(actions)]


def test_higher_priority_launches_first_and_takes_the_last_room_under_the_cap() -> None:
    low = job(1, priority=0, queued_since=at(-3600))
    high = job(2, priority=5, queued_since=at(-60))
    assert launched(run(snapshot(low, high))) == [2, 1]
    actions = run(snapshot(low, high), config(max_spend_rate=0.3))
    assert launched(actions) == [2]
    assert holds(actions) == {1: "spend rate cap"}


def test_first_come_first_served_among_equal_priorities() -> None:
    jobs = [
        job(1, queued_since=at(-60)),
        job(2, queued_since=at(-120)),
        job(3, queued_since=at(-60)),
    ]
    assert launched(run(snapshot(*jobs))) == [2, 1, 3]
    assert launched(run(snapshot(*jobs), config(max_spend_rate=0.45))) == [2, 1]


def test_a_job_priced_out_of_the_market_does_not_block_the_jobs_behind_it() -> None:
    picky = job(1, priority=9, max_spot_price=0.1)
    actions = run(snapshot(picky, job(2)))
    assert launched(actions) == [2]
    assert holds(actions) == {1: "no spot offer under max_spot_price"}


def test_a_job_too_big_for_the_cap_does_not_block_smaller_jobs_behind_it() -> None:
    m = market(quote(count=1), quote(count=4))
    big = job(1, priority=9, gpu_count=4, cloud_type="SECURE")  # 4 x $0.21 = $0.84/h
    actions = run(snapshot(big, job(2), market=m), config(max_spend_rate=0.5))
    assert launched(actions) == [2]
    assert holds(actions) == {1: "spend rate cap"}


@pytest.mark.parametrize(("cap", "fits"), [(0.51, True), (0.509, False)])
def test_the_cap_counts_what_live_attempts_already_burn(cap: float, fits: bool) -> None:
    running = attempt(9, price=0.3)  # $0.30/h
    snap = snapshot(live_job(running), job(1), pods=[pod_of(running)])
    actions = run(snap, config(max_spend_rate=cap))
    assert launched(actions) == ([1] if fits else [])


def test_a_launching_attempt_counts_against_the_cap_too() -> None:
    starting = attempt(9, state=AttemptState.LAUNCHING, price=0.3, created_at=at(-10))
    snap = snapshot(live_job(starting), job(1), pods=[pod_of(starting, runtime_up=False)])
    assert holds(run(snap, config(max_spend_rate=0.5))) == {1: "spend rate cap"}


def test_an_attempt_ending_this_tick_frees_its_share_of_the_cap() -> None:
    done = attempt(9, kind=AttemptKind.ON_DEMAND, price=0.5)
    j = live_job(done, max_on_demand_price=1.0)
    snap = snapshot(j, job(1), pods=[pod_of(done, desired_status="EXITED")])
    actions = run(snap, config(max_spend_rate=0.5))
    assert isinstance(actions[0], EndAttempt)
    assert launched(actions) == [1]


def test_launches_in_one_tick_add_up_against_the_cap() -> None:
    jobs = [job(i) for i in (1, 2, 3)]
    actions = run(snapshot(*jobs), config(max_spend_rate=3 * SPOT_COST))
    assert launched(actions) == [1, 2, 3]
    actions = run(snapshot(*jobs), config(max_spend_rate=3 * SPOT_COST - 0.001))
    assert launched(actions) == [1, 2]


@pytest.mark.parametrize(
    ("spent", "fields", "reason"),
    [
        ({"spend_today": 10.0}, {"daily_budget": 10.0}, "daily budget spent"),
        ({"spend_today": 12.0}, {"daily_budget": 10.0}, "daily budget spent"),
        ({"spend_month": 100.0}, {"monthly_budget": 100.0}, "monthly budget spent"),
    ],
)
def test_no_launch_once_a_budget_is_spent(spent: dict, fields: dict, reason: str) -> None:
    actions = run(snapshot(job(1), job(2), **spent), config(**fields))
    assert actions == [Hold(1, reason), Hold(2, reason)]


@pytest.mark.parametrize(
    ("spent", "fields"),
    [
        ({"spend_today": 9.99}, {"daily_budget": 10.0}),
        ({"spend_month": 99.99}, {"monthly_budget": 100.0}),
    ],
)
def test_launches_go_on_while_budget_remains(spent: dict, fields: dict) -> None:
    assert launched(run(snapshot(job(1), **spent), config(**fields))) == [1]


def test_a_spent_budget_still_lets_jobs_end_and_be_cancelled() -> None:
    done = attempt(9, kind=AttemptKind.ON_DEMAND, price=0.5)
    finished = live_job(done, max_on_demand_price=1.0)
    snap = snapshot(
        finished,
        job(1, cancel_requested=True),
        pods=[pod_of(done, desired_status="EXITED")],
        spend_today=50.0,
    )
    actions = run(snap, config(daily_budget=10.0))
    assert sorted(type(x).__name__ for x in actions) == ["EndAttempt", "MoveJob"]


def test_a_relaunch_in_the_same_tick_is_gated_like_any_launch() -> None:
    lost = attempt(1, state=AttemptState.LAUNCHING, pod_id=None, created_at=at(-600))
    actions = run(snapshot(live_job(lost), spend_today=50.0), config(daily_budget=10.0))
    end, hold = actions
    assert isinstance(end, EndAttempt) and end.job_to is JobState.QUEUED
    assert hold == Hold(1, "daily budget spent")


def test_without_a_market_reading_jobs_are_only_held() -> None:
    lost = attempt(3, state=AttemptState.LAUNCHING, pod_id=None, created_at=at(-600))
    snap = snapshot(job(1), job(2, cancel_requested=True), live_job(lost), market=None)
    actions = run(snap)
    assert launches(actions) == []
    assert holds(actions) == {1: "market unknown", 3: "market unknown"}
    assert [type(x) for x in actions] == [MoveJob, EndAttempt, Hold, Hold]


def test_a_preempted_attempt_keeps_its_slot_under_the_cap_while_it_may_resume() -> None:
    stopped = attempt(
        9, state=AttemptState.PREEMPTED, price=0.3, started_at=at(-3600), preempted_at=at(-60)
    )
    snap = snapshot(live_job(stopped), job(1), pods=[pod_of(stopped, desired_status="EXITED")])
    actions = run(snap, config(max_spend_rate=0.5))
    assert of_type(actions, ResumeSpot) != []  # bids $0.21/h
    assert launched(actions) == []  # the $0.30 slot plus $0.21 more is over $0.50
    assert holds(actions) == {1: "spend rate cap"}
    assert launched(run(snap, config(max_spend_rate=0.51))) == [1]


def test_a_resume_at_a_higher_bid_and_a_launch_stay_under_the_cap_together() -> None:
    stopped = attempt(
        9, state=AttemptState.PREEMPTED, price=0.2, started_at=at(-3600), preempted_at=at(-60)
    )
    m = market(quote(A40, spot=0.3), quote(A5000, spot=0.1))  # the A40 floor rose to $0.30
    snap = snapshot(
        live_job(stopped),
        job(1, gpu_types=[A5000]),
        pods=[pod_of(stopped, desired_status="EXITED")],
        market=m,
    )
    actions = run(snap, config(max_spend_rate=0.4))
    [resume] = of_type(actions, ResumeSpot)
    assert resume.bid_per_gpu == 0.315
    total = resume.bid_per_gpu * resume.gpu_count + sum(x.cost_per_hr for x in launches(actions))
    assert total <= 0.4, actions  # $0.315 resumed + $0.105 launched = $0.42/h


@pytest.mark.parametrize(("cap", "resumed"), [(6.0, 0), (6.3, 1), (6.6, 2)])
def test_bid_resumes_are_gated_by_the_spend_rate_cap_like_launches(
    cap: float, resumed: int
) -> None:
    """The field report: two pods at $3.00/h filled a $6.00/h cap, were preempted, and both
    were bid-resumed at $3.255/h, $6.51/h in all. A resume that does not fit waits."""
    stopped = [
        attempt(j, state=AttemptState.PREEMPTED, price=3.0, preempted_at=at(-60)) for j in (1, 2)
    ]
    snap = snapshot(
        *(live_job(a, max_spot_price=4.0) for a in stopped),
        pods=[pod_of(a, desired_status="EXITED") for a in stopped],
        market=market(quote(A40, spot=3.1)),
    )
    actions = run(snap, config(max_spend_rate=cap))
    resumes = of_type(actions, ResumeSpot)
    assert [r.bid_per_gpu for r in resumes] == [3.255] * resumed
    assert len(holds(actions)) == 2 - resumed


def test_launch_carries_what_apply_needs() -> None:
    j = job(1, cloud_type="SECURE", data_center_id="EU-RO-1")
    [launch] = run(snapshot(j))
    assert launch == Launch(
        job_id=1,
        from_state=JobState.QUEUED,
        kind=AttemptKind.SPOT,
        gpu_type_id=j.spec.gpu_types[0].gpu_type_id,
        gpu_count=1,
        secure_cloud=True,
        bid_per_gpu=0.21,
        on_demand_price_per_gpu=0.6,
        data_center_id="EU-RO-1",
        reason="spot_under_limit",
    )
