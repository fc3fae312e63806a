"""Deadline rules from *Can't Be Late* (Wu et al., NSDI '24), on remaining work and time.

With remaining compute C(t), remaining time R(t), changeover delay d, and the job's own line
from submission to deadline (expected progress ep(t) = C * elapsed / window):

- safety net (every strategy): when an idle job has R < C + 2d it must go on-demand now
  (`default` keeps `SAFETY_MARGIN` more);
- `uniform_progress`, the paper's rules: idle and behind ep(t) -> on-demand, but spot whenever
  it is offered, even when behind ("Taking Risks"); on on-demand, stay until progress reaches
  ep(t + 2d) (hysteresis), then go to spot or wait idle;
- `greedy`: the safety net only;
- `default`, spotsched's own: Uniform Progress with two changes measured on the paper's traces
  (docs/backtest.md): the line may fall behind by a tenth of the job's spare rate
  (`PACE_BUFFER`), and on-demand is never left to wait idle, only for offered spot once back on
  the line (no hysteresis: the changeover is paid once, when spot is there to be used).

What it must not do: look at offers or pods; `decide` and `lifecycle` combine these answers
with the market.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from scheduler.domain.views import JobView
from scheduler.policy.config import PolicyConfig, Strategy


def remaining_seconds(job: JobView, now: datetime) -> float | None:
    if job.spec.deadline is None:
        return None
    return (job.spec.deadline - now).total_seconds()


SAFETY_MARGIN = 120.0
"""Seconds `default` keeps beyond the paper's 2d: the daemon sees a preemption at its next tick
and relaunches at the one after, where the paper's policy switches at once."""


def safety_reserve(cfg: PolicyConfig) -> float:
    """Slack an idle job must keep: 2d (one start now, one after a preemption), plus
    `SAFETY_MARGIN` for `default`."""
    margin = SAFETY_MARGIN if cfg.strategy is Strategy.DEFAULT else 0.0
    return 2 * cfg.changeover_delay + margin


def safety_net(job: JobView, now: datetime, cfg: PolicyConfig) -> bool:
    r, c = remaining_seconds(job, now), job.remaining_work
    if r is None or c is None:
        return False
    return r < c + safety_reserve(cfg)


def last_safe_moment(job: JobView, cfg: PolicyConfig) -> datetime | None:
    """When an idle job's safety net will fire if it stays idle (its remaining work is fixed
    while idle): a daemon that ticks rarely should tick just after it."""
    c = job.remaining_work
    if job.spec.deadline is None or c is None:
        return None
    return job.spec.deadline - timedelta(seconds=c + safety_reserve(cfg))


PACE_BUFFER = 0.1
"""`default` goes on-demand when the rate the job still needs, C(t)/R(t), exceeds its initial
rate C/R by more than this share of the rest, (1 - C/R): 0 is Uniform Progress, 1 is greedy."""

TAKING_RISKS = frozenset({"deadline_uniform_progress", "deadline_pace"})
"""On-demand reasons that give way to spot when spot is offered (the paper's Taking Risks)."""


def behind_uniform_progress(
    job: JobView, now: datetime, cfg: PolicyConfig, *, on_demand_now: bool
) -> bool:
    """Progress below ep(t) (idle), or below ep(t + 2d) while on on-demand (hysteresis)."""
    spec = job.spec
    if spec.deadline is None or spec.estimated_runtime is None or job.remaining_work is None:
        return False
    window = (spec.deadline - job.submitted_at).total_seconds()
    if window <= 0:
        return True
    elapsed = max(0.0, (now - job.submitted_at).total_seconds())
    if on_demand_now:
        elapsed += 2 * cfg.changeover_delay
    total = spec.estimated_runtime
    expected = total * min(window, elapsed) / window
    done = total - job.remaining_work
    return done < expected


def behind_pace(job: JobView, now: datetime) -> bool:
    """`default`: C(t)/R(t) > C/R + PACE_BUFFER * (1 - C/R)."""
    spec = job.spec
    r, c = remaining_seconds(job, now), job.remaining_work
    if r is None or c is None or spec.estimated_runtime is None or c <= 0:
        return False
    window = (spec.deadline - job.submitted_at).total_seconds() if spec.deadline else 0.0
    if window <= 0 or r <= 0:
        return True
    initial = min(1.0, spec.estimated_runtime / window)
    return c / r > initial + PACE_BUFFER * (1.0 - initial)


def wants_on_demand(
    job: JobView, now: datetime, cfg: PolicyConfig, *, on_demand_now: bool = False
) -> str | None:
    """Why the deadline calls for on-demand now, or None when spot (or waiting) is fine.

    A reason in `TAKING_RISKS` still lets the job take spot that is offered."""
    if cfg.strategy is Strategy.ON_DEMAND:
        return "strategy_on_demand"
    if safety_net(job, now, cfg):
        return "deadline_safety_net"
    if cfg.strategy is Strategy.UNIFORM_PROGRESS and behind_uniform_progress(
        job, now, cfg, on_demand_now=on_demand_now
    ):
        return "deadline_uniform_progress"
    if cfg.strategy is Strategy.DEFAULT and behind_pace(job, now):
        return "deadline_pace"
    return None


def past_deadline(job: JobView, now: datetime) -> bool:
    return job.spec.deadline is not None and now >= job.spec.deadline


def cannot_finish(job: JobView, now: datetime) -> bool:
    """Even on on-demand from now, the estimated work no longer fits before the deadline."""
    r, c = remaining_seconds(job, now), job.remaining_work
    return r is not None and c is not None and r < c
