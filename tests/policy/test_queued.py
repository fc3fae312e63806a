"""Queued jobs that leave the queue without a launch: cancelled, expired or failed.

DESIGN.md, Job states: `queued → expired` when the deadline or the wait limit passed without a
launch; `max_cost` reached → failed; terminal states never change.
"""

from __future__ import annotations

import pytest

from scheduler.domain.actions import MissDeadline, MoveJob
from scheduler.domain.states import TERMINAL_JOB_STATES, AttemptKind, JobOutcome, JobState

from .factories import at, job, launches, only_launch, run, snapshot

HOUR = 3600.0
Q = JobState.QUEUED


def test_cancel_requested_moves_a_queued_job_to_cancelled_and_nothing_else() -> None:
    actions = run(snapshot(job(cancel_requested=True)))
    assert actions == [MoveJob(1, Q, JobState.CANCELLED, "cancelled by user", JobOutcome.CANCELLED)]


def test_cancel_wins_over_every_other_reason_to_leave_the_queue() -> None:
    j = job(cancel_requested=True, deadline=at(-60), max_cost=1.0, spend=5.0)
    assert [m.to_state for m in run(snapshot(j))] == [JobState.CANCELLED]


@pytest.mark.parametrize("on_demand", [None, 1.0])
@pytest.mark.parametrize("past", [0.0, 60.0])
def test_a_job_whose_deadline_passed_before_a_launch_expires(
    past: float, on_demand: float | None
) -> None:
    j = job(deadline=at(-past), max_on_demand_price=on_demand)
    assert run(snapshot(j)) == [
        MissDeadline(1),
        MoveJob(1, Q, JobState.EXPIRED, "deadline passed before a launch", JobOutcome.DEADLINE),
    ]


@pytest.mark.parametrize(("waited", "expires"), [(600.0, False), (601.0, True)])
def test_a_spot_only_job_expires_once_it_waited_longer_than_fallback_after(
    waited: float, expires: bool
) -> None:
    actions = run(snapshot(job(fallback_after=600), now=at(waited)))
    if expires:
        assert actions == [
            MoveJob(
                1,
                Q,
                JobState.EXPIRED,
                "waited longer than fallback_after for spot; on-demand not allowed",
                JobOutcome.WAIT_LIMIT,
            )
        ]
    else:
        assert only_launch(actions).kind is AttemptKind.SPOT


def test_a_job_allowed_on_demand_does_not_expire_on_the_wait_limit() -> None:
    actions = run(snapshot(job(fallback_after=600, max_on_demand_price=1.0), now=at(601)))
    assert only_launch(actions).kind is AttemptKind.ON_DEMAND


@pytest.mark.parametrize(("spend", "fails"), [(9.99, False), (10.0, True), (12.0, True)])
def test_a_queued_job_that_spent_its_max_cost_fails(spend: float, fails: bool) -> None:
    actions = run(snapshot(job(max_cost=10.0, spend=spend)))
    if fails:
        assert actions == [MoveJob(1, Q, JobState.FAILED, "max_cost reached", JobOutcome.MAX_COST)]
    else:
        assert len(launches(actions)) == 1


def test_a_spot_only_job_that_reached_max_preemptions_fails() -> None:
    actions = run(snapshot(job(preemptions=2, max_preemptions=2)))
    assert actions == [
        MoveJob(
            1,
            Q,
            JobState.FAILED,
            "max_preemptions reached; on-demand not allowed",
            JobOutcome.MAX_PREEMPTIONS,
        )
    ]


def test_a_spot_only_job_that_can_no_longer_finish_before_its_deadline_expires() -> None:
    j = job(deadline=at(3000), estimated_runtime=HOUR)
    assert run(snapshot(j)) == [
        MissDeadline(1),  # it will miss it: recorded now, not when it passes
        MoveJob(
            1,
            Q,
            JobState.EXPIRED,
            "the estimated runtime no longer fits before the deadline",
            JobOutcome.DEADLINE,
        ),
    ]


def test_work_already_done_counts_when_checking_whether_the_job_fits() -> None:
    j = job(deadline=at(3000), estimated_runtime=HOUR, work_seconds=1000)  # 2600 s left
    assert only_launch(run(snapshot(j))).kind is AttemptKind.SPOT


def test_a_job_that_cannot_finish_on_spot_goes_on_demand_when_allowed() -> None:
    j = job(deadline=at(3000), estimated_runtime=HOUR, max_on_demand_price=1.0)
    launch = only_launch(run(snapshot(j)))
    assert (launch.kind, launch.reason) == (AttemptKind.ON_DEMAND, "deadline_safety_net")


@pytest.mark.parametrize("state", sorted(TERMINAL_JOB_STATES))
def test_terminal_jobs_are_never_touched(state: JobState) -> None:
    j = job(state=state, cancel_requested=True, deadline=at(-60), max_cost=1.0, spend=5.0)
    assert run(snapshot(j)) == []
