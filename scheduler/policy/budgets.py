"""Money rules over everything the daemon runs: the spend-rate cap for bid-resumes and
launches, and daily/monthly budgets (holding launches, or with `budget_enforce = running`
ending running pods). Pure, like the rest of `policy`.
"""

from __future__ import annotations

from scheduler.domain.actions import Action, EndAttempt, Hold, ResumeSpot
from scheduler.domain.states import AttemptState, EndReason, JobState, PodCall
from scheduler.domain.views import JobView, Snapshot
from scheduler.policy.config import BudgetEnforce, PolicyConfig
from scheduler.policy.offers import Offer

INF = float("inf")


def reserved(job: JobView) -> float:
    """What a live attempt counts against the spend-rate cap: its pod's price (a preempted
    spot pod keeps its slot, as it may be bid-resumed)."""
    return (job.live.cost_per_hr or 0.0) if job.live is not None else 0.0


def cap_resumes(
    actions: list[Action], snap: Snapshot, cfg: PolicyConfig, ending: set[int]
) -> list[Action]:
    """Bid-resumes that would take the fleet over `max_spend_rate` wait (become holds)."""
    if cfg.max_spend_rate is None or not any(isinstance(x, ResumeSpot) for x in actions):
        return actions
    burn = sum(reserved(j) for j in snap.jobs if j.live is not None and j.live.id not in ending)
    jobs = {j.id: j for j in snap.jobs}
    out: list[Action] = []
    for x in actions:
        if isinstance(x, ResumeSpot):
            old = reserved(jobs[x.job_id])
            new = x.bid_per_gpu * x.gpu_count
            if burn - old + new > cfg.max_spend_rate + 1e-9:
                out.append(Hold(x.job_id, "spend rate cap: resume waits"))
                continue
            burn += max(0.0, new - old)
        out.append(x)
    return out


def budget_stops(snap: Snapshot, cfg: PolicyConfig, skip: set[int]) -> list[EndAttempt]:
    """`budget_enforce = running`: when what is left of the daily or monthly budget no longer
    covers `budget_horizon` of the fleet's spend rate, end pods, lowest priority first and
    checkpointed ones before the rest (they lose the least), until it does. Their jobs wait
    in the queue, where the launch gate holds them until the budget allows again."""
    if cfg.budget_enforce is not BudgetEnforce.RUNNING:
        return []
    left, which = budget_left(snap, cfg)
    billing = [
        j
        for j in snap.jobs
        if j.live is not None
        and j.live.state in (AttemptState.LAUNCHING, AttemptState.RUNNING)
        and j.live.pod_id is not None
        and j.live.id not in skip
    ]
    burn = sum(reserved(j) for j in billing)
    out: list[EndAttempt] = []
    for job in sorted(billing, key=lambda j: (j.spec.priority, not j.spec.checkpoint, -j.id)):
        if burn <= 0 or left > burn * cfg.budget_horizon / 3600.0:
            break
        a = job.live
        assert a is not None
        out.append(
            EndAttempt(
                attempt_id=a.id,
                job_id=job.id,
                job_from=job.state,
                job_to=JobState.QUEUED,
                reason=EndReason.BUDGET,
                pod_id=a.pod_id,
                pod_call=PodCall.TERMINATE,
                detail=f"{which} budget reached: pod ended, job waits in the queue",
            )
        )
        burn -= reserved(job)
    return out


def budget_left(snap: Snapshot, cfg: PolicyConfig) -> tuple[float, str]:
    """Dollars left of the tighter budget, and which one it is (inf when none is set)."""
    daily = cfg.daily_budget - snap.money.spend_today if cfg.daily_budget is not None else INF
    monthly = cfg.monthly_budget - snap.money.spend_month if cfg.monthly_budget is not None else INF
    return (daily, "daily") if daily <= monthly else (monthly, "monthly")


def budget_gate(offer: Offer, burn: float, snap: Snapshot, cfg: PolicyConfig) -> str | None:
    if cfg.max_spend_rate is not None and burn + offer.cost_per_hr > cfg.max_spend_rate + 1e-9:
        return "spend rate cap"
    if cfg.daily_budget is not None and snap.money.spend_today >= cfg.daily_budget:
        return "daily budget spent"
    if cfg.monthly_budget is not None and snap.money.spend_month >= cfg.monthly_budget:
        return "monthly budget spent"
    if cfg.budget_enforce is BudgetEnforce.RUNNING:
        left, which = budget_left(snap, cfg)
        if left <= (burn + offer.cost_per_hr) * cfg.budget_horizon / 3600.0:
            return f"{which} budget nearly spent"  # it would be ended again at once
    return None
