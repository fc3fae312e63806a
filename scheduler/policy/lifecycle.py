"""What to do about a job that has a live attempt, given what RunPod shows of its pod.

How a job ends, as DESIGN.md describes: the pod terminates itself → succeeded; an on-demand pod
stops itself → succeeded; a spot pod that exits unasked → preempted; idle past its timeout →
`on_idle`; `max_runtime` or `max_cost` reached → failed.

An attempt that carries the intent of a stop or terminate (committed before the call) ends the
way that intent says, whatever RunPod shows now: a pod gone after the daemon's own terminate was
ended by the daemon, never "removed itself". A bid-resume intent is confirmed by the pod running
again, or counted as a failed resume.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from scheduler.domain.actions import (
    Action,
    AdoptPod,
    ConfirmResume,
    EndAttempt,
    MarkPreempted,
    MarkRunning,
    ResumeLost,
    ResumeSpot,
)
from scheduler.domain.states import AttemptState, EndReason, JobState, OnIdle, PodCall
from scheduler.domain.views import AttemptView, JobView, PodView, Snapshot
from scheduler.policy.config import PolicyConfig, Strategy
from scheduler.policy.deadline import (
    past_deadline,
    remaining_seconds,
    safety_reserve,
    wants_on_demand,
)
from scheduler.policy.offers import on_demand_offers, spot_bid, spot_floor_for, spot_offers

Outcome = tuple[list[Action], JobView | None]
"""Actions for the job, and the job as it will be queued for a launch this tick (or None)."""


def _end(
    job: JobView,
    a: AttemptView,
    to: JobState | None,
    reason: EndReason,
    pod: PodView | None,
    call: PodCall | None = PodCall.TERMINATE,
    detail: str = "",
) -> EndAttempt:
    return EndAttempt(
        attempt_id=a.id,
        job_id=job.id,
        job_from=job.state,
        job_to=to,
        reason=reason,
        pod_id=pod.pod_id if pod else a.pod_id,
        pod_call=call if pod is not None else None,
        detail=detail,
    )


def _exited(job: JobView, a: AttemptView, pod: PodView) -> Action:
    """A pod that exited unasked: a spot pod was preempted, an on-demand pod finished."""
    if a.is_spot:
        return MarkPreempted(a.id, job.id, job.state)
    return _end(job, a, JobState.SUCCEEDED, EndReason.COMPLETED, pod, detail="pod stopped itself")


def _requeued(job: JobView, now: datetime) -> JobView:
    work = job.work_seconds if job.spec.checkpoint else 0.0  # no checkpoint: from scratch
    return replace(job, state=JobState.QUEUED, live=None, queued_since=now, work_seconds=work)


def _finish_ending(job: JobView, a: AttemptView, pod: PodView | None, now: datetime) -> Outcome:
    """The attempt carries the intent of a stop or terminate: finish that same ending.

    The pod gone (or, for a stop, halted) means the call was carried out; the pod still
    billing means it never reached RunPod, and it is made again (both calls are idempotent)."""
    assert a.pending_call is not None
    reason = a.pending_reason or EndReason.FAILED
    detail = a.pending_detail or ""
    done = pod is None or (a.pending_call is PodCall.STOP and pod.exited)
    end = EndAttempt(
        attempt_id=a.id,
        job_id=job.id,
        job_from=job.state,
        job_to=a.pending_job_to,
        reason=reason,
        pod_id=pod.pod_id if pod is not None else a.pod_id,
        pod_call=None if done else a.pending_call,
        detail=detail,
        since=((pod.status_changed_at if pod is not None else None) or a.pending_at)
        if done
        else None,
    )
    relaunch = _requeued(job, now) if a.pending_job_to is JobState.QUEUED else None
    return [end], relaunch


def live_job_actions(
    job: JobView, pod: PodView | None, snap: Snapshot, cfg: PolicyConfig
) -> Outcome:
    a = job.live
    assert a is not None
    if pod is not None and a.pod_id is not None and pod.pod_id != a.pod_id:
        pod = None  # a pod with our name but another id is not this attempt's pod
    if a.pending_call is not None and a.pending_call.ends_pod:
        return _finish_ending(job, a, pod, snap.now)
    if job.cancel_requested:
        return [_end(job, a, JobState.CANCELLED, EndReason.CANCELLED, pod)], None
    acts: list[Action] = []
    if pod is not None and a.pod_id is None:
        acts.append(AdoptPod(a.id, job.id, pod.pod_id, pod.cost_per_hr))
    if a.state is AttemptState.LAUNCHING:
        return _launching(job, a, pod, snap, cfg, acts)
    if a.state is AttemptState.RUNNING:
        return _running(job, a, pod, snap, cfg, acts)
    return _preempted(job, a, pod, snap, cfg, acts)


def _launching(
    job: JobView,
    a: AttemptView,
    pod: PodView | None,
    snap: Snapshot,
    cfg: PolicyConfig,
    acts: list[Action],
) -> Outcome:
    now = snap.now
    age = (now - a.created_at).total_seconds()
    since_launch = (now - a.last_launch).total_seconds()  # the latest create or resume
    if pod is None:
        if a.pod_id is not None:
            return [
                _end(
                    job,
                    a,
                    JobState.SUCCEEDED,
                    EndReason.COMPLETED,
                    None,
                    detail="pod removed itself",
                )
            ], None
        if age > cfg.launch_grace:
            acts.append(
                _end(
                    job,
                    a,
                    JobState.QUEUED,
                    EndReason.LAUNCH_FAILED,
                    None,
                    detail="no pod appeared after the create call",
                )
            )
            return acts, _requeued(job, now)
        return acts, None
    if pod.exited:
        acts.append(_exited(job, a, pod))
        return acts, None
    if pod.runtime_up:
        acts.append(MarkRunning(a.id, job.id, job.state))
        return acts, None
    if since_launch > cfg.launch_timeout:
        acts.append(
            _end(
                job,
                a,
                JobState.QUEUED,
                EndReason.LAUNCH_FAILED,
                pod,
                detail="container did not start in time",
            )
        )
        return acts, _requeued(job, now)
    return acts, None


def _idle_for(a: AttemptView, pod: PodView, job: JobView, now: datetime) -> float:
    if pod.idle_since is None or a.started_at is None:
        return 0.0
    since = max(pod.idle_since, a.started_at + timedelta(seconds=job.spec.idle_grace))
    return max(0.0, (now - since).total_seconds())


def _running(
    job: JobView,
    a: AttemptView,
    pod: PodView | None,
    snap: Snapshot,
    cfg: PolicyConfig,
    acts: list[Action],
) -> Outcome:
    now, spec = snap.now, job.spec
    if pod is None:
        return [
            _end(job, a, JobState.SUCCEEDED, EndReason.COMPLETED, None, detail="pod removed itself")
        ], None
    if pod.exited:
        acts.append(_exited(job, a, pod))
        return acts, None
    started = a.started_at or a.created_at
    if spec.max_runtime is not None and (now - started).total_seconds() >= spec.max_runtime:
        acts.append(
            _end(job, a, JobState.FAILED, EndReason.MAX_RUNTIME, pod, detail="max_runtime reached")
        )
        return acts, None
    if spec.max_cost is not None and job.spend >= spec.max_cost:
        acts.append(_end(job, a, JobState.FAILED, EndReason.BUDGET, pod, detail="max_cost reached"))
        return acts, None
    if spec.idle_timeout is not None and _idle_for(a, pod, job, now) >= spec.idle_timeout:
        call = PodCall.STOP if spec.on_idle is OnIdle.STOP else PodCall.TERMINATE
        acts.append(
            _end(
                job,
                a,
                JobState.SUCCEEDED,
                EndReason.IDLE,
                pod,
                call,
                detail="GPU idle past idle_timeout",
            )
        )
        return acts, None
    if _spot_run_endangers_deadline(job, a, snap, cfg):
        acts.append(
            _end(
                job,
                a,
                JobState.QUEUED,
                EndReason.ABANDONED,
                pod,
                detail="deadline at risk without a checkpoint: moving to on-demand",
            )
        )
        return acts, _requeued(job, now)
    if _should_leave_on_demand(job, a, snap, cfg):
        acts.append(
            _end(
                job,
                a,
                JobState.QUEUED,
                EndReason.ABANDONED,
                pod,
                detail="ahead of uniform progress: back to spot",
            )
        )
        return acts, _requeued(job, now)
    return acts, None


def _spot_run_endangers_deadline(
    job: JobView, a: AttemptView, snap: Snapshot, cfg: PolicyConfig
) -> bool:
    """A spot run without a checkpoint loses everything to a preemption, so it must move to
    on-demand while a run from scratch still fits: once the time left is under the whole
    estimated runtime plus the safety reserve, but not yet under runtime plus one changeover
    (then a fresh start cannot make it either, and the running spot pod is the best chance)."""
    spec = job.spec
    if not a.is_spot or spec.checkpoint or not spec.allows_on_demand:
        return False
    left, total = remaining_seconds(job, snap.now), spec.estimated_runtime
    if left is None or total is None:
        return False
    if not total + cfg.changeover_delay <= left < total + safety_reserve(cfg):
        return False
    return snap.market is not None and bool(on_demand_offers(spec, snap.market))


def _should_leave_on_demand(
    job: JobView, a: AttemptView, snap: Snapshot, cfg: PolicyConfig
) -> bool:
    """Checkpointing deadline jobs leave on-demand once the deadline rules allow it:
    `uniform_progress` at ep(t + 2d), for spot or to wait idle (the paper's hysteresis);
    `default` only for spot that is offered."""
    spec = job.spec
    if a.is_spot or not spec.checkpoint or spec.deadline is None or snap.market is None:
        return False
    if cfg.strategy not in (Strategy.DEFAULT, Strategy.UNIFORM_PROGRESS):
        return False
    if spec.max_preemptions is not None and job.preemptions >= spec.max_preemptions:
        return False
    if not snap.market.spot_capable:
        return False
    if wants_on_demand(job, snap.now, cfg, on_demand_now=True) is not None:
        return False
    if cfg.strategy is Strategy.UNIFORM_PROGRESS:
        return True
    if job.spec.fallback_after is not None:
        return False
    return bool(spot_offers(spec, snap.market, cfg.bid_margin))


def _preempted(
    job: JobView,
    a: AttemptView,
    pod: PodView | None,
    snap: Snapshot,
    cfg: PolicyConfig,
    acts: list[Action],
) -> Outcome:
    now, spec = snap.now, job.spec
    if past_deadline(job, now):
        acts.append(
            _end(
                job,
                a,
                JobState.EXPIRED,
                EndReason.PREEMPTED,
                pod,
                detail="deadline passed while preempted",
            )
        )
        return acts, None
    if pod is None:
        acts.append(
            _end(job, a, JobState.QUEUED, EndReason.PREEMPTED, None, detail="preempted pod is gone")
        )
        return acts, _requeued(job, now)
    if a.pending_call in (PodCall.BID_RESUME, PodCall.RESUME):
        if pod.exited:
            acts.append(ResumeLost(a.id, job.id))
        else:  # RunPod carried the resume out: billing since it restarted the pod
            since = pod.status_changed_at or a.pending_at or now
            bid = a.pending_bid if a.pending_bid is not None else a.bid_per_gpu or 0.0
            acts.append(ConfirmResume(a.id, job.id, job.state, bid, since))
        return acts, None
    if pod.runtime_up and not pod.exited:
        acts.append(MarkRunning(a.id, job.id, job.state))
        return acts, None
    give_up = _abandon_reason(job, a, snap, cfg)
    if give_up is not None:
        acts.append(_end(job, a, JobState.QUEUED, EndReason.PREEMPTED, pod, detail=give_up))
        return acts, _requeued(job, now)
    floor = None
    if snap.market is not None and snap.market.spot_capable:
        floor = spot_floor_for(snap.market, a.gpu_type_id, a.gpu_count, a.secure_cloud)
    if floor is not None and floor <= spec.max_spot_price:
        bid = spot_bid(floor, spec.max_spot_price, cfg.bid_margin)
        acts.append(ResumeSpot(a.id, job.id, pod.pod_id, bid, a.gpu_count))
    return acts, None


def _abandon_reason(job: JobView, a: AttemptView, snap: Snapshot, cfg: PolicyConfig) -> str | None:
    spec, now = job.spec, snap.now
    if spec.allows_on_demand:
        if snap.market is not None and not snap.market.spot_capable:
            return "spot unavailable: relaunch on-demand"
        if wants_on_demand(job, now, cfg) is not None:
            return "deadline at risk: relaunch on-demand"
    if spec.max_preemptions is not None and job.preemptions >= spec.max_preemptions:
        return "max_preemptions reached"
    if a.resume_failures >= cfg.max_resume_failures:
        return "resume failed repeatedly: relaunch elsewhere"
    since = a.preempted_at or a.created_at
    if (now - since).total_seconds() > cfg.resume_wait:
        return "no resume within resume_wait: relaunch elsewhere"
    return None
