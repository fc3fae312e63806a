"""What policy decides: frozen actions that the reconciler's `apply` step executes in order.

Each action carries its own idempotency key (job/attempt ids, deterministic pod names) and the
state it expects to find, so applying a stale action fails safely instead of doing harm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scheduler.domain.states import AttemptKind, EndReason, JobOutcome, JobState, PodCall


@dataclass(frozen=True, slots=True)
class MoveJob:
    """A job changes state without any pod being involved (expire, cancel while queued)."""

    job_id: int
    from_state: JobState
    to_state: JobState
    reason: str
    outcome: JobOutcome | None = None


@dataclass(frozen=True, slots=True)
class Launch:
    """Write the intent row (attempt `launching`), then create the pod."""

    job_id: int
    from_state: JobState
    kind: AttemptKind
    gpu_type_id: str
    gpu_count: int
    secure_cloud: bool
    bid_per_gpu: float | None
    on_demand_price_per_gpu: float | None
    data_center_id: str | None
    reason: str

    @property
    def cost_per_hr(self) -> float:
        per_gpu = (
            self.bid_per_gpu if self.kind is AttemptKind.SPOT else self.on_demand_price_per_gpu
        )
        return (per_gpu or 0.0) * self.gpu_count


@dataclass(frozen=True, slots=True)
class AdoptPod:
    """A launching attempt's pod exists (found by its name): record its id."""

    attempt_id: int
    job_id: int
    pod_id: str
    cost_per_hr: float


@dataclass(frozen=True, slots=True)
class MarkRunning:
    attempt_id: int
    job_id: int
    job_from: JobState


@dataclass(frozen=True, slots=True)
class MarkPreempted:
    attempt_id: int
    job_id: int
    job_from: JobState


@dataclass(frozen=True, slots=True)
class ResumeSpot:
    """`podBidResume` the stopped spot pod on its host."""

    attempt_id: int
    job_id: int
    pod_id: str
    bid_per_gpu: float
    gpu_count: int


@dataclass(frozen=True, slots=True)
class ConfirmResume:
    """A bid-resume whose intent was committed and whose pod is running again: the call went
    through before the daemon heard back (it crashed, or the answer was lost)."""

    attempt_id: int
    job_id: int
    job_from: JobState
    bid_per_gpu: float
    since: datetime


@dataclass(frozen=True, slots=True)
class ResumeLost:
    """A bid-resume whose intent was committed but whose pod is still stopped."""

    attempt_id: int
    job_id: int


@dataclass(frozen=True, slots=True)
class MissDeadline:
    """The job's deadline passed before it finished: recorded once, shown, counted."""

    job_id: int


@dataclass(frozen=True, slots=True)
class EndAttempt:
    """End the job's live attempt; stop or terminate its pod first when `pod_call` says so.

    `pod_call` is STOP, TERMINATE or None (the pod is already gone or never existed). The
    intent (call, reason, `job_to`, detail) is committed before the call; a restarted daemon
    that finds it finishes this same ending. `job_to` is where the job goes next (None: leave
    the job's state alone).
    """

    attempt_id: int
    job_id: int
    job_from: JobState
    job_to: JobState | None
    reason: EndReason
    pod_id: str | None
    pod_call: PodCall | None
    detail: str = ""
    since: datetime | None = None
    """When the pod stopped billing, if known before this action (a finished intent)."""


@dataclass(frozen=True, slots=True)
class TerminateOrphan:
    """A pod with the daemon's name prefix that no live attempt owns, or an idle foreign pod."""

    pod_id: str
    name: str
    reason: str
    stop_only: bool = False


@dataclass(frozen=True, slots=True)
class Hold:
    """A job that could launch is held back; no state changes, only logs, metrics and status."""

    job_id: int
    reason: str


Action = (
    Hold
    | MoveJob
    | Launch
    | AdoptPod
    | MarkRunning
    | MarkPreempted
    | ResumeSpot
    | ConfirmResume
    | ResumeLost
    | MissDeadline
    | EndAttempt
    | TerminateOrphan
)
