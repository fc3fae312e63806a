"""The frozen picture one reconcile tick decides on: jobs, attempts, pods, market, money.

The reconciler builds a `Snapshot` from the store and RunPod; `policy.decide` reads only this.
Nothing here knows about SQL rows or GraphQL payloads.

Which pods are ours. Several spotsched installations (and people) share one RunPod account, and
RunPod pod names are neither unique nor owned, so a name prefix proves nothing. Each database
has an installation id (created once, at random, by migration 0004) and every pod it creates is
named `spotsched-{installation}-{job}-{attempt}`, with the id in its env too. A pod is this
installation's (`Snapshot.ours`) when

- its name carries this installation's id, or
- its pod id is recorded on one of this database's attempts (`Snapshot.recorded_pods`): the
  attempts table keeps every pod we created or adopted, which is how pods named in the old
  format `spotsched-{job}-{attempt}` (before installation ids) stay ours after an upgrade.

A live attempt keeps managing (and adopting) the pod of its exact recorded `pod_name`, old
format included (the one window left: an old-format attempt still waiting to learn its pod id
at the upgrade adopts by name, as before, and a neighbour's pod of the same old name could be
taken for it). Only pods that are ours are ever swept as orphans; an old-format pod whose id
no attempt recorded may be a neighbour's (every old installation named its first pod
`spotsched-1-1`) or a person's, so it is left alone, as is any other `spotsched-...` pod that is
not ours: another daemon manages it, and stopping it would make that daemon record a false
ending. The opt-in idle rule for foreign pods (`foreign_idle`) never touches `spotsched-` pods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from scheduler.domain.job import JobSpec
from scheduler.domain.states import AttemptKind, AttemptState, EndReason, JobState, PodCall

POD_NAME_PREFIX = "spotsched-"
INSTALLATION_ID_PATTERN = re.compile(r"[a-z][a-z0-9]{5,19}")
"""An installation id: lowercase letters and digits, a letter first (so the old name format,
digits only, can never be mistaken for it), short enough to keep pod names short."""
_NEW_NAME = re.compile(r"spotsched-([a-z][a-z0-9]*)-([0-9]+)-([0-9]+)")
_OLD_NAME = re.compile(r"spotsched-([0-9]+)-([0-9]+)")


def is_installation_id(value: str) -> bool:
    return INSTALLATION_ID_PATTERN.fullmatch(value) is not None


def pod_name(job_id: int, attempt_number: int, *, installation: str) -> str:
    """The deterministic name of a job's n-th pod: the idempotency key of every create.

    RunPod documents no length limit for a pod name (REST: `minLength 1`); ours stay under 64
    characters (a DNS label) for any job id and attempt number up to 10^15."""
    if not is_installation_id(installation):
        raise ValueError(f"not an installation id: {installation!r}")
    return f"{POD_NAME_PREFIX}{installation}-{job_id}-{attempt_number}"


def parse_pod_name(name: str) -> tuple[int, int] | None:
    """(job id, attempt number) of a spotsched pod name, either format, else None.

    The name says nothing about *whose* pod it is: see `pod_installation` and `Snapshot.ours`."""
    new = _NEW_NAME.fullmatch(name)
    if new is not None:
        return int(new.group(2)), int(new.group(3))
    old = _OLD_NAME.fullmatch(name)
    if old is not None:
        return int(old.group(1)), int(old.group(2))
    return None


def pod_installation(name: str) -> str | None:
    """The installation id a pod name carries; None for the old format and other names."""
    match = _NEW_NAME.fullmatch(name)
    return match.group(1) if match is not None else None


@dataclass(frozen=True, slots=True)
class AttemptView:
    id: int
    job_id: int
    number: int
    kind: AttemptKind
    state: AttemptState
    gpu_type_id: str
    gpu_count: int
    secure_cloud: bool | None
    bid_per_gpu: float | None
    on_demand_price_per_gpu: float | None
    pod_name: str
    pod_id: str | None
    cost_per_hr: float | None
    data_center_id: str | None
    created_at: datetime
    started_at: datetime | None = None
    preempted_at: datetime | None = None
    resume_failures: int = 0
    cost: float = 0.0
    running_seconds: float = 0.0
    launched_at: datetime | None = None
    """The latest create or resume call: `launch_timeout` counts from here."""
    pending_call: PodCall | None = None
    """A stop, terminate, resume or bid-resume asked for and not yet confirmed (the intent)."""
    pending_reason: EndReason | None = None
    pending_job_to: JobState | None = None
    pending_detail: str | None = None
    pending_bid: float | None = None
    pending_at: datetime | None = None

    def __post_init__(self) -> None:
        # rows arrive as plain columns: the closed vocabularies become their enums here
        for name, enum in (
            ("pending_call", PodCall),
            ("pending_reason", EndReason),
            ("pending_job_to", JobState),
        ):
            value = getattr(self, name)
            if value is not None and not isinstance(value, enum):
                object.__setattr__(self, name, enum(value))

    @property
    def is_spot(self) -> bool:
        return self.kind is AttemptKind.SPOT

    @property
    def last_launch(self) -> datetime:
        return self.launched_at or self.created_at


@dataclass(frozen=True, slots=True)
class JobView:
    id: int
    spec: JobSpec
    state: JobState
    cancel_requested: bool
    submitted_at: datetime
    queued_since: datetime
    preemptions: int = 0
    spend: float = 0.0
    work_seconds: float = 0.0
    live: AttemptView | None = None
    deadline_missed: bool = False

    @property
    def remaining_work(self) -> float | None:
        """Seconds of compute still needed at speed 1.0, if the user gave an estimate."""
        if self.spec.estimated_runtime is None:
            return None
        return max(0.0, self.spec.estimated_runtime - self.work_seconds)


@dataclass(frozen=True, slots=True)
class PodView:
    """One pod as RunPod reports it, reduced to what policy needs."""

    pod_id: str
    name: str
    desired_status: str
    is_spot: bool
    cost_per_hr: float
    gpu_count: int
    gpu_type_id: str | None
    data_center_id: str | None
    runtime_up: bool
    gpu_util: float | None
    uptime_seconds: float | None
    idle_since: datetime | None = None
    first_seen: datetime | None = None
    status_changed_at: datetime | None = None
    """When RunPod says the pod last started or halted (its `lastStatusChange`), if readable."""

    @property
    def exited(self) -> bool:
        return self.desired_status == "EXITED"


@dataclass(frozen=True, slots=True)
class Quote:
    """The market for one GPU type at one GPU count in one cloud, prices per GPU-hour."""

    gpu_type_id: str
    gpu_count: int
    secure_cloud: bool
    spot_min_bid: float | None
    on_demand: float | None
    stock: str | None

    @property
    def spot_offered(self) -> bool:
        return self.spot_min_bid is not None and self.spot_min_bid > 0 and self.stock is not None


@dataclass(frozen=True, slots=True)
class MarketView:
    quotes: tuple[Quote, ...]
    spot_capable: bool
    _by_key: dict[tuple[str, int, bool], Quote] = field(init=False, repr=False, compare=False)
    """`quotes` by (GPU type, count, cloud), the first of each key: policy asks per job."""

    def __post_init__(self) -> None:
        by_key: dict[tuple[str, int, bool], Quote] = {}
        for q in self.quotes:
            by_key.setdefault((q.gpu_type_id, q.gpu_count, q.secure_cloud), q)
        object.__setattr__(self, "_by_key", by_key)

    def quote(self, gpu_type_id: str, gpu_count: int, secure_cloud: bool) -> Quote | None:
        return self._by_key.get((gpu_type_id, gpu_count, secure_cloud))


@dataclass(frozen=True, slots=True)
class Money:
    spend_today: float = 0.0
    spend_month: float = 0.0


@dataclass(frozen=True, slots=True)
class SpotHistory:
    """What the daemon has seen of spot: mean uninterrupted spot run before a preemption."""

    mean_lifetime_seconds: float | None = None
    observations: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    now: datetime
    jobs: tuple[JobView, ...]
    pods: tuple[PodView, ...]
    market: MarketView | None
    money: Money = field(default_factory=Money)
    history: SpotHistory = field(default_factory=SpotHistory)
    kept_pods: frozenset[str] = frozenset()
    """Names of pods the daemon stopped on purpose and leaves to the user (`on_idle = stop`)."""
    installation: str | None = None
    """This database's installation id; None: no pod is ours by its name."""
    recorded_pods: frozenset[str] = frozenset()
    """Ids of listed pods that this database's attempts recorded (ours whatever their name)."""

    def ours(self, pod: PodView) -> bool:
        """Whether the pod is this installation's (see the module docstring)."""
        if self.installation is not None and pod_installation(pod.name) == self.installation:
            return True
        return pod.pod_id in self.recorded_pods

    def pod_named(self, name: str) -> PodView | None:
        for p in self.pods:
            if p.name == name:
                return p
        return None
