"""`decide(snapshot, config) -> list[Action]`: the whole policy of one tick, pure.

Order of the returned actions matters and is deterministic: per job (highest priority first,
then oldest), a missed deadline and its lifecycle actions; then, with `budget_enforce =
running`, the pods ended because a budget is reached; then launches gated by budgets; then
orphans and idle foreign pods. The same snapshot always gives the same actions.

The spend-rate cap covers everything the daemon runs: a bid-resume that would take the fleet
over it waits (the preempted pod keeps its slot at its old price), like a launch would.
"""

from __future__ import annotations

import fnmatch
from datetime import datetime

from scheduler.domain.actions import (
    Action,
    EndAttempt,
    Hold,
    Launch,
    MissDeadline,
    MoveJob,
    ResumeSpot,
    TerminateOrphan,
)
from scheduler.domain.states import (
    TERMINAL_JOB_STATES,
    AttemptKind,
    AttemptState,
    JobOutcome,
    JobState,
)
from scheduler.domain.views import POD_NAME_PREFIX, JobView, PodView, Snapshot
from scheduler.policy.budgets import budget_gate, budget_stops, cap_resumes
from scheduler.policy.config import PolicyConfig
from scheduler.policy.deadline import (
    TAKING_RISKS,
    cannot_finish,
    past_deadline,
    wants_on_demand,
)
from scheduler.policy.lifecycle import live_job_actions
from scheduler.policy.offers import Offer, on_demand_offers, spot_offers


def _order(job: JobView) -> tuple[int, datetime, int]:
    return (-job.spec.priority, job.queued_since, job.id)


def decide(snap: Snapshot, cfg: PolicyConfig) -> list[Action]:
    actions: list[Action] = []
    to_launch: list[JobView] = []
    by_id = {p.pod_id: p for p in snap.pods}
    by_name: dict[str, PodView] = {}
    for p in sorted(snap.pods, key=lambda p: p.pod_id, reverse=True):
        by_name[p.name] = p  # the lowest pod id wins: the same choice whatever the list order
    ending: set[int] = set()
    busy: set[int] = set()  # attempts that have lifecycle actions this tick
    for job in sorted(snap.jobs, key=_order):
        if _missed_deadline(job, snap.now):
            actions.append(MissDeadline(job.id))
        if job.live is not None:
            a = job.live
            pod = by_id.get(a.pod_id) if a.pod_id is not None else by_name.get(a.pod_name)
            acts, relaunch = live_job_actions(job, pod, snap, cfg)
            actions.extend(acts)
            if acts:
                busy.add(a.id)
            if any(isinstance(x, EndAttempt) for x in acts):
                ending.add(a.id)
            if relaunch is not None:
                # back in the queue: the queue's own checks apply before any relaunch
                move = _queued_move(relaunch, snap.now)
                if move is not None:
                    actions.append(move)
                else:
                    to_launch.append(relaunch)
        elif job.state is JobState.QUEUED:
            move = _queued_move(job, snap.now)
            if move is not None:
                actions.append(move)
            else:
                to_launch.append(job)
    actions = cap_resumes(actions, snap, cfg, ending)
    resumes = {
        x.attempt_id: x.bid_per_gpu * x.gpu_count for x in actions if isinstance(x, ResumeSpot)
    }
    stops = budget_stops(snap, cfg, busy | ending)
    actions.extend(stops)
    ending |= {x.attempt_id for x in stops}
    actions.extend(_launches(to_launch, snap, cfg, ending, resumes))
    actions.extend(_strays(snap, cfg))
    return actions


def _missed_deadline(job: JobView, now: datetime) -> bool:
    """The deadline passed with the job unfinished, or it expires because its estimated
    runtime no longer fits: recorded once per job."""
    if job.deadline_missed or job.spec.deadline is None or job.cancel_requested:
        return False
    if job.state in TERMINAL_JOB_STATES:
        return False
    if past_deadline(job, now):
        return True
    return job.live is None and not job.spec.allows_on_demand and cannot_finish(job, now)


def _queued_move(job: JobView, now: datetime) -> MoveJob | None:
    spec = job.spec
    if job.cancel_requested:
        return MoveJob(
            job.id, job.state, JobState.CANCELLED, "cancelled by user", JobOutcome.CANCELLED
        )
    if past_deadline(job, now):
        return MoveJob(
            job.id,
            job.state,
            JobState.EXPIRED,
            "deadline passed before a launch",
            JobOutcome.DEADLINE,
        )
    if spec.max_cost is not None and job.spend >= spec.max_cost:
        return MoveJob(job.id, job.state, JobState.FAILED, "max_cost reached", JobOutcome.MAX_COST)
    waited = (now - job.queued_since).total_seconds()
    if not spec.allows_on_demand:
        if spec.fallback_after is not None and waited > spec.fallback_after:
            return MoveJob(
                job.id,
                job.state,
                JobState.EXPIRED,
                "waited longer than fallback_after for spot; on-demand not allowed",
                JobOutcome.WAIT_LIMIT,
            )
        if spec.max_preemptions is not None and job.preemptions >= spec.max_preemptions:
            return MoveJob(
                job.id,
                job.state,
                JobState.FAILED,
                "max_preemptions reached; on-demand not allowed",
                JobOutcome.MAX_PREEMPTIONS,
            )
        if cannot_finish(job, now):
            return MoveJob(
                job.id,
                job.state,
                JobState.EXPIRED,
                "the estimated runtime no longer fits before the deadline",
                JobOutcome.DEADLINE,
            )
    return None


def on_demand_reason(job: JobView, snap: Snapshot, cfg: PolicyConfig) -> str | None:
    """Why this job should go on-demand now (DESIGN.md's fallback rules), or None."""
    spec = job.spec
    if not spec.allows_on_demand:
        return None
    if snap.market is not None and not snap.market.spot_capable:
        return "spot_unavailable"
    if spec.max_preemptions is not None and job.preemptions >= spec.max_preemptions:
        return "max_preemptions"
    waited = (snap.now - job.queued_since).total_seconds()
    if spec.fallback_after is not None and waited > spec.fallback_after:
        return "wait_limit"
    return wants_on_demand(job, snap.now, cfg)


def choose_offer(job: JobView, snap: Snapshot, cfg: PolicyConfig) -> tuple[Offer | None, str]:
    """The offer to launch now and why, or (None, why not)."""
    assert snap.market is not None
    reason = on_demand_reason(job, snap, cfg)
    spot = spot_offers(job.spec, snap.market, cfg.bid_margin)
    if reason in TAKING_RISKS and spot:
        return spot[0], "spot_under_limit"
    if reason is not None:
        od = on_demand_offers(job.spec, snap.market)
        if od:
            return od[0], reason
        if spot and reason not in ("max_preemptions",):
            return spot[0], f"spot_while_{reason}_has_no_on_demand_offer"
        return None, f"{reason}: no on-demand offer under max_on_demand_price"
    if spot:
        return spot[0], "spot_under_limit"
    return None, "no spot offer under max_spot_price"


def _launches(
    jobs: list[JobView],
    snap: Snapshot,
    cfg: PolicyConfig,
    ending: set[int],
    resumes: dict[int, float],
) -> list[Action]:
    if snap.market is None:
        return [Hold(j.id, "market unknown") for j in sorted(jobs, key=_order)]
    # A preempted spot pod keeps its slot under the cap (it may be bid-resumed), and a resume
    # this tick reserves what it will cost at its new bid.
    burn = sum(
        max(j.live.cost_per_hr or 0.0, resumes.get(j.live.id, 0.0))
        for j in snap.jobs
        if j.live is not None
        and j.live.id not in ending
        and j.live.state in (AttemptState.LAUNCHING, AttemptState.RUNNING, AttemptState.PREEMPTED)
    )
    out: list[Action] = []
    for job in sorted(jobs, key=_order):
        offer, why = choose_offer(job, snap, cfg)
        if offer is None:
            out.append(Hold(job.id, why + _unlisted(job, snap)))
            continue
        gate = budget_gate(offer, burn, snap, cfg)
        if gate is not None:
            out.append(Hold(job.id, gate))
            continue
        burn += offer.cost_per_hr
        out.append(
            Launch(
                job_id=job.id,
                from_state=job.state,
                kind=offer.kind,
                gpu_type_id=offer.gpu_type_id,
                gpu_count=offer.gpu_count,
                secure_cloud=offer.secure_cloud,
                bid_per_gpu=offer.price_per_gpu if offer.kind is AttemptKind.SPOT else None,
                on_demand_price_per_gpu=offer.on_demand_price_per_gpu,
                data_center_id=job.spec.data_center_id,
                reason=why,
            )
        )
    return out


def _unlisted(job: JobView, snap: Snapshot) -> str:
    """Which of the job's GPU types the market does not list at its GPU count (a typo in a raw
    row, or a type RunPod dropped), as a suffix for the hold reason; RunPod may list it later."""
    assert snap.market is not None
    market = snap.market
    missing = [
        c.gpu_type_id
        for c in job.spec.gpu_types
        if market.quote(c.gpu_type_id, job.spec.gpu_count, True) is None
        and market.quote(c.gpu_type_id, job.spec.gpu_count, False) is None
    ]
    if not missing:
        return ""
    count = f" at {job.spec.gpu_count} GPUs" if job.spec.gpu_count > 1 else ""
    return f"; not listed by RunPod{count}: " + ", ".join(map(repr, missing))


def _strays(snap: Snapshot, cfg: PolicyConfig) -> list[Action]:
    """Orphans (pods of this installation no live attempt owns) and idle foreign pods.

    A `spotsched-` pod that is not ours (`Snapshot.ours`: a neighbour installation's, or a
    person's) is never touched, not even by the foreign idle rule."""
    owned = {j.live.pod_name for j in snap.jobs if j.live is not None} | snap.kept_pods
    out: list[Action] = []
    rule = cfg.foreign_idle
    for pod in sorted(snap.pods, key=lambda p: p.pod_id):
        if pod.name.startswith(POD_NAME_PREFIX):
            if pod.name in owned or pod.first_seen is None or not snap.ours(pod):
                continue
            if (snap.now - pod.first_seen).total_seconds() >= cfg.orphan_grace:
                out.append(TerminateOrphan(pod.pod_id, pod.name, "orphan"))
        elif rule is not None and fnmatch.fnmatchcase(pod.name, rule.name_pattern):
            if pod.exited or not pod.runtime_up or pod.idle_since is None:
                continue
            if (snap.now - pod.idle_since).total_seconds() >= rule.idle_timeout:
                out.append(
                    TerminateOrphan(
                        pod.pod_id, pod.name, "foreign_idle", stop_only=rule.action == "stop"
                    )
                )
    return out
