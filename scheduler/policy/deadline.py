"""Deadline rules from *Can't Be Late* (Wu et al., NSDI '24), on remaining work and time.

With remaining compute C(t), remaining time R(t) and changeover delay d:
- safety net: when R < C + 2d the job must run on on-demand from now on;
- Uniform Progress: progress should be at least the straight line from submission to deadline;
  behind it and without spot, use on-demand; leave on-demand only `hysteresis` ahead of it.
`greedy` uses only the safety net; `default` uses Uniform Progress only when slack is tight.
"""

from __future__ import annotations

from datetime import datetime

from scheduler.domain.views import JobView
from scheduler.policy.config import PolicyConfig, Strategy


def remaining_seconds(job: JobView, now: datetime) -> float | None:
    if job.spec.deadline is None:
        return None
    return (job.spec.deadline - now).total_seconds()


def safety_net(job: JobView, now: datetime, cfg: PolicyConfig) -> bool:
    r, c = remaining_seconds(job, now), job.remaining_work
    if r is None or c is None:
        return False
    return r < c + 2 * cfg.changeover_delay


def slack_is_tight(job: JobView, now: datetime, cfg: PolicyConfig) -> bool:
    r, c = remaining_seconds(job, now), job.remaining_work
    if r is None or c is None or c <= 0:
        return False
    return (r - c) < cfg.tight_slack_ratio * c


def behind_uniform_progress(
    job: JobView, now: datetime, cfg: PolicyConfig, *, on_demand_now: bool
) -> bool:
    spec = job.spec
    if spec.deadline is None or spec.estimated_runtime is None or job.remaining_work is None:
        return False
    window = (spec.deadline - job.submitted_at).total_seconds()
    if window <= 0:
        return True
    elapsed = min(window, max(0.0, (now - job.submitted_at).total_seconds()))
    total = spec.estimated_runtime
    expected = total * elapsed / window
    done = total - job.remaining_work
    margin = cfg.hysteresis * total if on_demand_now else 0.0
    return done < expected + margin


def wants_on_demand(
    job: JobView, now: datetime, cfg: PolicyConfig, *, on_demand_now: bool = False
) -> str | None:
    """Why the deadline calls for on-demand now, or None when spot (or waiting) is fine."""
    if cfg.strategy is Strategy.ON_DEMAND:
        return "strategy_on_demand"
    if safety_net(job, now, cfg):
        return "deadline_safety_net"
    use_up = cfg.strategy is Strategy.UNIFORM_PROGRESS or (
        cfg.strategy is Strategy.DEFAULT and slack_is_tight(job, now, cfg)
    )
    if use_up and behind_uniform_progress(job, now, cfg, on_demand_now=on_demand_now):
        return "deadline_uniform_progress"
    return None


def past_deadline(job: JobView, now: datetime) -> bool:
    return job.spec.deadline is not None and now >= job.spec.deadline


def cannot_finish(job: JobView, now: datetime) -> bool:
    """Even on on-demand from now, the estimated work no longer fits before the deadline."""
    r, c = remaining_seconds(job, now), job.remaining_work
    return r is not None and c is not None and r < c
