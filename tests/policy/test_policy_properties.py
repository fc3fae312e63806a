"""Properties of `decide` over random but consistent snapshots (see `strategies.py`).

Each property is a promise the daemon makes to its users: never two pods for one job, never
over the spend cap or a budget, never a price above the job's limit, the same snapshot always
gives the same actions, every state change is an edge of the transition table, and a job that
has ended is never touched again.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

from scheduler.domain.actions import (
    Action,
    AdoptPod,
    ConfirmResume,
    EndAttempt,
    Hold,
    Launch,
    MarkPreempted,
    MarkRunning,
    MissDeadline,
    MoveJob,
    ResumeLost,
    ResumeSpot,
    TerminateOrphan,
)
from scheduler.domain.states import (
    ATTEMPT_TRANSITIONS,
    JOB_TRANSITIONS,
    TERMINAL_JOB_STATES,
    AttemptKind,
    AttemptState,
    JobState,
)
from scheduler.domain.views import JobView, MarketView, Snapshot
from scheduler.policy import decide
from scheduler.policy.config import BudgetEnforce
from scheduler.policy.offers import clouds_for

from .factories import ends, launches, of_type
from .strategies import Case, cases

# A snapshot costs Hypothesis ~15 ms to generate here; these counts keep the module near 15 s.
# The two launch properties get more examples: their failures need launches near a limit.
# Generation speed depends on the machine's load, which is no reason to fail a test.
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LAUNCH_PROPERTY = settings(PROPERTY, max_examples=200)


def _jobs(snap: Snapshot) -> dict[int, JobView]:
    return {j.id: j for j in snap.jobs}


@PROPERTY
@given(cases())
def test_never_two_launches_for_a_job_nor_one_beside_its_live_attempt(case: Case) -> None:
    actions = decide(case.snap, case.cfg)
    jobs = _jobs(case.snap)
    launched = [a.job_id for a in launches(actions)]
    assert len(launched) == len(set(launched)), actions
    for i, act in enumerate(actions):
        if not isinstance(act, Launch):
            continue
        live = jobs[act.job_id].live
        if live is None:
            assert jobs[act.job_id].state is JobState.QUEUED
            continue
        ended_first = [
            e
            for e in actions[:i]
            if isinstance(e, EndAttempt) and e.attempt_id == live.id and e.job_to is JobState.QUEUED
        ]
        assert ended_first, f"launch beside live attempt {live.id}: {actions}"


def _burn_left(snap: Snapshot, actions: list[Action]) -> float:
    """$/h of the live attempts these actions do not end (a preempted one may resume)."""
    ended = {e.attempt_id for e in ends(actions)}
    return sum(
        j.live.cost_per_hr or 0.0
        for j in snap.jobs
        if j.live is not None and j.live.id not in ended
    )


@LAUNCH_PROPERTY
@given(cases(busy=True))
def test_launches_respect_the_spend_rate_cap_and_the_budgets(case: Case) -> None:
    """Live attempts count at their recorded $/h (a resume this tick at its new bid, which
    `test_launch_gating.py` checks on its own)."""
    snap, cfg = case.snap, case.cfg
    actions = decide(snap, cfg)
    new = launches(actions)
    if cfg.max_spend_rate is not None and new:
        total = _burn_left(snap, actions) + sum(launch.cost_per_hr for launch in new)
        target(total - cfg.max_spend_rate, label="launched $/h over the cap")
        assert total <= cfg.max_spend_rate + 1e-9, actions
    if cfg.daily_budget is not None and snap.money.spend_today >= cfg.daily_budget:
        assert new == []
    if cfg.monthly_budget is not None and snap.money.spend_month >= cfg.monthly_budget:
        assert new == []


@LAUNCH_PROPERTY
@given(cases(busy=True))
def test_everything_the_daemon_starts_stays_under_the_spend_rate_cap(case: Case) -> None:
    """Launches and bid-resumes alike: whenever a tick starts or resumes a pod, the fleet's
    $/h afterwards (each live attempt at its recorded price, or its new bid if resumed) is
    under `max_spend_rate`."""
    snap, cfg = case.snap, case.cfg
    actions = decide(snap, cfg)
    resumed = {r.attempt_id: r.bid_per_gpu * r.gpu_count for r in of_type(actions, ResumeSpot)}
    started = launches(actions)
    if cfg.max_spend_rate is None or not (resumed or started):
        return
    ended = {e.attempt_id for e in ends(actions)}
    total = sum(
        max(j.live.cost_per_hr or 0.0, resumed.get(j.live.id, 0.0))
        for j in snap.jobs
        if j.live is not None and j.live.id not in ended
    ) + sum(launch.cost_per_hr for launch in started)
    target(total - cfg.max_spend_rate, label="started $/h over the cap")
    assert total <= cfg.max_spend_rate + 1e-9, actions


@PROPERTY
@given(cases())
def test_with_running_enforcement_a_spent_budget_ends_every_steady_pod(case: Case) -> None:
    """`budget_enforce = running`, nothing left of a budget: every billing pod that has no
    other business this tick is ended, with its job back in the queue, and nothing starts."""
    snap, cfg = case.snap, replace(case.cfg, budget_enforce=BudgetEnforce.RUNNING)
    spent = (cfg.daily_budget is not None and snap.money.spend_today >= cfg.daily_budget) or (
        cfg.monthly_budget is not None and snap.money.spend_month >= cfg.monthly_budget
    )
    if not spent:
        return
    actions = decide(snap, cfg)
    assert launches(actions) == []
    busy = {getattr(x, "attempt_id", None) for x in actions}
    for j in snap.jobs:
        a = j.live
        if a is None or a.pod_id is None or a.id in busy or (a.cost_per_hr or 0.0) <= 0:
            continue
        if a.state in (AttemptState.LAUNCHING, AttemptState.RUNNING):
            raise AssertionError(f"pod of job {j.id} keeps billing past the budget: {actions}")


def _floor(market: MarketView, gpu: str, n: int, secure: bool | None) -> float | None:
    clouds = (True, False) if secure is None else (secure,)
    floors = [
        q.spot_min_bid
        for s in clouds
        if (q := market.quote(gpu, n, s)) is not None and q.spot_min_bid
    ]
    return min(floors) if floors else None


@LAUNCH_PROPERTY
@given(cases(busy=True))
def test_prices_stay_within_the_jobs_limits_and_spot_bids_at_or_over_the_floor(
    case: Case,
) -> None:
    snap = case.snap
    actions = decide(snap, case.cfg)
    jobs = _jobs(snap)
    over: list[float] = []  # price minus limit, per launch: Hypothesis steers towards > 0
    for launch in launches(actions):
        assert snap.market is not None
        spec = jobs[launch.job_id].spec
        assert launch.gpu_type_id in {c.gpu_type_id for c in spec.gpu_types}
        assert launch.gpu_count == spec.gpu_count
        assert launch.secure_cloud in clouds_for(spec.cloud_type)
        q = snap.market.quote(launch.gpu_type_id, launch.gpu_count, launch.secure_cloud)
        assert q is not None
        if launch.kind is AttemptKind.SPOT:
            assert snap.market.spot_capable and q.spot_offered
            assert launch.bid_per_gpu is not None and q.spot_min_bid is not None
            over.append(launch.bid_per_gpu - spec.max_spot_price)
            assert q.spot_min_bid <= launch.bid_per_gpu <= spec.max_spot_price, launch
        else:
            assert launch.bid_per_gpu is None
            assert spec.max_on_demand_price is not None
            assert launch.on_demand_price_per_gpu == q.on_demand
            over.append(launch.on_demand_price_per_gpu - spec.max_on_demand_price)
            assert 0 < launch.on_demand_price_per_gpu <= spec.max_on_demand_price, launch
    if over:
        target(max(over), label="price over the limit")
    for resume in of_type(actions, ResumeSpot):
        assert snap.market is not None
        job = jobs[resume.job_id]
        a = job.live
        assert a is not None and a.is_spot and a.state is AttemptState.PREEMPTED
        assert (resume.pod_id, resume.gpu_count) == (a.pod_id, a.gpu_count)
        floor = _floor(snap.market, a.gpu_type_id, a.gpu_count, a.secure_cloud)
        assert floor is not None
        assert floor <= resume.bid_per_gpu <= job.spec.max_spot_price, resume


@PROPERTY
@given(cases(), st.data())
def test_decide_is_deterministic_and_ignores_the_order_of_jobs_and_pods(
    case: Case, data: st.DataObject
) -> None:
    snap = case.snap
    first = decide(snap, case.cfg)
    assert decide(snap, case.cfg) == first
    shuffled = replace(
        snap,
        jobs=tuple(data.draw(st.permutations(snap.jobs), label="jobs")),
        pods=tuple(data.draw(st.permutations(snap.pods), label="pods")),
    )
    assert decide(shuffled, case.cfg) == first


_JOB_TO = {
    MarkRunning: JobState.RUNNING,
    MarkPreempted: JobState.PREEMPTED,
    ConfirmResume: JobState.LAUNCHING,
}
_ATTEMPT_TO = {
    MarkRunning: AttemptState.RUNNING,
    MarkPreempted: AttemptState.PREEMPTED,
    ResumeSpot: AttemptState.LAUNCHING,
    ConfirmResume: AttemptState.LAUNCHING,
    EndAttempt: AttemptState.ENDED,
}


@PROPERTY
@given(cases())
def test_every_state_change_is_an_edge_of_the_transition_tables(case: Case) -> None:
    """Replays the actions in order: each names the state its job is in by then, and moves it
    (and its attempt) along an edge of `JOB_TRANSITIONS` / `ATTEMPT_TRANSITIONS`."""
    jobs = _jobs(case.snap)
    job_state = {i: j.state for i, j in jobs.items()}
    attempt_state = {j.live.id: j.live.state for j in jobs.values() if j.live is not None}
    for act in decide(case.snap, case.cfg):
        if isinstance(act, Hold | TerminateOrphan | AdoptPod | MissDeadline | ResumeLost):
            continue
        now_in = job_state[act.job_id]
        if isinstance(act, MoveJob | Launch):
            assert act.from_state is now_in, act
            to = act.to_state if isinstance(act, MoveJob) else JobState.LAUNCHING
        elif isinstance(act, ResumeSpot):
            to = JobState.LAUNCHING
        else:
            assert act.job_from is now_in, act
            to = act.job_to if isinstance(act, EndAttempt) else _JOB_TO[type(act)]
        if to is not None:
            assert to in JOB_TRANSITIONS[now_in], f"{now_in} -> {to}: {act}"
            job_state[act.job_id] = to
        if isinstance(act, MarkRunning | MarkPreempted | ResumeSpot | ConfirmResume | EndAttempt):
            old, new = attempt_state[act.attempt_id], _ATTEMPT_TO[type(act)]
            assert new in ATTEMPT_TRANSITIONS[old], f"attempt {old} -> {new}: {act}"
            attempt_state[act.attempt_id] = new


@PROPERTY
@given(cases())
def test_no_action_targets_an_ended_job_nor_a_pod_that_is_owned_or_kept(case: Case) -> None:
    jobs = _jobs(case.snap)
    owned_names = {j.live.pod_name for j in jobs.values() if j.live is not None}
    owned_names |= case.snap.kept_pods
    owned_ids = {j.live.pod_id for j in jobs.values() if j.live is not None} - {None}
    for act in decide(case.snap, case.cfg):
        if isinstance(act, TerminateOrphan):
            assert act.name not in owned_names and act.pod_id not in owned_ids, act
        else:
            assert jobs[act.job_id].state not in TERMINAL_JOB_STATES, act


@PROPERTY
@given(cases())
def test_a_spotsched_pod_that_is_not_this_installations_is_never_touched(case: Case) -> None:
    """A neighbour installation's pods, a person's `spotsched-...` pod and old-format pods no
    attempt of ours recorded: never swept, never idle-stopped, whatever the foreign rule."""
    pods = {p.pod_id: p for p in case.snap.pods}
    for act in of_type(decide(case.snap, case.cfg), TerminateOrphan):
        pod = pods[act.pod_id]
        if pod.name.startswith("spotsched-"):
            assert case.snap.ours(pod) and act.reason == "orphan", act
        else:
            assert act.reason == "foreign_idle", act


@PROPERTY
@given(cases())
def test_every_waiting_job_gets_exactly_one_decision(case: Case) -> None:
    """A queued job without a pod is launched, held (with a reason) or moved; never ignored."""
    actions = decide(case.snap, case.cfg)
    for job in case.snap.jobs:
        if job.state is not JobState.QUEUED or job.live is not None:
            continue
        mine = [a for a in actions if isinstance(a, Launch | Hold | MoveJob)]
        mine = [a for a in mine if a.job_id == job.id]
        assert len(mine) == 1, (job.id, actions)
        if isinstance(mine[0], Hold):
            assert mine[0].reason
