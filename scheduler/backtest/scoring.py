"""Scoring: what one job cost and how that compares with on-demand only and spot only.

Why: the table, the JSON and the benchmark all compare policies on the same few numbers, and
each number needs one definition (docs/backtest.md repeats them for users):

- `cost`: dollars the (emulated) provider billed for the job's pods;
- `on_demand_cost`: the job's runtime plus one changeover on the cheapest acceptable on-demand
  offer from submission on, i.e. what the `on_demand` policy pays;
- `spot_only_cost`: runtime plus one changeover at the time-weighted mean spot price over the
  job's window (submission to deadline), ignoring availability; None when spot never showed;
- `savings = (on_demand_cost - cost) / on_demand_cost`;
- `score = (on_demand_cost - cost) / (on_demand_cost - spot_only_cost)`: 0 is on-demand only,
  1 is the job done entirely on spot with no preemption;
- `switches`: changes between spot and on-demand in the sequence of the job's pods;
- `waste`: dollars billed while no work was done (changeovers, idle) plus work thrown away by
  preemptions of jobs without checkpoints.

What it must not do: read the database or the emulator; it gets plain values.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from scheduler.backtest.jobs import BacktestJob
from scheduler.backtest.markets import Market, Series
from scheduler.backtest.optimum import Plan, Slot, optimum
from scheduler.domain.states import CloudType

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class JobOutcome:
    name: str
    state: str
    deadline: datetime | None
    finished_at: datetime | None
    missed: bool
    cost: float
    ledger_cost: float
    on_demand_cost: float
    spot_only_cost: float | None
    spot_hours: float
    """Compute hours on spot: runtime up, changeovers excluded (the paper's Table 3 measure)."""
    on_demand_hours: float
    preemptions: int
    switches: int
    attempts: int
    waste: float


def savings(cost: float, on_demand_cost: float) -> float | None:
    return None if on_demand_cost <= 0 else (on_demand_cost - cost) / on_demand_cost


def score(cost: float, on_demand_cost: float, spot_only_cost: float | None) -> float | None:
    if spot_only_cost is None or on_demand_cost - spot_only_cost <= 1e-12:
        return None
    return (on_demand_cost - cost) / (on_demand_cost - spot_only_cost)


def switches(kinds: Sequence[str]) -> int:
    """Changes between spot and on-demand in a sequence of pod kinds."""
    return sum(1 for a, b in itertools.pairwise(kinds) if a != b)


def job_series(market: Market, job: BacktestJob) -> list[Series]:
    """The market series a job may run on (its GPU types in its clouds)."""
    clouds = {CloudType.SECURE: (True,), CloudType.COMMUNITY: (False,)}.get(
        job.spec.cloud_type, (True, False)
    )
    return [
        s
        for choice in job.spec.gpu_types
        for secure in clouds
        if (s := market.find(choice.gpu_type_id, secure)) is not None
    ]


def on_demand_reference(slots: Sequence[Slot], seconds: float) -> float:
    """Dollars for `seconds` of on-demand from the first slot on."""
    total, left = 0.0, seconds
    for slot in slots:
        use = min(left, slot.seconds)
        total += slot.on_demand * use / HOUR
        left -= use
        if left <= 0:
            break
    return total


def spot_reference(slots: Sequence[Slot], seconds: float) -> float | None:
    """`seconds` at the time-weighted mean spot price of the slots that offer spot."""
    offered = [(s.spot, s.seconds) for s in slots if s.spot is not None]
    time = sum(t for _, t in offered)
    if time <= 0:
        return None
    return sum(p * t for p, t in offered) / time * seconds / HOUR


def job_outcome(
    job: BacktestJob,
    detail: Mapping[str, Any] | None,
    *,
    billed: float,
    market: Market,
    start: datetime,
    changeover: float,
) -> JobOutcome:
    """Score one job of a run from the store's `job_detail` and what the emulator billed."""
    submit = start + timedelta(seconds=job.submit_after)
    deadline = job.deadline_at(start)
    need = job.runtime + changeover
    series = job_series(market, job)
    count = job.spec.gpu_count
    od_slots = market.slots(series, submit, submit + timedelta(seconds=need), count)
    window_end = deadline if deadline is not None else submit + timedelta(seconds=need)
    spot_slots = market.slots(series, submit, max(window_end, submit + timedelta(seconds=1)), count)
    attempts = list(detail["attempts"]) if detail else []
    started = [a for a in attempts if a.get("pod_id")]
    hours = {"spot": 0.0, "on_demand": 0.0}
    waste = 0.0
    for a in started:
        hours[a["kind"]] = hours.get(a["kind"], 0.0) + a["running_seconds"] / HOUR
        useful = (a["cost_per_hr"] or 0.0) * a["running_seconds"] / HOUR
        waste += max(0.0, a["cost"] - useful) + a["waste"]
    state = str(detail["state"]) if detail else "not_submitted"
    finished = detail.get("finished_at") if detail else None
    missed = state != "succeeded" or (
        deadline is not None and finished is not None and finished > deadline
    )
    return JobOutcome(
        name=job.name,
        state=state,
        deadline=deadline,
        finished_at=finished,
        missed=missed,
        cost=billed,
        ledger_cost=float(detail["money"]["spend"]) if detail else 0.0,
        on_demand_cost=on_demand_reference(od_slots, need),
        spot_only_cost=spot_reference(spot_slots, need),
        spot_hours=hours["spot"],
        on_demand_hours=hours["on_demand"],
        preemptions=int(detail["preemptions"]) if detail else 0,
        switches=switches([a["kind"] for a in started]),
        attempts=len(started),
        waste=waste,
    )


@dataclass(frozen=True, slots=True)
class PolicySummary:
    """A policy's results over many jobs (and runs): sums, and ratios of the sums."""

    policy: str
    jobs: int
    cost: float
    on_demand_cost: float
    spot_only_cost: float | None
    deadline_misses: int
    preemptions: int
    switches: int
    spot_hours: float
    on_demand_hours: float
    waste: float

    @property
    def savings(self) -> float | None:
        return savings(self.cost, self.on_demand_cost)

    @property
    def score(self) -> float | None:
        return score(self.cost, self.on_demand_cost, self.spot_only_cost)

    def as_dict(self) -> dict[str, Any]:
        n = max(self.jobs, 1)
        return {
            "policy": self.policy,
            "jobs": self.jobs,
            "cost": round(self.cost, 4),
            "on_demand_cost": round(self.on_demand_cost, 4),
            "spot_only_cost": None
            if self.spot_only_cost is None
            else round(self.spot_only_cost, 4),
            "savings": None if self.savings is None else round(self.savings, 5),
            "score": None if self.score is None else round(self.score, 5),
            "deadline_misses": self.deadline_misses,
            "preemptions": self.preemptions,
            "switches": self.switches,
            "spot_hours": round(self.spot_hours, 3),
            "on_demand_hours": round(self.on_demand_hours, 3),
            "mean_spot_hours": round(self.spot_hours / n, 3),
            "mean_on_demand_hours": round(self.on_demand_hours / n, 3),
            "mean_switches": round(self.switches / n, 3),
            "waste": round(self.waste, 4),
        }


def summarise(policy: str, outcomes: Iterable[JobOutcome]) -> PolicySummary:
    items = list(outcomes)
    spot_only = [o.spot_only_cost for o in items]
    return PolicySummary(
        policy=policy,
        jobs=len(items),
        cost=sum(o.cost for o in items),
        on_demand_cost=sum(o.on_demand_cost for o in items),
        spot_only_cost=None
        if any(s is None for s in spot_only)
        else sum(s or 0.0 for s in spot_only),
        deadline_misses=sum(1 for o in items if o.missed),
        preemptions=sum(o.preemptions for o in items),
        switches=sum(o.switches for o in items),
        spot_hours=sum(o.spot_hours for o in items),
        on_demand_hours=sum(o.on_demand_hours for o in items),
        waste=sum(o.waste for o in items),
    )


def optimum_outcome(
    job: BacktestJob, market: Market, start: datetime, changeover: float
) -> tuple[JobOutcome, Plan]:
    """The hindsight optimum for one job, scored like a policy's run."""
    submit = start + timedelta(seconds=job.submit_after)
    deadline = job.deadline_at(start)
    need = job.runtime + changeover
    series = job_series(market, job)
    count = job.spec.gpu_count
    end = deadline if deadline is not None else submit + timedelta(seconds=2 * need)
    plan = optimum(market.slots(series, submit, end, count), job.runtime, changeover)
    od_slots = market.slots(series, submit, submit + timedelta(seconds=need), count)
    spot_slots = market.slots(
        series, submit, max(deadline or submit, submit + timedelta(seconds=need)), count
    )
    outcome = JobOutcome(
        name=job.name,
        state="succeeded" if plan.feasible else "infeasible",
        deadline=deadline,
        finished_at=None,
        missed=not plan.feasible,
        cost=plan.cost if plan.feasible else 0.0,
        ledger_cost=plan.cost if plan.feasible else 0.0,
        on_demand_cost=on_demand_reference(od_slots, need),
        spot_only_cost=spot_reference(spot_slots, need),
        spot_hours=plan.spot_seconds / HOUR,
        on_demand_hours=plan.on_demand_seconds / HOUR,
        preemptions=0,
        switches=plan.switches,
        attempts=plan.changeovers,
        waste=plan.changeover_cost,
    )
    return outcome, plan
