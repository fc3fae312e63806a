"""A pod call's committed intent decides how its attempt ends (issue 8, section 2).

After a crash the daemon finds an attempt carrying the intent of a stop, terminate or
bid-resume; whatever RunPod shows now, the policy finishes that same decision: a pod gone after
the daemon's own terminate was ended by the daemon, never "removed itself"."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scheduler.domain.actions import ConfirmResume, EndAttempt, Launch, ResumeLost
from scheduler.domain.states import AttemptKind, AttemptState, EndReason, JobState, PodCall
from scheduler.domain.views import AttemptView
from scheduler.policy.config import BudgetEnforce

from .factories import (
    at,
    attempt,
    config,
    ends,
    launches,
    live_job,
    of_type,
    pod_of,
    run,
    snapshot,
)

ASKED = at(-45)


def _intent(a: AttemptView, call: PodCall, reason: EndReason, to: JobState) -> AttemptView:
    return replace(
        a,
        pending_call=call,
        pending_reason=reason,
        pending_job_to=to,
        pending_detail="max_cost reached",
        pending_at=ASKED,
    )


@pytest.mark.parametrize("state", [AttemptState.RUNNING, AttemptState.LAUNCHING])
def test_a_pod_gone_after_the_daemons_terminate_ends_as_the_daemon_decided(
    state: AttemptState,
) -> None:
    a = _intent(attempt(state=state), PodCall.TERMINATE, EndReason.BUDGET, JobState.FAILED)
    [end] = run(snapshot(live_job(a)))
    assert end == EndAttempt(
        a.id,
        1,
        live_job(a).state,
        JobState.FAILED,
        EndReason.BUDGET,
        a.pod_id,
        None,
        "max_cost reached",
        since=ASKED,  # billing stopped when the daemon asked, not at this tick
    )


def test_a_terminate_that_never_reached_runpod_is_made_again() -> None:
    a = _intent(attempt(), PodCall.TERMINATE, EndReason.CANCELLED, JobState.CANCELLED)
    [end] = run(snapshot(live_job(a), pods=[pod_of(a)]))
    assert (end.pod_call, end.job_to, end.reason, end.since) == (
        PodCall.TERMINATE,
        JobState.CANCELLED,
        EndReason.CANCELLED,
        None,
    )


def test_a_stopped_pod_after_the_daemons_idle_stop_is_kept_not_taken_for_a_preemption() -> None:
    a = _intent(attempt(), PodCall.STOP, EndReason.IDLE, JobState.SUCCEEDED)
    [end] = run(snapshot(live_job(a), pods=[pod_of(a, desired_status="EXITED")]))
    assert (end.pod_call, end.reason, end.job_to) == (None, EndReason.IDLE, JobState.SUCCEEDED)


def test_a_job_the_daemon_sent_back_to_the_queue_is_relaunched_after_the_crash() -> None:
    a = _intent(
        attempt(kind=AttemptKind.ON_DEMAND), PodCall.TERMINATE, EndReason.ABANDONED, JobState.QUEUED
    )
    actions = run(snapshot(live_job(a, max_on_demand_price=1.0)))
    [end] = ends(actions)
    assert end.job_to is JobState.QUEUED and end.pod_call is None
    [launch] = launches(actions)
    assert isinstance(launch, Launch) and launch.from_state is JobState.QUEUED


def test_a_bid_resume_the_pod_answered_by_running_is_confirmed_not_repeated() -> None:
    a = replace(
        attempt(state=AttemptState.PREEMPTED, preempted_at=at(-300)),
        pending_call=PodCall.BID_RESUME,
        pending_bid=0.25,
        pending_at=ASKED,
    )
    [confirm] = run(snapshot(live_job(a), pods=[pod_of(a, runtime_up=False)]))
    assert confirm == ConfirmResume(a.id, 1, JobState.PREEMPTED, 0.25, ASKED)


def test_a_bid_resume_whose_pod_is_still_stopped_counts_as_a_failed_resume() -> None:
    a = replace(
        attempt(state=AttemptState.PREEMPTED, preempted_at=at(-300)),
        pending_call=PodCall.BID_RESUME,
        pending_bid=0.25,
        pending_at=ASKED,
    )
    actions = run(snapshot(live_job(a), pods=[pod_of(a, desired_status="EXITED")]))
    assert actions == [ResumeLost(a.id, 1)]


def test_launch_timeout_counts_from_the_latest_resume() -> None:
    resumed = replace(
        attempt(state=AttemptState.LAUNCHING, created_at=at(-7200)), launched_at=at(-60)
    )
    snap = snapshot(live_job(resumed), pods=[pod_of(resumed, runtime_up=False)])
    assert run(snap, config(launch_timeout=1800.0)) == []
    late = replace(resumed, launched_at=at(-1801))
    [end] = ends(run(replace(snap, jobs=(live_job(late),)), config(launch_timeout=1800.0)))
    assert end.detail == "container did not start in time"


def test_running_budget_enforcement_ends_lowest_priority_checkpointed_first() -> None:
    pods = {
        "low-ckpt": (attempt(1, price=1.0), {"priority": 0, "checkpoint": True}),
        "low": (attempt(2, price=1.0), {"priority": 0}),
        "high-ckpt": (attempt(3, price=1.0), {"priority": 5, "checkpoint": True}),
    }
    jobs = [live_job(a, **fields) for a, fields in pods.values()]
    snap = snapshot(*jobs, pods=[pod_of(a) for a, _ in pods.values()], spend_today=9.75)
    cfg = config(daily_budget=10.0, budget_enforce=BudgetEnforce.RUNNING, budget_horizon=600.0)

    stops = ends(run(snap, cfg))

    # $0.25 left covers 600 s of $1.50/h at most: two of the three $1/h pods must go
    assert [e.job_id for e in stops] == [1, 2]
    assert all(e.reason is EndReason.BUDGET and e.job_to is JobState.QUEUED for e in stops)
    assert all(e.pod_call is PodCall.TERMINATE for e in stops)
    assert of_type(run(snap, config(daily_budget=10.0)), EndAttempt) == []  # `launches`
