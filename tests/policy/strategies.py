"""Hypothesis strategies for random but consistent snapshots and policy configs.

Consistent means what the store and the observer can produce: a job in `launching`, `running`
or `preempted` owns at most one live attempt, in the same state (preempted attempts are spot);
an on-demand attempt only for a job with an on-demand limit, at a price under it, and a spot
attempt's bid under the job's spot limit; times in order (submitted ≤ queued ≤ created ≤
started ≤ preempted ≤ now); pod ids unique; `first_seen` only on daemon-named pods that no live
attempt owns, and `kept_pods` (stopped on purpose by `on_idle = stop`) among those. Prices are
on RunPod's $0.001 grid; what off-grid limits do is tested by example in `test_offers.py`.

A pod with a live attempt's name but another id (an impostor) is generated only when the
attempt's own pod is absent: both at once is a known bug, tested in `test_lifecycle.py`.

Each primitive draw costs Hypothesis about 0.1 ms here, so independent small knobs are drawn
together as one element of a product list (which still shrinks towards its first, simplest
element), and every strategy is built once at import.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import count, permutations, product
from typing import Any, TypeVar

from hypothesis import strategies as st

from scheduler.domain.job import JobSpec
from scheduler.domain.states import (
    LIVE_JOB_STATES,
    AttemptKind,
    AttemptState,
    CloudType,
    EndReason,
    JobState,
    PodCall,
)
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
from scheduler.policy.config import BudgetEnforce, ForeignIdleRule, PolicyConfig, Strategy

from .factories import A40, A5000, H100, INSTALLATION, NEIGHBOUR, T0, spec

GPUS = (A40, A5000, H100)
HOUR = 3600.0
T = TypeVar("T")


def grid_prices(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Dollars per GPU-hour on RunPod's tenth-of-a-cent grid."""
    return st.integers(round(lo * 1000), round(hi * 1000)).map(lambda m: m / 1000)


def one_of_product(*axes: list[T] | tuple[T, ...]) -> st.SearchStrategy[tuple[T, ...]]:
    """One draw for several independent knobs.

    The first combination (every axis at its first, simplest value) stays first, so examples
    shrink towards it; the rest are shuffled with a fixed seed, because Hypothesis favours both
    ends of the list and the last combination of an ordered product is every axis at its most
    extreme value.
    """
    combos = list(product(*axes))
    rest = combos[1:]
    random.Random(0).shuffle(rest)
    return st.sampled_from([combos[0], *rest])


# -- market --------------------------------------------------------------------------------

_COMBOS = [(gpu, n, secure) for gpu in GPUS for n in (1, 2) for secure in (True, False)]
_QUOTE = one_of_product(
    [True, True, True, False],  # quoted at all
    [0.2, 0.05, 0.123, 0.199, 0.35, 0.5, 0.8, 1.2, 0.0, None],  # spot floor (0/None: no spot)
    [0.6, 0.2, 0.4, 0.9, 1.5, 2.5, 0.0, None],  # on-demand
    ["High", "Low", None],  # stock
)
_BUSY_QUOTE = one_of_product(
    [True],
    [0.2, 0.05, 0.123, 0.199, 0.35, 0.5, 0.8, 1.2, None],
    [0.6, 0.2, 0.4, 0.9, 1.5, 2.5, None],
    ["High", "Low"],
)


@st.composite
def markets(draw: st.DrawFn, *, busy: bool = False) -> MarketView | None:
    """None one time in ten; else quotes for most GPU types x counts x clouds.

    `busy`: always known, every combination quoted with stock (prices may still be missing).
    """
    if not busy and draw(st.integers(0, 9)) == 7:  # not 0: Hypothesis favours a range's ends
        return None
    quotes = []
    for gpu, n, secure in _COMBOS:
        quoted, spot, on_demand, stock = draw(_BUSY_QUOTE if busy else _QUOTE)
        if quoted:
            quotes.append(Quote(gpu, n, secure, spot, on_demand, stock))
    return MarketView(quotes=tuple(quotes), spot_capable=draw(st.integers(0, 5)) != 2)


# -- jobs ----------------------------------------------------------------------------------

_SPEEDS = (1.0, 0.5, 2.0, 3.0)
_GPU_CHOICES = st.sampled_from(
    [
        [{"id": g, "speed": v} for g, v in zip(gpus, speeds, strict=True)]
        for k in (1, 2, 3)
        for gpus in permutations(GPUS, k)
        for speeds in product(_SPEEDS, repeat=k)
    ]
)
"""1 to 3 acceptable GPU types in preference order, each with a relative speed."""
_LIMITS = one_of_product(
    [0.5, 0.3, 0.21, 0.15, 0.8, 1.0, 1.5, 0.123, 0.2, 0.36, 0.6],  # max_spot_price
    [None, 1.0, 0.6, 0.4, 0.3, 0.9, 2.0, 0.2, None],  # max_on_demand_price
)
_SHAPE = one_of_product(
    [1, 2],  # gpu_count
    list(CloudType),
    [0, 1, -1, 2],  # priority
    [None, 4 * HOUR, 3600.0, 600.0, 0.0],  # fallback_after
    [None, 3, 2, 1, 0],  # max_preemptions
)
_DEADLINE = one_of_product(
    [None, 24 * HOUR, 6 * HOUR, -600.0, 3 * HOUR, 2 * HOUR, 0.0, 5400.0, HOUR, 600.0, 12 * HOUR],
    [None, 600.0, HOUR, 4 * HOUR, 8 * HOUR],  # estimated_runtime
)
"""Seconds from now to the deadline, and the estimated runtime."""
_ENDS = one_of_product(
    [600.0, None, 300.0, 1800.0],  # idle_timeout
    [300.0, 0.0],  # idle_grace
    ["terminate", "stop"],  # on_idle
    [None, 8 * HOUR, HOUR],  # max_runtime
    [None, 30.0, 10.0, 2.0],  # max_cost
    [False, True],  # checkpoint
)
_ANY_STATE = (
    [JobState.QUEUED] * 4
    + [JobState.LAUNCHING, JobState.RUNNING, JobState.PREEMPTED] * 2
    + [s for s in JobState if s not in LIVE_JOB_STATES and s is not JobState.QUEUED]
)
_MISC = (
    [0, 1, 2, 3],  # preemptions
    [0.0, 1.0, 5.0, 20.0],  # spend
    [False] * 9 + [True],  # cancel requested
    [True] * 9 + [False],  # has its live attempt (if in a live state)
)
_JOB = one_of_product(_ANY_STATE, *_MISC)
_BUSY_JOB = one_of_product([JobState.QUEUED] * 3 + [JobState.RUNNING, JobState.LAUNCHING], *_MISC)
_FRACTION = st.integers(0, 1000)
_ATTEMPT_MISC = one_of_product([1, 2, 3], [True, False], [0, 0, 1, 3], [0, 1, 2])


def _before(draw: st.DrawFn, t: datetime, lo: datetime, *, grid: int = 1) -> datetime:
    """An instant in [lo, t], on a `grid`-second grid counted back from t."""
    steps = max(0, int((t - lo).total_seconds())) // grid
    return t - timedelta(seconds=(steps * draw(_FRACTION) // 1000) * grid)


@st.composite
def job_specs(draw: st.DrawFn, now: datetime) -> JobSpec:
    gpu_count, cloud, priority, fallback_after, max_preemptions = draw(_SHAPE)
    deadline_in, estimated_runtime = draw(_DEADLINE)
    idle_timeout, idle_grace, on_idle, max_runtime, max_cost, checkpoint = draw(_ENDS)
    max_spot_price, max_on_demand_price = draw(_LIMITS)
    return spec(
        gpu_types=draw(_GPU_CHOICES),
        max_spot_price=max_spot_price,
        gpu_count=gpu_count,
        cloud_type=cloud,
        max_on_demand_price=max_on_demand_price,
        fallback_after=fallback_after,
        max_preemptions=max_preemptions,
        deadline=None if deadline_in is None else now + timedelta(seconds=deadline_in),
        estimated_runtime=estimated_runtime,
        priority=priority,
        idle_timeout=idle_timeout,
        idle_grace=idle_grace,
        on_idle=on_idle,
        max_runtime=max_runtime,
        max_cost=max_cost,
        checkpoint=checkpoint,
    )


@st.composite
def attempts(
    draw: st.DrawFn,
    job_id: int,
    job_spec: JobSpec,
    state: JobState,
    since: datetime,
    now: datetime,
) -> AttemptView:
    a_state = AttemptState(state.value)
    on_demand = (
        job_spec.max_on_demand_price is not None
        and a_state is not AttemptState.PREEMPTED
        and draw(st.booleans())
    )
    limit = job_spec.max_on_demand_price if on_demand else job_spec.max_spot_price
    assert limit is not None
    price = max(1, round(limit * draw(_FRACTION))) / 1000
    number, pod_known, resume_failures, cloud_index = draw(_ATTEMPT_MISC)
    clouds: list[bool | None] = {
        CloudType.SECURE: [True],
        CloudType.COMMUNITY: [False],
        CloudType.ALL: [True, False, None],
    }[job_spec.cloud_type]
    created = _before(draw, now, since, grid=30)
    started = preempted = None
    if a_state is not AttemptState.LAUNCHING:
        started = _before(draw, now, created, grid=30)
    if a_state is AttemptState.PREEMPTED:
        assert started is not None
        preempted = _before(draw, now, max(started, now - timedelta(minutes=20)), grid=30)
    choices = job_spec.gpu_types
    intent = draw(_INTENT)
    pending: dict[str, Any] = {}
    if intent is not None and (a_state is AttemptState.PREEMPTED or intent.ends_pod):
        pending = {
            "pending_call": intent,
            "pending_reason": draw(st.sampled_from(EndReason)) if intent.ends_pod else None,
            "pending_job_to": draw(_INTENT_JOB_TO) if intent.ends_pod else None,
            "pending_bid": None if intent.ends_pod else price,
            "pending_at": _before(draw, now, created, grid=30),
        }
    return AttemptView(
        id=job_id * 10 + number,
        job_id=job_id,
        number=number,
        kind=AttemptKind.ON_DEMAND if on_demand else AttemptKind.SPOT,
        state=a_state,
        gpu_type_id=choices[draw(st.integers(0, len(choices) - 1))].gpu_type_id,
        gpu_count=job_spec.gpu_count,
        secure_cloud=clouds[cloud_index % len(clouds)],
        bid_per_gpu=None if on_demand else price,
        on_demand_price_per_gpu=price if on_demand else None,
        pod_name=pod_name(job_id, number, installation=INSTALLATION),
        pod_id=(
            f"pod-{job_id}-{number}" if pod_known or a_state is not AttemptState.LAUNCHING else None
        ),
        cost_per_hr=round(price * job_spec.gpu_count, 6),
        data_center_id=None,
        created_at=created,
        started_at=started,
        preempted_at=preempted,
        resume_failures=resume_failures if a_state is AttemptState.PREEMPTED else 0,
        launched_at=_before(draw, now, created, grid=30) if draw(st.booleans()) else None,
        **pending,
    )


_INTENT = st.sampled_from([None, None, None, PodCall.STOP, PodCall.TERMINATE, PodCall.BID_RESUME])
"""Most attempts carry no intent; some carry one a crashed daemon left behind."""
_INTENT_JOB_TO = st.sampled_from(
    [None, JobState.QUEUED, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED]
)


@st.composite
def jobs(draw: st.DrawFn, job_id: int, now: datetime, *, busy: bool = False) -> JobView:
    """A job in any state.

    `busy`: queued or live, not cancelled, nothing spent and no deadline passed, so most queued
    jobs want a launch.
    """
    job_spec = draw(job_specs(now))
    state, preemptions, spend, cancel, has_live = draw(_BUSY_JOB if busy else _JOB)
    if busy:
        spend, cancel, preemptions = 0.0, False, min(preemptions, 1)
        if job_spec.deadline is not None and job_spec.deadline <= now:
            job_spec = replace(job_spec, deadline=None)
    submitted = _before(draw, now, now - timedelta(hours=30), grid=60)
    queued_since = _before(draw, now, max(submitted, now - timedelta(hours=1)), grid=60)
    live = None
    if state in LIVE_JOB_STATES and has_live:
        live = draw(attempts(job_id, job_spec, state, queued_since, now))
    est = job_spec.estimated_runtime or HOUR
    return JobView(
        id=job_id,
        spec=job_spec,
        state=state,
        cancel_requested=cancel,
        submitted_at=submitted,
        queued_since=queued_since,
        preemptions=preemptions,
        spend=spend,
        work_seconds=float(round(est * draw(_FRACTION) / 1000)),
        live=live,
    )


# -- pods ----------------------------------------------------------------------------------

_POD_STATUS = st.sampled_from(
    [("RUNNING", True, None)]
    + [("RUNNING", True, ago) for ago in (0.0, 300.0, 900.0, 1800.0, 7200.0)]
    + [("EXITED", False, None), ("RUNNING", False, None)]
)
"""desired status, runtime up, seconds idle (None: busy)."""
_POD_FOR_ATTEMPT = st.sampled_from(["own", "none", "own", "impostor"])
_STRAY = one_of_product(
    # ours; other people's; a neighbour installation's; the old name format (before
    # installation ids), recorded by our attempts or not
    [
        "spotsched",
        "dev-box",
        "spotsched",
        "dev-notebook",
        "neighbour",
        "old",
        "old-recorded",
        "prod-api",
        "Dev-box",
    ],
    [None, 0.0, 299.0, 300.0, 900.0],  # first seen, seconds ago (daemon-named pods only)
    [1, 2, 3, 4],  # attempt number in the stray's name
)
_POD_COST = st.sampled_from([0.3, 0.0, 0.21, 1.2])


@st.composite
def pods_for(draw: st.DrawFn, job_list: list[JobView], now: datetime) -> list[PodView]:
    ids = count(1)
    out: list[PodView] = []

    def one(name: str, pod_id: str, first_seen: datetime | None = None) -> PodView:
        status, up, idle_ago = draw(_POD_STATUS)
        return PodView(
            pod_id=pod_id,
            name=name,
            desired_status=status,
            is_spot=True,
            cost_per_hr=draw(_POD_COST),
            gpu_count=1,
            gpu_type_id=A40,
            data_center_id=None,
            runtime_up=up,
            gpu_util=None if not up else 80.0 if idle_ago is None else 1.0,
            uptime_seconds=60.0 if up else None,
            idle_since=None if idle_ago is None else now - timedelta(seconds=idle_ago),
            first_seen=first_seen,
        )

    for j in job_list:
        a = j.live
        if a is None:
            continue
        which = draw(_POD_FOR_ATTEMPT)
        if which == "own":
            out.append(one(a.pod_name, a.pod_id or f"found-{next(ids)}"))
        elif which == "impostor" and a.pod_id is not None:
            out.append(one(a.pod_name, f"impostor-{next(ids)}"))
    live_names = {j.live.pod_name for j in job_list if j.live is not None}
    owners = [j.id for j in job_list] + [999]
    for _ in range(draw(st.integers(0, 4))):
        kind, seen_ago, number = draw(_STRAY)
        owner = owners[draw(st.integers(0, len(owners) - 1))]
        if kind == "spotsched":
            name = pod_name(owner, number, installation=INSTALLATION)
        elif kind == "neighbour":
            name = pod_name(owner, number, installation=NEIGHBOUR)
        elif kind.startswith("old"):
            name = f"spotsched-{owner}-{number}"
        else:
            out.append(one(kind, f"foreign-{next(ids)}"))
            continue
        if name not in live_names:
            seen = None if seen_ago is None else now - timedelta(seconds=seen_ago)
            pod_id = f"recorded-{next(ids)}" if kind == "old-recorded" else f"stray-{next(ids)}"
            out.append(one(name, pod_id, seen))
    return out


# -- config --------------------------------------------------------------------------------

_RULE = st.none() | one_of_product(["dev-*", "*"], [1800.0, 0.0, 600.0], ["stop", "terminate"])
_MARGIN = st.sampled_from([0.05, 0.0, 0.01, 0.25])
_TIMINGS = one_of_product(
    [90.0, 0.0, 600.0],  # launch_grace
    [1800.0, 600.0],  # launch_timeout
    [600.0, 0.0, 3600.0],  # resume_wait
    [3, 1, 2],  # max_resume_failures
    [300.0, 0.0],  # orphan_grace
)
_DEADLINE_KNOBS = one_of_product(list(Strategy), [300.0, 0.0, 1800.0])
_SPEND_RATE = st.sampled_from([None, 1.0, 0.5, 0.3, 2.0, 0.0, 0.25, 0.8, 1.5, 0.1, None, 4.0])
_BUDGET = st.sampled_from([None, 0.0, 10.0, 100.0])
_BUSY_BUDGET = st.sampled_from([None, None, None, None, 100.0, 10.0, 1000.0, 0.0])
_MONEY = st.sampled_from([0.0, 5.0, 10.0, 120.0])


@st.composite
def configs(draw: st.DrawFn, *, busy: bool = False) -> PolicyConfig:
    """Any config; `busy`: budgets mostly unset, so they do not hold every launch."""
    budget = _BUSY_BUDGET if busy else _BUDGET
    rule = draw(_RULE)
    launch_grace, launch_timeout, resume_wait, resume_failures, orphan_grace = draw(_TIMINGS)
    strategy, changeover = draw(_DEADLINE_KNOBS)
    return PolicyConfig(
        bid_margin=draw(_MARGIN),
        changeover_delay=changeover,
        launch_grace=launch_grace,
        launch_timeout=launch_timeout,
        resume_wait=resume_wait,
        max_resume_failures=resume_failures,
        orphan_grace=orphan_grace,
        max_spend_rate=draw(_SPEND_RATE),
        daily_budget=draw(budget),
        monthly_budget=draw(budget),
        foreign_idle=None if rule is None else ForeignIdleRule(rule[0], rule[1], action=rule[2]),
        strategy=strategy,
        budget_enforce=draw(st.sampled_from(BudgetEnforce)),
    )


# -- the whole case ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One generated snapshot and the config to decide it with."""

    snap: Snapshot
    cfg: PolicyConfig


_JOB_IDS = st.lists(st.integers(1, 40), min_size=0, max_size=5, unique=True)


@st.composite
def cases(draw: st.DrawFn, *, busy: bool = False) -> Case:
    """Any snapshot; `busy`: a known market and jobs that mostly want a launch."""
    now = T0 + timedelta(seconds=draw(st.integers(0, 7 * 24 * 3600)))
    job_list = [draw(jobs(i, now, busy=busy)) for i in draw(_JOB_IDS)]
    today = draw(_MONEY)
    pods = draw(pods_for(job_list, now))
    strays = [p.name for p in pods if p.pod_id.startswith(("stray-", "recorded-"))]
    snap = Snapshot(
        now=now,
        jobs=tuple(job_list),
        pods=tuple(pods),
        market=draw(markets(busy=busy)),
        money=Money(spend_today=today, spend_month=today + draw(_MONEY)),
        kept_pods=frozenset(name for name in strays if draw(st.integers(0, 2)) == 1),
        installation=INSTALLATION,
        recorded_pods=frozenset(p.pod_id for p in pods if p.pod_id.startswith("recorded-")),
    )
    return Case(snap, draw(configs(busy=busy)))
