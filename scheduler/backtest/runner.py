"""One backtest run: the real daemon (`Service`: store, reconciler, RunPod client) against the
in-process emulator replaying a market, on a virtual clock, for one policy.

Why: the backtest must measure what spotsched would have done, not what a model of it would do.
So the run builds exactly what `spotsched run` builds (settings, an in-memory SQLite store
migrated by Alembic, `RunPodClient` over an httpx transport) and only the clock, the transport
and the database location differ. Costs are what the emulated RunPod billed for the job's pods;
the daemon's own ledger is reported beside them.

When it ticks (`schedule.py` explains why each is needed): at every market step, just before
and just after every change the emulator makes on its own (a pod's runtime coming up, a
container finishing, a spot pod about to be preempted), one daemon interval after a tick that
changed something, at every submission, and at each deadline job's last safe moment. Between
those, nothing the daemon looks at changes except the clock.

What it must not do: decide anything (the policy does), or touch a real RunPod or database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from scheduler.backtest.catalogue import backtest_catalogue
from scheduler.backtest.jobs import BacktestJob
from scheduler.backtest.markets import Market
from scheduler.backtest.quiet import QuietTicks
from scheduler.backtest.schedule import TickPlanner
from scheduler.backtest.scoring import JobOutcome, job_outcome
from scheduler.daemon.config import DatabaseSection, PolicySection, SchedulerSection, Settings
from scheduler.daemon.service import Service
from scheduler.domain.clock import VirtualClock
from scheduler.domain.views import parse_pod_name
from scheduler.emulator import Emulator, market_from_json
from scheduler.policy.config import Strategy
from scheduler.store import open_engine

BASE_URL = "https://api.runpod.io"
API_KEY = "backtest-key-not-secret"


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything one run needs; plain values, so it can be sent to a worker process."""

    policy: Strategy
    market: Market
    jobs: tuple[BacktestJob, ...]
    start: datetime
    changeover: float
    """Seconds from a pod's (re)start to its runtime being up: the changeover delay d."""
    bid_margin: float = 0.05
    seed: int = 0
    label: str = ""
    timeline: bool = False
    follow_up: float = 30.0
    """Seconds after a tick that changed something until the next one (the daemon's interval)."""
    skip_quiet: bool = True
    """Leave out step ticks that provably change nothing (`quiet.py`)."""


@dataclass(frozen=True, slots=True)
class RunResult:
    label: str
    policy: Strategy
    jobs: tuple[JobOutcome, ...]
    ticks: int
    skipped: int
    """Step ticks left out because they would have changed nothing."""
    steps: int
    """Market steps the run covered (simulated time / gap)."""
    wall_seconds: float
    cpu_seconds: float
    """Processor time of the run (wall time on a shared machine says little)."""
    timeline: tuple[tuple[float, float], ...] = ()
    """(seconds since the start, dollars billed so far), one point per tick, when asked for."""
    errors: tuple[str, ...] = field(default=())


def settings_for(spec: RunSpec) -> Settings:
    """What the daemon would run with: defaults, the changeover delay, strategy and margin.

    Price samples are taken hourly rather than every 5 minutes (each one polls the whole
    market); the database is an in-memory SQLite file."""
    return Settings(
        state_dir="/nonexistent-backtest-state",
        database=DatabaseSection(url="sqlite://"),
        scheduler=SchedulerSection(tick_interval=spec.follow_up, price_sample_interval=3600),
        policy=PolicySection(
            changeover_delay=spec.changeover,
            bid_margin=spec.bid_margin,
            strategy=spec.policy,
        ),
    )


class Run:
    """The wired-up world of one run; `execute()` plays it to the end."""

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self.clock = VirtualClock(spec.start)
        source = market_from_json(spec.market.market_file(), seed=spec.seed)
        self.emulator = Emulator(
            self.clock,
            seed=spec.seed,
            market=source,
            startup_delay=spec.changeover,
            catalogue=backtest_catalogue(spec.market),
            balance=1e12,
            spend_limit=1e9,
        )
        if spec.market.capacity is not None:
            for s in spec.market.series:
                self.emulator.set_market(s.gpu_type_id, s.cloud, stock=spec.market.capacity)
        settings = settings_for(spec)
        self.http = httpx.Client(transport=self.emulator.transport(), base_url=BASE_URL)
        self.engine = open_engine(settings.database_url)
        self.service = Service(
            settings, clock=self.clock, http=self.http, engine=self.engine, api_key=API_KEY
        )
        self.ids: dict[str, int] = {}

    def close(self) -> None:
        self.http.close()
        self.engine.dispose()

    def _submit_due(self, now: datetime) -> None:
        for job in self.spec.jobs:
            at = self.spec.start + timedelta(seconds=job.submit_after)
            if job.name not in self.ids and at <= now:
                self.ids[job.name] = self.service.store.submit(
                    job.submitted_spec(now), now, "backtest"
                )

    def _submission_at(self, when: datetime) -> bool:
        return any(
            j.name not in self.ids and self.spec.start + timedelta(seconds=j.submit_after) <= when
            for j in self.spec.jobs
        )

    def horizon(self) -> datetime:
        """Give up after the last deadline (or submission + runtime) plus a day of grace."""
        ends = []
        for job in self.spec.jobs:
            submit = self.spec.start + timedelta(seconds=job.submit_after)
            deadline = job.deadline_at(self.spec.start)
            ends.append(deadline or submit + timedelta(seconds=job.runtime * 2))
            ends.append(submit + timedelta(seconds=job.runtime + 2 * self.spec.changeover))
        return max(ends) + timedelta(days=1)

    def execute(self) -> RunResult:
        spec = self.spec
        started, cpu = time.perf_counter(), time.process_time()
        self.service.prepare()
        planner = TickPlanner(
            self.emulator,
            spec.market,
            policy=self.service.reconciler.policy,
            follow_up=spec.follow_up,
            submissions=[spec.start + timedelta(seconds=j.submit_after) for j in spec.jobs],
        )
        quiet = QuietTicks(
            self.service, self.emulator, [(x.gpu_type_id, x.cloud) for x in spec.market.series]
        )
        horizon = self.horizon()
        ticks = skipped = 0
        timeline: list[tuple[float, float]] = []
        errors: list[str] = []
        while True:
            now = self.clock.now()
            self._submit_due(now)
            report = self.service.tick()
            ticks += 1
            errors.extend(report.errors)
            if spec.timeline:
                timeline.append(((now - spec.start).total_seconds(), self.emulator.billing_total()))
            if (len(self.ids) == len(spec.jobs) and not report.jobs) or now >= horizon:
                break
            quiet.observe(report)
            while True:
                nxt, forced = planner.next_tick(now, report)
                nxt = min(nxt, horizon)
                self.clock.set(nxt)
                if forced or not spec.skip_quiet or nxt >= horizon or self._submission_at(nxt):
                    break
                if not quiet.can_skip(nxt):
                    break
                skipped += 1
                now = nxt
        steps = round((self.clock.now() - spec.start).total_seconds() / spec.market.gap_seconds)
        outcomes = self._outcomes()
        return RunResult(
            label=spec.label,
            policy=spec.policy,
            jobs=outcomes,
            ticks=ticks,
            skipped=skipped,
            steps=steps,
            wall_seconds=time.perf_counter() - started,
            cpu_seconds=time.process_time() - cpu,
            timeline=tuple(timeline),
            errors=tuple(dict.fromkeys(errors)),
        )

    def _outcomes(self) -> tuple[JobOutcome, ...]:
        pods = self.emulator.state()["pods"]
        out = []
        for job in self.spec.jobs:
            job_id = self.ids.get(job.name)
            detail = self.service.store.job_detail(job_id) if job_id is not None else None
            billed = sum(
                p["billed"]
                for p in pods
                if (owner := parse_pod_name(str(p["name"]))) is not None and owner[0] == job_id
            )
            out.append(
                job_outcome(
                    job,
                    detail,
                    billed=billed,
                    market=self.spec.market,
                    start=self.spec.start,
                    changeover=self.spec.changeover,
                )
            )
        return tuple(out)


def run(spec: RunSpec) -> RunResult:
    """Play one run to the end (all jobs finished, expired or failed, or the horizon)."""
    world = Run(spec)
    try:
        return world.execute()
    finally:
        world.close()
