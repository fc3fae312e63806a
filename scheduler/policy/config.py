"""The knobs of the policy, with defaults that suit a daemon ticking every 30 seconds."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Strategy(StrEnum):
    """How jobs with a deadline choose between spot and on-demand.

    `default` is spotsched's own; the others are the baselines the backtester compares with.
    """

    DEFAULT = "default"
    GREEDY = "greedy"
    UNIFORM_PROGRESS = "uniform_progress"
    ON_DEMAND = "on_demand"


class BudgetEnforce(StrEnum):
    """What a reached daily or monthly budget does: `launches` holds new launches and resumes;
    `running` also ends running pods (lowest priority first, checkpointed before the rest)."""

    LAUNCHES = "launches"
    RUNNING = "running"


@dataclass(frozen=True, slots=True)
class ForeignIdleRule:
    """Opt-in: stop pods the daemon did not launch when idle, only if their name matches."""

    name_pattern: str
    idle_timeout: float = 1800.0
    threshold: float = 5.0
    action: str = "stop"


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    bid_margin: float = 0.05
    changeover_delay: float = 300.0
    launch_grace: float = 90.0
    launch_timeout: float = 1800.0
    resume_wait: float = 600.0
    max_resume_failures: int = 3
    orphan_grace: float = 300.0
    max_spend_rate: float | None = None
    daily_budget: float | None = None
    monthly_budget: float | None = None
    budget_enforce: BudgetEnforce = BudgetEnforce.LAUNCHES
    budget_horizon: float = 600.0
    """`running`: pods are ended until what is left of the budget covers this many seconds of
    the fleet's spend rate (a tick or two), so spend stops at the budget, not past it."""
    foreign_idle: ForeignIdleRule | None = None
    strategy: Strategy = Strategy.DEFAULT
