"""A preempted spot attempt: resume the stopped pod, or give up on it and launch anew.

DESIGN.md, Preemption: resume with `podBidResume` when the price allows; after failed resumes
or a wait, terminate it and launch anew. A preempted job whose deadline passed expires.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from scheduler.domain.actions import (
    Action,
    EndAttempt,
    Launch,
    MarkRunning,
    MissDeadline,
    MoveJob,
    ResumeSpot,
)
from scheduler.domain.states import AttemptKind, AttemptState, EndReason, JobState, PodCall
from scheduler.domain.views import AttemptView, JobView, PodView

from .factories import (
    A40,
    A5000,
    at,
    attempt,
    config,
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

HOUR = 3600.0
P = JobState.PREEMPTED


def preempted(**fields: Any) -> AttemptView:
    fields.setdefault("preempted_at", at(-60))
    return attempt(state=AttemptState.PREEMPTED, started_at=at(-HOUR), **fields)


def stopped(a: AttemptView) -> PodView:
    return pod_of(a, desired_status="EXITED")


def test_a_preempted_pod_is_resumed_with_a_bid_over_the_current_floor() -> None:
    a = preempted()
    m = market(quote(spot=0.2, secure=True), quote(spot=0.1, secure=False))
    actions = run(snapshot(live_job(a), pods=[stopped(a)], market=m))
    assert actions == [ResumeSpot(a.id, 1, a.pod_id, 0.21, 1)]


def test_resume_uses_the_floor_of_the_attempts_own_cloud_and_gpu_count() -> None:
    a = preempted(secure_cloud=False, gpu_count=2)
    m = market(
        quote(spot=0.1, secure=False, count=1),
        quote(spot=0.1, secure=True, count=2),
        quote(spot=0.3, secure=False, count=2),
    )
    actions = run(snapshot(live_job(a, gpu_count=2), pods=[stopped(a)], market=m))
    assert actions == [ResumeSpot(a.id, 1, a.pod_id, 0.315, 2)]


def test_resume_at_the_limit_when_the_floor_equals_it() -> None:
    a = preempted()
    actions = run(snapshot(live_job(a), pods=[stopped(a)], market=market(quote(spot=0.5))))
    assert actions == [ResumeSpot(a.id, 1, a.pod_id, 0.5, 1)]


def test_a_preempted_job_waits_while_the_floor_is_over_its_limit() -> None:
    a = preempted()
    actions = run(snapshot(live_job(a), pods=[stopped(a)], market=market(quote(spot=0.51))))
    assert actions == []


def test_a_pod_running_again_marks_the_job_running() -> None:
    a = preempted()
    assert run(snapshot(live_job(a), pods=[pod_of(a)])) == [MarkRunning(a.id, 1, P)]


def test_a_preempted_pod_that_is_gone_is_replaced_at_once() -> None:
    a = preempted()
    end, launch = run(snapshot(live_job(a)))
    assert end == EndAttempt(
        a.id, 1, P, JobState.QUEUED, EndReason.PREEMPTED, a.pod_id, None, "preempted pod is gone"
    )
    assert isinstance(launch, Launch) and launch.from_state is JobState.QUEUED


@pytest.mark.parametrize("on_demand", [None, 1.0])
def test_a_preempted_job_whose_deadline_passed_expires_even_if_resumable(
    on_demand: float | None,
) -> None:
    a = preempted()
    j = live_job(a, deadline=at(-1), max_on_demand_price=on_demand)
    assert run(snapshot(j, pods=[stopped(a)])) == [
        MissDeadline(1),  # recorded, shown and counted, never silent
        EndAttempt(
            a.id,
            1,
            P,
            JobState.EXPIRED,
            EndReason.PREEMPTED,
            a.pod_id,
            PodCall.TERMINATE,
            "deadline passed while preempted",
        ),
    ]


def abandoned(actions: list[Action], a: AttemptView) -> tuple[str, Launch]:
    """The give-up pattern: terminate the stopped pod, requeue, relaunch in the same tick."""
    end, launch = actions
    assert isinstance(end, EndAttempt) and isinstance(launch, Launch)
    assert (end.attempt_id, end.job_from, end.job_to) == (a.id, P, JobState.QUEUED)
    assert (end.reason, end.pod_id, end.pod_call) == (EndReason.PREEMPTED, a.pod_id, "terminate")
    assert launch.from_state is JobState.QUEUED
    return end.detail, launch


def test_spot_gone_as_a_capability_relaunches_on_demand() -> None:
    a = preempted()
    m = market(quote(spot=0.2), spot_capable=False)
    j = live_job(a, max_on_demand_price=1.0)
    detail, launch = abandoned(run(snapshot(j, pods=[stopped(a)], market=m)), a)
    assert detail == "spot unavailable: relaunch on-demand"
    assert (launch.kind, launch.reason) == (AttemptKind.ON_DEMAND, "spot_unavailable")


def test_spot_gone_without_on_demand_waits_without_a_resume() -> None:
    a = preempted()
    m = market(quote(spot=0.2), spot_capable=False)
    assert run(snapshot(live_job(a), pods=[stopped(a)], market=m)) == []


def test_max_preemptions_relaunches_on_demand() -> None:
    a = preempted()
    j = live_job(a, preemptions=2, max_preemptions=2, max_on_demand_price=1.0)
    detail, launch = abandoned(run(snapshot(j, pods=[stopped(a)])), a)
    assert detail == "max_preemptions reached"
    assert (launch.kind, launch.reason) == (AttemptKind.ON_DEMAND, "max_preemptions")


def test_deadline_at_risk_relaunches_on_demand() -> None:
    a = preempted()
    j = live_job(a, deadline=at(HOUR + 500), estimated_runtime=HOUR, max_on_demand_price=1.0)
    detail, launch = abandoned(run(snapshot(j, pods=[stopped(a)])), a)
    assert detail == "deadline at risk: relaunch on-demand"
    assert (launch.kind, launch.reason) == (AttemptKind.ON_DEMAND, "deadline_safety_net")


@pytest.mark.parametrize(("failures", "gives_up"), [(2, False), (3, True)])
def test_repeated_resume_failures_give_up_on_the_host(failures: int, gives_up: bool) -> None:
    a = preempted(resume_failures=failures)
    actions = run(snapshot(live_job(a), pods=[stopped(a)]), config(max_resume_failures=3))
    if not gives_up:
        assert actions == [ResumeSpot(a.id, 1, a.pod_id, 0.21, 1)]
        return
    detail, launch = abandoned(actions, a)
    assert detail == "resume failed repeatedly: relaunch elsewhere"
    assert launch.kind is AttemptKind.SPOT


@pytest.mark.parametrize(("ago", "gives_up"), [(600.0, False), (601.0, True)])
def test_no_resume_within_resume_wait_gives_up_on_the_host(ago: float, gives_up: bool) -> None:
    a = preempted(preempted_at=at(-ago))
    m = market(quote(A40, spot=0.9), quote(A5000, spot=0.2))  # the A40 is too dear to resume
    j = live_job(a, gpu_types=[A40, A5000])
    actions = run(snapshot(j, pods=[stopped(a)], market=m), config(resume_wait=600))
    if not gives_up:
        assert actions == []
        return
    detail, launch = abandoned(actions, a)
    assert detail == "no resume within resume_wait: relaunch elsewhere"
    assert (launch.kind, launch.gpu_type_id) == (AttemptKind.SPOT, A5000)


def final_states(j: JobView, actions: list[Action]) -> list[JobState]:
    """The job's states, in order, as the actions move it."""
    states = [j.state]
    for x in actions:
        if isinstance(x, EndAttempt) and x.job_id == j.id and x.job_to is not None:
            states.append(x.job_to)
        elif isinstance(x, MoveJob) and x.job_id == j.id:
            states.append(x.to_state)
        elif isinstance(x, Launch) and x.job_id == j.id:
            states.append(JobState.LAUNCHING)
    return states


def _max_preemptions_spot_only() -> tuple[JobView, list[PodView]]:
    a = preempted()
    return live_job(a, preemptions=2, max_preemptions=2), [stopped(a)]


def _launch_timed_out_after_deadline() -> tuple[JobView, list[PodView]]:
    a = attempt(state=AttemptState.LAUNCHING, pod_id=None, created_at=at(-120))
    return live_job(a, deadline=at(-60)), []


def _preempted_gone_after_max_cost() -> tuple[JobView, list[PodView]]:
    return live_job(preempted(), max_cost=10.0, spend=10.0), []


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_max_preemptions_spot_only, JobState.FAILED),
        (_launch_timed_out_after_deadline, JobState.EXPIRED),
        (_preempted_gone_after_max_cost, JobState.FAILED),
    ],
    ids=["max-preemptions-spot-only", "deadline-passed", "max-cost-reached"],
)
def test_a_requeued_job_is_not_relaunched_when_the_queue_would_end_it(
    make: Callable[[], tuple[JobView, list[PodView]]], expected: JobState
) -> None:
    j, pods = make()
    actions = run(snapshot(j, pods=pods))
    assert launches(actions) == [], actions
    assert final_states(j, actions)[-1] is expected, actions


def test_the_queue_itself_ends_those_jobs() -> None:
    """The same three jobs, already back in the queue: what a relaunch should agree with."""
    jobs = [
        job(1, preemptions=2, max_preemptions=2),
        job(2, deadline=at(-60)),
        job(3, max_cost=10.0, spend=10.0),
    ]
    assert [m.to_state for m in of_type(run(snapshot(*jobs)), MoveJob)] == [
        JobState.FAILED,
        JobState.EXPIRED,
        JobState.FAILED,
    ]
