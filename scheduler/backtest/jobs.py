"""The jobs a backtest submits: from a jobs TOML file, or the paper's single job.

Why: a backtest job is a normal job spec (validated by `parse_job`, like every submitted job)
plus three things only a replay needs: when it is submitted, its deadline relative to that, and
how much compute it really needs, which the emulator's simulated container then does.

Backtest TOML: the daemon's `[[job]]` tables, plus optional keys
`submit_after` (duration after the start of the replay, default 0), `deadline_after` (duration
after submission) and `runtime` (the real compute; default `estimated_runtime`).

What it must not do: submit anything; `runner.py` does that on the virtual clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from scheduler.daemon.jobs_file import read_toml
from scheduler.domain.durations import parse_duration
from scheduler.domain.job import JobInputError, JobSpec, parse_job

HOUR = 3600.0
SIM_IMAGE = "spotsched/backtest-sim:latest"
_BACKTEST_KEYS = ("submit_after", "deadline_after", "runtime")


class JobsError(JobInputError):
    """The backtest jobs are not valid."""


@dataclass(frozen=True, slots=True)
class BacktestJob:
    """A job spec (without its deadline) and when and how it runs in the replay."""

    spec: JobSpec
    submit_after: float = 0.0
    deadline_after: float | None = None
    runtime: float = 0.0

    @property
    def name(self) -> str:
        return self.spec.name

    def submitted_spec(self, at: datetime) -> JobSpec:
        """The spec as submitted at `at`: deadline resolved, simulated container configured."""
        deadline = self.spec.deadline
        if self.deadline_after is not None:
            deadline = at + timedelta(seconds=self.deadline_after)
        env = dict(self.spec.env)
        env.setdefault("SPOTSCHED_SIM_BUSY_SECONDS", str(round(self.runtime, 3)))
        env.setdefault("SPOTSCHED_SIM_THEN", "terminate")
        if self.spec.checkpoint:
            env.setdefault("SPOTSCHED_SIM_CHECKPOINT", "1")
        return replace(self.spec, deadline=deadline, env=tuple(sorted(env.items())))

    def deadline_at(self, start: datetime) -> datetime | None:
        """The deadline when the replay starts at `start`."""
        if self.deadline_after is not None:
            return start + timedelta(seconds=self.submit_after + self.deadline_after)
        return self.spec.deadline


def paper_job(
    *,
    compute_hours: float,
    deadline_hours: float,
    gpu_type_id: str,
    max_spot_price: float,
    max_on_demand_price: float,
    submit_after: float = 0.0,
) -> BacktestJob:
    """The *Can't Be Late* setup: C hours of checkpointed compute due R hours after submission."""
    spec = parse_job(
        {
            "name": "paper-job",
            "image": SIM_IMAGE,
            "gpu_types": [gpu_type_id],
            "cloud_type": "SECURE",
            "max_spot_price": max_spot_price,
            "max_on_demand_price": max_on_demand_price,
            "estimated_runtime": compute_hours * HOUR,
            "checkpoint": True,
        }
    )
    return BacktestJob(
        spec=spec,
        submit_after=submit_after,
        deadline_after=deadline_hours * HOUR,
        runtime=compute_hours * HOUR,
    )


def _job(table: Mapping[str, Any], label: str) -> BacktestJob:
    extra = {k: table[k] for k in _BACKTEST_KEYS if k in table}
    raw = {k: v for k, v in table.items() if k not in _BACKTEST_KEYS}
    raw.setdefault("image", SIM_IMAGE)
    problems: list[tuple[str, str]] = []
    try:
        spec = parse_job(raw)
    except JobInputError as exc:
        raise JobsError([(f"{label}.{f}", m) for f, m in exc.problems]) from None
    durations: dict[str, float | None] = {}
    for key in _BACKTEST_KEYS:
        try:
            durations[key] = parse_duration(extra[key]) if key in extra else None
        except (ValueError, TypeError) as exc:
            problems.append((f"{label}.{key}", str(exc)))
    runtime = durations["runtime"] or spec.estimated_runtime
    if runtime is None or runtime <= 0:
        problems.append((f"{label}.runtime", "give runtime or estimated_runtime"))
    if problems:
        raise JobsError(problems)
    return BacktestJob(
        spec=spec,
        submit_after=durations["submit_after"] or 0.0,
        deadline_after=durations["deadline_after"],
        runtime=float(runtime or 0.0),
    )


def load_jobs(path: str | Path) -> tuple[BacktestJob, ...]:
    """Every job of a backtest TOML file, or `JobsError` naming every problem."""
    p = Path(path)
    data = read_toml(p, JobsError)
    tables = data.get("job")
    if not isinstance(tables, list) or not tables or set(data) - {"job"}:
        raise JobsError([("job", "use one or more [[job]] tables and nothing else")], str(p))
    jobs: list[BacktestJob] = []
    problems: list[tuple[str, str]] = []
    for i, table in enumerate(tables, start=1):
        label = f"job[{i}]"
        if not isinstance(table, dict):
            problems.append((label, "not a table"))
            continue
        try:
            jobs.append(_job(table, label))
        except JobsError as exc:
            problems.extend(exc.problems)
    names = [j.name for j in jobs]
    problems.extend(
        ("name", f"{n!r} appears twice") for n in sorted({n for n in names if names.count(n) > 1})
    )
    if problems:
        raise JobsError(problems, str(p))
    return tuple(jobs)
