"""A study: one market, one set of jobs, several start points and policies, plus the optimum.

Why: the CLI and the benchmark ask the same question ("what would these policies have paid on
this market?") at different sizes; both turn a study into tasks, run them with `sweep.py` and
fold the results into one summary per policy.

What it must not do: print or plot; it returns values.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scheduler.backtest.jobs import BacktestJob
from scheduler.backtest.markets import Market
from scheduler.backtest.runner import RunResult, RunSpec
from scheduler.backtest.scoring import PolicySummary, summarise
from scheduler.backtest.sweep import (
    OPTIMUM,
    OptimumResult,
    OptimumSpec,
    Result,
    SweepStats,
    Task,
    run_tasks,
)
from scheduler.policy.config import Strategy

ALL_POLICIES = (Strategy.ON_DEMAND, Strategy.GREEDY, Strategy.UNIFORM_PROGRESS, Strategy.DEFAULT)


def span(jobs: Iterable[BacktestJob], changeover: float) -> timedelta:
    """How far after its start a run can reach: last deadline (or twice the runtime) + a day."""
    ends = []
    for job in jobs:
        reach = job.deadline_after if job.deadline_after is not None else 2 * job.runtime
        ends.append(job.submit_after + max(reach, job.runtime + 2 * changeover))
    return timedelta(seconds=max(ends, default=0.0)) + timedelta(days=1)


def random_starts(
    market: Market, reach: timedelta, count: int, seed: int, *, first: datetime | None = None
) -> tuple[datetime, ...]:
    """`count` distinct market steps at which a run fits before the data ends (seeded)."""
    lo = market.step_of(first) if first is not None else 0
    usable = market.steps - lo - max(1, round(reach.total_seconds() / market.gap_seconds))
    if usable <= 0:
        raise ValueError("the market is shorter than one run (deadline plus a day)")
    rng = random.Random(f"starts/{market.name}/{seed}")
    picks = rng.sample(range(usable), min(count, usable)) if count < usable else range(usable)
    return tuple(market.at(lo + i) for i in sorted(picks))


@dataclass(frozen=True, slots=True)
class Study:
    market: Market
    jobs: tuple[BacktestJob, ...]
    starts: tuple[datetime, ...]
    changeover: float
    policies: tuple[Strategy, ...] = ALL_POLICIES
    optimum: bool = True
    seed: int = 0
    bid_margin: float = 0.05
    skip_quiet: bool = True
    timeline: bool = False
    """Record cumulative cost per tick for the first start (for the plot)."""
    tag: str = ""

    def label(self, start: datetime) -> str:
        return f"{self.tag or self.market.name}@{start.isoformat()}"

    def tasks(self) -> list[Task]:
        reach = span(self.jobs, self.changeover)
        out: list[Task] = []
        for n, start in enumerate(self.starts):
            market = self.market.window(start, start + reach)
            label = self.label(start)
            for policy in self.policies:
                out.append(
                    RunSpec(
                        policy=policy,
                        market=market,
                        jobs=self.jobs,
                        start=start,
                        changeover=self.changeover,
                        bid_margin=self.bid_margin,
                        seed=self.seed,
                        label=label,
                        timeline=self.timeline and n == 0,
                        skip_quiet=self.skip_quiet,
                    )
                )
            if self.optimum:
                out.append(OptimumSpec(market, self.jobs, start, self.changeover, label))
        return out


@dataclass(frozen=True, slots=True)
class Throughput:
    runs: int
    ticks: int
    skipped: int
    steps: int
    cpu_seconds: float

    @property
    def ticks_per_cpu_second(self) -> float:
        return self.ticks / self.cpu_seconds if self.cpu_seconds else 0.0

    @property
    def steps_per_cpu_second(self) -> float:
        return self.steps / self.cpu_seconds if self.cpu_seconds else 0.0


def throughput(results: Iterable[Result]) -> Throughput:
    runs = [r for r in results if isinstance(r, RunResult)]
    return Throughput(
        runs=len(runs),
        ticks=sum(r.ticks for r in runs),
        skipped=sum(r.skipped for r in runs),
        steps=sum(r.steps for r in runs),
        cpu_seconds=sum(r.cpu_seconds for r in runs),
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """Per policy (and `optimum`), the summary over all runs; in policy order."""

    summaries: dict[str, PolicySummary]
    results: tuple[Result, ...] = field(repr=False)


def policy_name(result: Result) -> str:
    return OPTIMUM if isinstance(result, OptimumResult) else result.policy.value


def fold(results: Sequence[Result], order: Sequence[str] = ()) -> Outcome:
    names = list(dict.fromkeys([*order, *(policy_name(r) for r in results)]))
    grouped: dict[str, list[Result]] = {n: [] for n in names}
    for r in results:
        grouped[policy_name(r)].append(r)
    summaries = {
        n: summarise(n, (o for r in grouped[n] for o in r.jobs)) for n in names if grouped[n]
    }
    return Outcome(summaries, tuple(results))


def run_study(
    study: Study,
    *,
    workers: int | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> tuple[Outcome, SweepStats]:
    results, stats = run_tasks(study.tasks(), workers=workers, on_result=on_result)
    order = [p.value for p in study.policies] + ([OPTIMUM] if study.optimum else [])
    return fold(results, order), stats
