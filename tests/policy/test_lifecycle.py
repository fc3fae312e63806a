"""A launching or running attempt against what RunPod shows of its pod.

DESIGN.md, How a job ends: the pod terminates itself → succeeded; an on-demand pod stops
itself → succeeded; a spot pod that exits unasked → preempted; idle past `idle_timeout` after
the start-up grace → `on_idle`; `max_runtime` or `max_cost` reached → failed. Crash safety: a
pod found by its deterministic name is adopted; a launch whose pod never appears is retried.
"""

from __future__ import annotations

from typing import Any

import pytest

from scheduler.domain.actions import (
    AdoptPod,
    EndAttempt,
    Launch,
    MarkPreempted,
    MarkRunning,
)
from scheduler.domain.states import AttemptKind, AttemptState, EndReason, JobState
from scheduler.domain.views import AttemptView, JobView
from scheduler.policy.config import Strategy

from .factories import (
    at,
    attempt,
    config,
    ends,
    launches,
    live_job,
    market,
    of_type,
    pod,
    pod_of,
    quote,
    run,
    snapshot,
)

HOUR = 3600.0
LAUNCHING, RUNNING = AttemptState.LAUNCHING, AttemptState.RUNNING
SPOT, OD = AttemptKind.SPOT, AttemptKind.ON_DEMAND


def launching(**fields: Any) -> AttemptView:
    fields.setdefault("created_at", at(-30))
    return attempt(state=LAUNCHING, **fields)


# -- adopting and starting -----------------------------------------------------------------


def test_a_pod_found_by_name_is_adopted() -> None:
    a = launching(pod_id=None)
    p = pod_of(a, pod_id="found-7", runtime_up=False, cost_per_hr=0.33)
    assert run(snapshot(live_job(a), pods=[p])) == [AdoptPod(a.id, 1, "found-7", 0.33)]


def test_an_adopted_pod_whose_runtime_is_up_is_also_marked_running() -> None:
    a = launching(pod_id=None)
    p = pod_of(a, pod_id="found-7", runtime_up=True)
    assert run(snapshot(live_job(a), pods=[p])) == [
        AdoptPod(a.id, 1, "found-7", p.cost_per_hr),
        MarkRunning(a.id, 1, JobState.LAUNCHING),
    ]


def test_a_known_pod_whose_runtime_comes_up_marks_the_job_running() -> None:
    a = launching()
    assert run(snapshot(live_job(a), pods=[pod_of(a)])) == [
        MarkRunning(a.id, 1, JobState.LAUNCHING)
    ]


def test_a_starting_pod_within_launch_timeout_is_left_alone() -> None:
    a = launching(created_at=at(-1800))
    assert run(snapshot(live_job(a), pods=[pod_of(a, runtime_up=False)])) == []


def test_a_pod_that_does_not_start_within_launch_timeout_is_replaced() -> None:
    a = launching(created_at=at(-1801))
    actions = run(snapshot(live_job(a), pods=[pod_of(a, runtime_up=False)]))
    assert actions[0] == EndAttempt(
        a.id,
        1,
        JobState.LAUNCHING,
        JobState.QUEUED,
        EndReason.LAUNCH_FAILED,
        a.pod_id,
        "terminate",
        "container did not start in time",
    )
    assert [(x.job_id, x.from_state) for x in actions[1:]] == [(1, JobState.QUEUED)]
    assert isinstance(actions[1], Launch)


@pytest.mark.parametrize(("age", "retried"), [(90.0, False), (91.0, True)])
def test_a_create_with_no_pod_after_launch_grace_is_requeued_and_relaunched_at_once(
    age: float, retried: bool
) -> None:
    a = launching(pod_id=None, created_at=at(-age))
    actions = run(snapshot(live_job(a)))
    if not retried:
        assert actions == []
        return
    end, launch = actions
    assert end == EndAttempt(
        a.id,
        1,
        JobState.LAUNCHING,
        JobState.QUEUED,
        EndReason.LAUNCH_FAILED,
        None,
        None,
        "no pod appeared after the create call",
    )
    assert isinstance(launch, Launch)
    assert (launch.job_id, launch.from_state, launch.kind) == (1, JobState.QUEUED, SPOT)


# -- how a job ends ----------------------------------------------------------------------


@pytest.mark.parametrize("state", [LAUNCHING, RUNNING])
@pytest.mark.parametrize("kind", [SPOT, OD])
def test_a_pod_that_is_gone_terminated_itself_and_the_job_succeeded(
    state: AttemptState, kind: AttemptKind
) -> None:
    a = attempt(state=state, kind=kind)
    j = live_job(a, max_on_demand_price=1.0)
    assert run(snapshot(j)) == [
        EndAttempt(
            a.id,
            1,
            j.state,
            JobState.SUCCEEDED,
            EndReason.COMPLETED,
            a.pod_id,
            None,
            "pod removed itself",
        )
    ]


@pytest.mark.parametrize("state", [LAUNCHING, RUNNING])
def test_an_on_demand_pod_that_stopped_itself_succeeded_and_is_terminated(
    state: AttemptState,
) -> None:
    a = attempt(state=state, kind=OD, price=0.6)
    j = live_job(a, max_on_demand_price=1.0)
    assert run(snapshot(j, pods=[pod_of(a, desired_status="EXITED")])) == [
        EndAttempt(
            a.id,
            1,
            j.state,
            JobState.SUCCEEDED,
            EndReason.COMPLETED,
            a.pod_id,
            "terminate",
            "pod stopped itself",
        )
    ]


@pytest.mark.parametrize("state", [LAUNCHING, RUNNING])
def test_a_spot_pod_that_exited_unasked_was_preempted(state: AttemptState) -> None:
    a = attempt(state=state)
    j = live_job(a)
    assert run(snapshot(j, pods=[pod_of(a, desired_status="EXITED")])) == [
        MarkPreempted(a.id, 1, j.state)
    ]


def test_a_healthy_running_pod_needs_nothing() -> None:
    a = attempt()
    assert run(snapshot(live_job(a, max_runtime=HOUR), pods=[pod_of(a)], now=at(60))) == []


@pytest.mark.parametrize(("ran", "fails"), [(HOUR - 1, False), (HOUR, True)])
def test_max_runtime_fails_the_job_and_terminates_the_pod(ran: float, fails: bool) -> None:
    a = attempt(started_at=at(0))
    actions = run(snapshot(live_job(a, max_runtime=HOUR), pods=[pod_of(a)], now=at(ran)))
    if not fails:
        assert actions == []
        return
    assert actions == [
        EndAttempt(
            a.id,
            1,
            JobState.RUNNING,
            JobState.FAILED,
            EndReason.MAX_RUNTIME,
            a.pod_id,
            "terminate",
            "max_runtime reached",
        )
    ]


@pytest.mark.parametrize(("spend", "fails"), [(9.99, False), (10.0, True)])
def test_max_cost_fails_a_running_job_and_terminates_the_pod(spend: float, fails: bool) -> None:
    a = attempt()
    actions = run(snapshot(live_job(a, max_cost=10.0, spend=spend), pods=[pod_of(a)]))
    if not fails:
        assert actions == []
        return
    [end] = actions
    assert isinstance(end, EndAttempt)
    assert (end.job_to, end.reason, end.pod_call) == (
        JobState.FAILED,
        EndReason.BUDGET,
        "terminate",
    )


# Idle: the attempt started at T0; idle_timeout 600 s counts from the later of the pod going
# idle and the end of the 300 s start-up grace.


@pytest.mark.parametrize(
    ("idle_since", "now", "ends_now"),
    [
        (0.0, 899.0, False),  # idle since start: the grace ends at 300, 599 s idle
        (0.0, 900.0, True),
        (1000.0, 1599.0, False),  # went idle later than the grace
        (1000.0, 1600.0, True),
    ],
)
def test_idle_past_idle_timeout_after_the_grace_ends_the_job(
    idle_since: float, now: float, ends_now: bool
) -> None:
    a = attempt(started_at=at(0))
    j = live_job(a, idle_timeout=600, idle_grace=300)
    p = pod_of(a, idle_since=at(idle_since), gpu_util=0.0)
    actions = run(snapshot(j, pods=[p], now=at(now)))
    assert bool(actions) is ends_now
    if ends_now:
        [end] = actions
        assert isinstance(end, EndAttempt)
        assert (end.job_to, end.reason) == (JobState.SUCCEEDED, EndReason.IDLE)


@pytest.mark.parametrize(("on_idle", "call"), [("stop", "stop"), ("terminate", "terminate")])
def test_on_idle_says_whether_the_idle_pod_is_stopped_or_terminated(
    on_idle: str, call: str
) -> None:
    a = attempt(started_at=at(0))
    j = live_job(a, idle_timeout=600, idle_grace=0, on_idle=on_idle)
    p = pod_of(a, idle_since=at(0), gpu_util=0.0)
    [end] = run(snapshot(j, pods=[p], now=at(HOUR)))
    assert isinstance(end, EndAttempt)
    assert (end.pod_id, end.pod_call) == (a.pod_id, call)


def test_without_idle_timeout_an_idle_pod_runs_on() -> None:
    a = attempt(started_at=at(0))
    j = live_job(a, idle_timeout=None)
    p = pod_of(a, idle_since=at(0), gpu_util=0.0)
    assert run(snapshot(j, pods=[p], now=at(10 * HOUR))) == []


@pytest.mark.parametrize("state", [LAUNCHING, RUNNING, AttemptState.PREEMPTED])
def test_cancel_ends_a_live_attempt_and_terminates_its_pod(state: AttemptState) -> None:
    a = attempt(state=state, preempted_at=at(-10) if state is AttemptState.PREEMPTED else None)
    j = live_job(a, cancel_requested=True)
    exited = "EXITED" if state is AttemptState.PREEMPTED else "RUNNING"
    assert run(snapshot(j, pods=[pod_of(a, desired_status=exited)])) == [
        EndAttempt(a.id, 1, j.state, JobState.CANCELLED, EndReason.CANCELLED, a.pod_id, "terminate")
    ]


def test_cancel_while_the_create_outcome_is_unknown_has_no_pod_to_call() -> None:
    a = launching(pod_id=None)
    [end] = run(snapshot(live_job(a, cancel_requested=True)))
    assert isinstance(end, EndAttempt)
    assert (end.job_to, end.pod_id, end.pod_call) == (JobState.CANCELLED, None, None)


# -- a pod with our name but another id ----------------------------------------------------


@pytest.mark.parametrize("state", [LAUNCHING, RUNNING])
def test_a_pod_with_our_name_but_another_id_is_not_ours(state: AttemptState) -> None:
    a = attempt(state=state)
    impostor = pod(a.pod_name, pod_id="someone-else")
    actions = run(snapshot(live_job(a), pods=[impostor]))
    assert not of_type(actions, AdoptPod) and not of_type(actions, MarkRunning)
    assert [(e.pod_id, e.pod_call) for e in ends(actions)] == [(a.pod_id, None)]
    assert not any(getattr(x, "pod_id", None) == "someone-else" for x in actions)


def test_our_pod_is_found_by_id_even_beside_a_pod_with_the_same_name() -> None:
    a = attempt()
    own, impostor = pod_of(a), pod(a.pod_name, pod_id="someone-else")
    for pods in ([own, impostor], [impostor, own]):
        assert run(snapshot(live_job(a), pods=pods)) == [], pods


# -- checkpointing deadline jobs leave on-demand for spot --------------------------------
# Submitted at T0, 4 h of work, deadline at 10 h, now 1 h in: Uniform Progress expects 0.4 h
# done, 0.6 h with the 5 % hysteresis of leaving on-demand.


def on_demand_deadline_job(work: float, **fields: Any) -> JobView:
    a = attempt(kind=OD, price=0.6, started_at=at(0))
    fields.setdefault("checkpoint", True)
    return live_job(
        a,
        deadline=at(10 * HOUR),
        estimated_runtime=4 * HOUR,
        work_seconds=work,
        max_on_demand_price=1.0,
        **fields,
    )


@pytest.mark.parametrize("strategy", [Strategy.DEFAULT, Strategy.UNIFORM_PROGRESS])
def test_a_checkpointing_job_ahead_of_schedule_moves_from_on_demand_to_spot(
    strategy: Strategy,
) -> None:
    j = on_demand_deadline_job(2 * HOUR)
    a = j.live
    actions = run(snapshot(j, pods=[pod_of(a)], now=at(HOUR)), config(strategy=strategy))
    end, launch = actions
    assert end == EndAttempt(
        a.id,
        1,
        JobState.RUNNING,
        JobState.QUEUED,
        EndReason.ABANDONED,
        a.pod_id,
        "terminate",
        "ahead of uniform progress: back to spot",
    )
    assert isinstance(launch, Launch)
    assert (launch.kind, launch.from_state) == (SPOT, JobState.QUEUED)


@pytest.mark.parametrize(
    ("fields", "strategy"),
    [
        ({"checkpoint": False}, Strategy.UNIFORM_PROGRESS),
        ({}, Strategy.GREEDY),
        ({}, Strategy.ON_DEMAND),
        ({"max_spot_price": 0.1}, Strategy.DEFAULT),  # default leaves only for offered spot
        ({"max_preemptions": 1, "preemptions": 1}, Strategy.UNIFORM_PROGRESS),
    ],
    ids=["no-checkpoint", "greedy", "on-demand", "no-spot-offer", "max-preemptions"],
)
def test_an_on_demand_job_stays_put_unless_it_checkpoints_and_spot_can_take_it(
    fields: dict, strategy: Strategy
) -> None:
    j = on_demand_deadline_job(2 * HOUR, **fields)
    snap = snapshot(j, pods=[pod_of(j.live)], now=at(HOUR))
    assert run(snap, config(strategy=strategy)) == []


@pytest.mark.parametrize(("changeover", "leaves"), [(1800.0, False), (300.0, True)])
def test_leaving_on_demand_needs_progress_at_the_line_two_changeovers_ahead(
    changeover: float, leaves: bool
) -> None:
    """Uniform Progress leaves on-demand once progress reaches ep(t + 2d) (the paper's
    hysteresis): 0.5 h done at 1 h is past ep(1 h 10 m) = 0.47 h but short of ep(2 h) = 0.8 h."""
    j = on_demand_deadline_job(0.5 * HOUR)
    snap = snapshot(j, pods=[pod_of(j.live)], now=at(HOUR))
    cfg = config(strategy=Strategy.UNIFORM_PROGRESS, changeover_delay=changeover)
    assert bool(launches(run(snap, cfg))) is leaves


def test_a_spot_attempt_is_never_moved_by_the_progress_rule() -> None:
    a = attempt(started_at=at(0))
    j = live_job(
        a,
        deadline=at(10 * HOUR),
        estimated_runtime=4 * HOUR,
        checkpoint=True,
        work_seconds=2 * HOUR,
        max_on_demand_price=1.0,
    )
    snap = snapshot(j, pods=[pod_of(a)], now=at(HOUR), market=market(quote(spot=0.1)))
    assert run(snap, config(strategy=Strategy.UNIFORM_PROGRESS)) == []
