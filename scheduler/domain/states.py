"""Lifecycle states and the one transition table for each state machine.

Nothing but the store writes a `state` column, and the store only moves a row along an edge
listed here (compare-and-set on the `from` state, an event row in the same transaction).
Intents such as `cancel_requested` are columns of their own, never states.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from scheduler.domain.errors import SpotschedError


class JobState(StrEnum):
    QUEUED = "queued"
    LAUNCHING = "launching"
    RUNNING = "running"
    PREEMPTED = "preempted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    INVALID = "invalid"


class AttemptState(StrEnum):
    """An attempt is one pod. `preempted` = the spot pod is stopped and may be bid-resumed."""

    LAUNCHING = "launching"
    RUNNING = "running"
    PREEMPTED = "preempted"
    ENDED = "ended"


class AttemptKind(StrEnum):
    SPOT = "spot"
    ON_DEMAND = "on_demand"


class EndReason(StrEnum):
    COMPLETED = "completed"
    IDLE = "idle"
    PREEMPTED = "preempted"
    CANCELLED = "cancelled"
    FAILED = "failed"
    BUDGET = "budget"
    MAX_RUNTIME = "max_runtime"
    LAUNCH_FAILED = "launch_failed"
    LOST = "lost"
    ABANDONED = "abandoned"


class JobOutcome(StrEnum):
    """How a finished job ended, one member per kind of ending (the state says only which of
    succeeded / failed / cancelled / expired it counts as). `succeeded` needs evidence that the
    work finished: the pod ended by itself and nobody, the daemon included, asked it to
    (`completed`), or its GPU sat idle past the job's own `idle_timeout` (`idle`)."""

    COMPLETED = "completed"
    IDLE = "idle"
    CANCELLED = "cancelled"
    MAX_COST = "max_cost"
    MAX_RUNTIME = "max_runtime"
    MAX_PREEMPTIONS = "max_preemptions"
    DEADLINE = "deadline"
    WAIT_LIMIT = "wait_limit"
    LAUNCH_REJECTED = "launch_rejected"


SUCCESSFUL_OUTCOMES = frozenset({JobOutcome.COMPLETED, JobOutcome.IDLE})

_ENDING_OUTCOMES: Mapping[tuple[JobState, EndReason], JobOutcome] = {
    (JobState.SUCCEEDED, EndReason.COMPLETED): JobOutcome.COMPLETED,
    (JobState.SUCCEEDED, EndReason.IDLE): JobOutcome.IDLE,
    (JobState.FAILED, EndReason.BUDGET): JobOutcome.MAX_COST,
    (JobState.FAILED, EndReason.MAX_RUNTIME): JobOutcome.MAX_RUNTIME,
    (JobState.FAILED, EndReason.LAUNCH_FAILED): JobOutcome.LAUNCH_REJECTED,
    (JobState.EXPIRED, EndReason.PREEMPTED): JobOutcome.DEADLINE,
}


def ending_outcome(job_to: JobState, reason: EndReason) -> JobOutcome | None:
    """The outcome of a job whose attempt ends for `reason` and moves the job to `job_to`;
    None while the job goes on (queued again) or when the pair names no known ending."""
    if job_to is JobState.CANCELLED:
        return JobOutcome.CANCELLED
    return _ENDING_OUTCOMES.get((job_to, reason))


class PodCall(StrEnum):
    """A mutating call on an existing pod. Its intent is committed on the attempt before the
    call is made, and a restarted daemon finishes it (DESIGN.md, crash safety)."""

    STOP = "stop"
    TERMINATE = "terminate"
    RESUME = "resume"
    BID_RESUME = "bid_resume"

    @property
    def ends_pod(self) -> bool:
        return self in (PodCall.STOP, PodCall.TERMINATE)


class CloudType(StrEnum):
    SECURE = "SECURE"
    COMMUNITY = "COMMUNITY"
    ALL = "ALL"


class OnIdle(StrEnum):
    TERMINATE = "terminate"
    STOP = "stop"


_Q, _L, _R, _P = JobState.QUEUED, JobState.LAUNCHING, JobState.RUNNING, JobState.PREEMPTED
_S, _F, _C, _E, _I = (
    JobState.SUCCEEDED,
    JobState.FAILED,
    JobState.CANCELLED,
    JobState.EXPIRED,
    JobState.INVALID,
)

JOB_TRANSITIONS: Mapping[JobState, frozenset[JobState]] = {
    # queued: waiting for a launch; a row that fails validation becomes invalid.
    _Q: frozenset({_L, _E, _C, _I, _F}),
    # launching: the intent row is written; the create call may fail (back to queued).
    _L: frozenset({_R, _Q, _S, _F, _C, _P, _E}),
    _R: frozenset({_S, _F, _C, _P, _Q, _E}),
    # preempted: resume (launching), relaunch later (queued), or give up.
    _P: frozenset({_Q, _L, _R, _S, _F, _C, _E}),
    _S: frozenset(),
    _F: frozenset(),
    _C: frozenset(),
    _E: frozenset(),
    _I: frozenset(),
}

TERMINAL_JOB_STATES = frozenset(s for s, nxt in JOB_TRANSITIONS.items() if not nxt)
LIVE_JOB_STATES = frozenset({_L, _R, _P})

_AL, _AR, _AP, _AE = (
    AttemptState.LAUNCHING,
    AttemptState.RUNNING,
    AttemptState.PREEMPTED,
    AttemptState.ENDED,
)

ATTEMPT_TRANSITIONS: Mapping[AttemptState, frozenset[AttemptState]] = {
    _AL: frozenset({_AR, _AE, _AP}),
    _AR: frozenset({_AP, _AE}),
    _AP: frozenset({_AL, _AR, _AE}),
    _AE: frozenset(),
}

LIVE_ATTEMPT_STATES = frozenset({_AL, _AR, _AP})


class IllegalTransition(SpotschedError):
    """That state change is not in the transition table."""


def check_job_transition(old: JobState, new: JobState, outcome: JobOutcome | None = None) -> None:
    if new not in JOB_TRANSITIONS[old]:
        raise IllegalTransition(f"job cannot go from {old} to {new}")
    if new is JobState.SUCCEEDED and outcome not in SUCCESSFUL_OUTCOMES:
        raise IllegalTransition(f"a job succeeds only when its work finished, not on {outcome}")


def check_attempt_transition(old: AttemptState, new: AttemptState) -> None:
    if new not in ATTEMPT_TRANSITIONS[old]:
        raise IllegalTransition(f"attempt cannot go from {old} to {new}")
