"""Small builders for the policy's inputs: plain functions with defaults, no mocks.

Job specs go through `parse_job`, the same validation every submitted job passes, so a test can
only build jobs a user could submit. Times are offsets in seconds from `T0`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from scheduler.domain.actions import Action, EndAttempt, Hold, Launch, MoveJob
from scheduler.domain.job import JobSpec, parse_job
from scheduler.domain.states import AttemptKind, AttemptState, JobState
from scheduler.domain.views import (
    AttemptView,
    JobView,
    MarketView,
    Money,
    PodView,
    Quote,
    Snapshot,
    pod_name,
)
from scheduler.policy import PolicyConfig, decide

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
INSTALLATION = "ourinstall1"  # this database's installation id in every snapshot
NEIGHBOUR = "neighbour22"  # another installation on the same RunPod account
A40 = "NVIDIA A40"
A5000 = "NVIDIA RTX A5000"
H100 = "NVIDIA H100 80GB HBM3"

A = TypeVar("A")


def at(seconds: float) -> datetime:
    """The instant `seconds` after T0 (negative: before)."""
    return T0 + timedelta(seconds=seconds)


def spec(**fields: Any) -> JobSpec:
    """A valid job spec: one A40, spot up to $0.50/GPU-h, spot only, no deadline.

    A field given as None is None in the spec (`parse_job` would read it as "use the default").
    """
    raw: dict[str, Any] = {
        "name": "train",
        "image": "ghcr.io/acme/train:1",
        "gpu_types": [A40],
        "max_spot_price": 0.5,
    }
    raw.update(fields)
    nones = {k: None for k, v in fields.items() if v is None}
    return replace(parse_job(raw), **nones)


def job(
    job_id: int = 1,
    *,
    state: JobState = JobState.QUEUED,
    submitted_at: datetime = T0,
    queued_since: datetime | None = None,
    cancel_requested: bool = False,
    preemptions: int = 0,
    spend: float = 0.0,
    work_seconds: float = 0.0,
    live: AttemptView | None = None,
    **spec_fields: Any,
) -> JobView:
    """A job; keyword arguments that are not JobView fields go to `spec`."""
    return JobView(
        id=job_id,
        spec=spec(**spec_fields),
        state=state,
        cancel_requested=cancel_requested,
        submitted_at=submitted_at,
        queued_since=queued_since or submitted_at,
        preemptions=preemptions,
        spend=spend,
        work_seconds=work_seconds,
        live=live,
    )


_JOB_STATE_OF = {
    AttemptState.LAUNCHING: JobState.LAUNCHING,
    AttemptState.RUNNING: JobState.RUNNING,
    AttemptState.PREEMPTED: JobState.PREEMPTED,
}


def attempt(
    job_id: int = 1,
    *,
    attempt_id: int | None = None,
    number: int = 1,
    kind: AttemptKind = AttemptKind.SPOT,
    state: AttemptState = AttemptState.RUNNING,
    gpu_type_id: str = A40,
    gpu_count: int = 1,
    secure_cloud: bool | None = True,
    price: float = 0.3,
    pod_id: str | None = "default",
    created_at: datetime = T0,
    started_at: datetime | None = None,
    preempted_at: datetime | None = None,
    resume_failures: int = 0,
) -> AttemptView:
    """A live attempt; `price` is the bid (spot) or the list price (on-demand) per GPU-hour.

    `pod_id="default"` names the pod `pod-<job>-<number>`; None means the create call's outcome
    is unknown (the pod was never adopted). Running and preempted attempts have started.
    """
    if pod_id == "default":
        pod_id = f"pod-{job_id}-{number}"
    if started_at is None and state is not AttemptState.LAUNCHING:
        started_at = created_at
    spot = kind is AttemptKind.SPOT
    return AttemptView(
        id=attempt_id if attempt_id is not None else job_id * 100 + number,
        job_id=job_id,
        number=number,
        kind=kind,
        state=state,
        gpu_type_id=gpu_type_id,
        gpu_count=gpu_count,
        secure_cloud=secure_cloud,
        bid_per_gpu=price if spot else None,
        on_demand_price_per_gpu=None if spot else price,
        pod_name=pod_name(job_id, number, installation=INSTALLATION),
        pod_id=pod_id,
        cost_per_hr=round(price * gpu_count, 6),
        data_center_id=None,
        created_at=created_at,
        started_at=started_at,
        preempted_at=preempted_at,
        resume_failures=resume_failures,
    )


def live_job(a: AttemptView, **job_fields: Any) -> JobView:
    """The job that owns attempt `a`, in the job state that matches the attempt's state."""
    job_fields.setdefault("state", _JOB_STATE_OF[a.state])
    return job(a.job_id, live=a, **job_fields)


def pod(
    name: str,
    *,
    pod_id: str | None = None,
    desired_status: str = "RUNNING",
    is_spot: bool = True,
    cost_per_hr: float = 0.3,
    gpu_count: int = 1,
    gpu_type_id: str | None = A40,
    runtime_up: bool = True,
    gpu_util: float | None = 90.0,
    idle_since: datetime | None = None,
    first_seen: datetime | None = None,
) -> PodView:
    return PodView(
        pod_id=pod_id or f"id-{name}",
        name=name,
        desired_status=desired_status,
        is_spot=is_spot,
        cost_per_hr=cost_per_hr,
        gpu_count=gpu_count,
        gpu_type_id=gpu_type_id,
        data_center_id="EU-RO-1",
        runtime_up=runtime_up,
        gpu_util=gpu_util,
        uptime_seconds=60.0 if runtime_up else None,
        idle_since=idle_since,
        first_seen=first_seen,
    )


def pod_of(a: AttemptView, **fields: Any) -> PodView:
    """The pod RunPod shows for attempt `a` (same name, same id when the attempt knows it)."""
    fields.setdefault("pod_id", a.pod_id or f"pod-{a.job_id}-{a.number}")
    fields.setdefault("is_spot", a.is_spot)
    fields.setdefault("cost_per_hr", a.cost_per_hr or 0.0)
    fields.setdefault("gpu_count", a.gpu_count)
    fields.setdefault("gpu_type_id", a.gpu_type_id)
    if fields.get("desired_status") == "EXITED":
        fields.setdefault("runtime_up", False)
    return pod(a.pod_name, **fields)


def quote(
    gpu_type_id: str = A40,
    *,
    spot: float | None = 0.2,
    on_demand: float | None = 0.6,
    secure: bool = True,
    count: int = 1,
    stock: str | None = "High",
) -> Quote:
    return Quote(gpu_type_id, count, secure, spot, on_demand, stock)


def market(*quotes: Quote, spot_capable: bool = True) -> MarketView:
    """A market; with no quotes, the default A40 quote in both clouds."""
    if not quotes:
        quotes = (quote(secure=True), quote(secure=False))
    return MarketView(quotes=tuple(quotes), spot_capable=spot_capable)


_DEFAULT_MARKET = market()


def snapshot(
    *jobs: JobView,
    pods: Iterable[PodView] = (),
    market: MarketView | None = _DEFAULT_MARKET,
    now: datetime = T0,
    spend_today: float = 0.0,
    spend_month: float = 0.0,
) -> Snapshot:
    """A snapshot at `now`; the market defaults to the A40 quote in both clouds."""
    return Snapshot(
        now=now,
        jobs=tuple(jobs),
        pods=tuple(pods),
        market=market,
        money=Money(spend_today=spend_today, spend_month=spend_month),
        installation=INSTALLATION,
    )


def our_pod_name(job_id: int, number: int) -> str:
    return pod_name(job_id, number, installation=INSTALLATION)


def config(**fields: Any) -> PolicyConfig:
    return PolicyConfig(**fields)


def run(snap: Snapshot, cfg: PolicyConfig | None = None) -> list[Action]:
    return decide(snap, cfg or PolicyConfig())


def of_type(actions: Sequence[Action], kind: type[A]) -> list[A]:
    return [a for a in actions if isinstance(a, kind)]


def launches(actions: Sequence[Action]) -> list[Launch]:
    return of_type(actions, Launch)


def only_launch(actions: Sequence[Action]) -> Launch:
    found = launches(actions)
    assert len(found) == 1, actions
    return found[0]


def holds(actions: Sequence[Action]) -> dict[int, str]:
    return {h.job_id: h.reason for h in of_type(actions, Hold)}


def moves(actions: Sequence[Action]) -> list[MoveJob]:
    return of_type(actions, MoveJob)


def ends(actions: Sequence[Action]) -> list[EndAttempt]:
    return of_type(actions, EndAttempt)
