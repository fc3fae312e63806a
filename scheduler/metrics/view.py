"""What one tick report means as gauge values: pure functions over `TickReport`.

Why: the gauges are read at scrape time from a frozen `FleetView`/`JobsView` built once per
tick, so a scrape never touches the database or RunPod and always sees one consistent tick.
The market keeps its own small memory (`MarketCache`) because most ticks poll only the GPU
types the jobs need, and the other types must not vanish from the dashboard between full polls.

What it must not do: do I/O, read a clock, or use job or pod ids as labels (they only key the
de-duplication of queue-wait observations, never a series).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scheduler.domain.actions import Action, Launch, MoveJob
from scheduler.domain.states import TERMINAL_JOB_STATES, AttemptKind, JobState
from scheduler.domain.views import JobView, MarketView, PodView

SPOT, ON_DEMAND = AttemptKind.SPOT.value, AttemptKind.ON_DEMAND.value
KINDS = (SPOT, ON_DEMAND)
OPEN_JOB_STATES = tuple(s.value for s in JobState if s not in TERMINAL_JOB_STATES)

# RunPod's stockStatus as a number, so it can be graphed and compared: none listed is 0.
STOCK_LEVELS = {"low": 1.0, "medium": 2.0, "high": 3.0}


def stock_level(status: str | None) -> float:
    return STOCK_LEVELS.get((status or "").strip().lower(), 0.0)


def cloud_label(secure: bool) -> str:
    return "SECURE" if secure else "COMMUNITY"


@dataclass(frozen=True, slots=True)
class MarketEntry:
    """One GPU type in one cloud, per GPU-hour, as last polled."""

    gpu_type: str
    cloud_type: str
    spot_min_bid: float | None
    on_demand: float | None
    stock: float
    seen: datetime


class MarketCache:
    """The latest quote per (GPU type, cloud type), forgotten `max_age` seconds after the last
    poll that listed it (a type RunPod stops listing disappears instead of going stale)."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._entries: dict[tuple[str, str], MarketEntry] = {}

    def update(self, market: MarketView, now: datetime) -> None:
        for q in market.quotes:
            if q.gpu_count != 1:  # prices are per GPU; the one-GPU quote stands for the type
                continue
            cloud = cloud_label(q.secure_cloud)
            self._entries[(q.gpu_type_id, cloud)] = MarketEntry(
                gpu_type=q.gpu_type_id,
                cloud_type=cloud,
                spot_min_bid=q.spot_min_bid if q.spot_offered else None,
                on_demand=q.on_demand,
                stock=stock_level(q.stock),
                seen=now,
            )

    def entries(self, now: datetime) -> tuple[MarketEntry, ...]:
        oldest = now - timedelta(seconds=self.max_age)
        self._entries = {k: e for k, e in self._entries.items() if e.seen >= oldest}
        return tuple(e for _, e in sorted(self._entries.items()))


@dataclass(frozen=True, slots=True)
class FleetView:
    """The daemon's own pods (this installation's, `TickReport.own_pods`), as listed by the
    tick; a neighbour installation's `spotsched-` pods and people's pods are not counted."""

    pods: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, state) -> count
    burn_rate: dict[str, float] = field(default_factory=dict)  # kind -> dollars per hour
    bids: dict[str, float] = field(default_factory=dict)  # gpu type -> highest live bid


def fleet_view(
    pods: Iterable[PodView], jobs: Iterable[JobView], own_pods: Collection[str]
) -> FleetView:
    counts: dict[tuple[str, str], int] = {}
    burn = dict.fromkeys(KINDS, 0.0)
    for pod in pods:
        if pod.pod_id not in own_pods:
            continue
        kind = SPOT if pod.is_spot else ON_DEMAND
        state = pod.desired_status.lower()
        counts[(kind, state)] = counts.get((kind, state), 0) + 1
        if pod.desired_status == "RUNNING":
            burn[kind] += pod.cost_per_hr
    bids: dict[str, float] = {}
    for job in jobs:
        a = job.live
        if a is None or not a.is_spot or a.bid_per_gpu is None:
            continue
        bids[a.gpu_type_id] = max(bids.get(a.gpu_type_id, 0.0), a.bid_per_gpu)
    return FleetView(pods=counts, burn_rate=burn, bids=bids)


@dataclass(frozen=True, slots=True)
class JobsView:
    by_state: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OPEN_JOB_STATES, 0))
    held: dict[str, int] = field(default_factory=dict)  # hold reason -> jobs
    oldest_queued_seconds: float | None = None
    min_deadline_slack_seconds: float | None = None
    queued_past_deadline: int = 0
    price_limits: dict[tuple[str, str], float] = field(default_factory=dict)  # (gpu, kind)


def _acted_on(actions: Iterable[Action]) -> set[int]:
    """Jobs this tick launched or moved: no longer waiting once the tick is applied."""
    return {a.job_id for a in actions if isinstance(a, Launch | MoveJob)}


def deadline_slack(job: JobView, now: datetime) -> float | None:
    """Seconds to spare: time to the deadline less the compute still needed (if estimated)."""
    if job.spec.deadline is None:
        return None
    left = (job.spec.deadline - now).total_seconds()
    return left - (job.remaining_work or 0.0)


def jobs_view(
    jobs: Iterable[JobView], actions: Iterable[Action], holds: dict[int, str], now: datetime
) -> JobsView:
    acted = _acted_on(actions)
    by_state = dict.fromkeys(OPEN_JOB_STATES, 0)
    oldest: float | None = None
    slack: float | None = None
    past = 0
    limits: dict[tuple[str, str], float] = {}
    for job in jobs:
        by_state[job.state.value] = by_state.get(job.state.value, 0) + 1
        s = deadline_slack(job, now)
        if s is not None:
            slack = s if slack is None else min(slack, s)
        for choice in job.spec.gpu_types:
            key = (choice.gpu_type_id, SPOT)
            limits[key] = max(limits.get(key, 0.0), job.spec.max_spot_price)
            if job.spec.max_on_demand_price is not None:
                key = (choice.gpu_type_id, ON_DEMAND)
                limits[key] = max(limits.get(key, 0.0), job.spec.max_on_demand_price)
        if job.state is not JobState.QUEUED or job.id in acted:
            continue
        waited = (now - job.queued_since).total_seconds()
        oldest = waited if oldest is None else max(oldest, waited)
        if job.spec.deadline is not None and job.spec.deadline < now:
            past += 1
    held: dict[str, int] = {}
    for reason in holds.values():
        held[reason] = held.get(reason, 0) + 1
    return JobsView(
        by_state=by_state,
        held=held,
        oldest_queued_seconds=oldest,
        min_deadline_slack_seconds=slack,
        queued_past_deadline=past,
        price_limits=limits,
    )


class LaunchWaits:
    """Queue waits of new attempts, each observed once: an attempt id first seen live in a
    snapshot gives `created_at - queued_since`. The first snapshot after a start only seeds
    the memory, so attempts adopted after a restart are not counted as launches."""

    def __init__(self) -> None:
        self._seen: set[int] | None = None

    def new(self, jobs: Iterable[JobView]) -> list[tuple[str, float]]:
        """(kind, seconds waited) of each attempt not seen before."""
        live = {j.live.id: j for j in jobs if j.live is not None}
        if self._seen is None:
            self._seen = set(live)
            return []
        out = []
        for attempt_id, job in sorted(live.items()):
            if attempt_id in self._seen or job.live is None:
                continue
            waited = (job.live.created_at - job.queued_since).total_seconds()
            out.append((job.live.kind.value, max(0.0, waited)))
        self._seen = set(live)
        return out
