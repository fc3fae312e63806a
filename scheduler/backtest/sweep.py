"""Running many backtest tasks (daemon runs and hindsight optima) over the machine's cores.

Why: a benchmark is thousands of independent runs. Each worker process builds its own emulator
and its own in-memory SQLite database per run (nothing is shared but the code), so runs cannot
disturb each other and the result does not depend on how they were spread over processes.

What it must not do: change a run; it only schedules them and hands results back in order.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from scheduler.backtest.jobs import BacktestJob
from scheduler.backtest.markets import Market
from scheduler.backtest.optimum import Plan
from scheduler.backtest.runner import RunResult, RunSpec, run
from scheduler.backtest.scoring import JobOutcome, optimum_outcome

OPTIMUM = "optimum"


@dataclass(frozen=True, slots=True)
class OptimumSpec:
    market: Market
    jobs: tuple[BacktestJob, ...]
    start: datetime
    changeover: float
    label: str = ""


@dataclass(frozen=True, slots=True)
class OptimumResult:
    label: str
    jobs: tuple[JobOutcome, ...]
    plans: tuple[Plan, ...]
    cpu_seconds: float
    policy: str = OPTIMUM


Task = RunSpec | OptimumSpec
Result = RunResult | OptimumResult


def execute(task: Task) -> Result:
    """Run one task in this process."""
    if isinstance(task, RunSpec):
        return run(task)
    cpu = time.process_time()
    pairs = [optimum_outcome(j, task.market, task.start, task.changeover) for j in task.jobs]
    return OptimumResult(
        label=task.label,
        jobs=tuple(o for o, _ in pairs),
        plans=tuple(p for _, p in pairs),
        cpu_seconds=time.process_time() - cpu,
    )


def _init_worker() -> None:
    from scheduler.daemon.logs import silence_logging

    silence_logging()


def _execute_indexed(item: tuple[int, Task]) -> tuple[int, Result, int]:
    index, task = item
    result = execute(task)
    return index, result, peak_rss_bytes()


def peak_rss_bytes() -> int:
    """Peak resident memory of this process (Linux reports kilobytes, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


@dataclass(frozen=True, slots=True)
class SweepStats:
    wall_seconds: float
    workers: int
    peak_rss_bytes: int
    """The largest peak resident memory of any worker process."""


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def run_tasks(
    tasks: Sequence[Task],
    *,
    workers: int | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> tuple[list[Result], SweepStats]:
    """Every task's result, in the order of `tasks`; `on_result` is called as each finishes."""
    workers = max(1, min(workers or default_workers(), len(tasks) or 1))
    started = time.perf_counter()
    results: list[Result | None] = [None] * len(tasks)
    peak = 0
    if workers == 1:
        _init_worker()
        for i, task in enumerate(tasks):
            results[i] = execute(task)
            if on_result is not None:
                on_result(results[i])  # type: ignore[arg-type]
        peak = peak_rss_bytes()
    else:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        # long runs first, so the last minutes are not one worker finishing a big one alone
        order = sorted(range(len(tasks)), key=lambda i: isinstance(tasks[i], OptimumSpec))
        with context.Pool(workers, initializer=_init_worker, maxtasksperchild=200) as pool:
            for index, result, rss in pool.imap_unordered(
                _execute_indexed, [(i, tasks[i]) for i in order], chunksize=1
            ):
                results[index] = result
                peak = max(peak, rss)
                if on_result is not None:
                    on_result(result)
    done = [r for r in results if r is not None]
    assert len(done) == len(tasks)
    return done, SweepStats(time.perf_counter() - started, workers, peak)
