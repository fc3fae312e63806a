"""When a backtest run ticks: the virtual clock jumps from one tick to the next.

Why: a daemon ticking every 30 seconds for a 60-hour job is 7,200 full reconcile ticks; nearly
all of them see nothing new. A tick is needed only where the daemon could see something change
or where its rules could answer differently, and these are:

1. every market step (the trace's 10-minute grid): prices and spot availability move only here,
   and the policy's time-based rules (Uniform Progress, hysteresis) are evaluated here, as in the
   paper's simulator, which also decides every 10 minutes;
2. one millisecond before and after each change the emulator makes on its own: a pod's runtime
   coming up after the changeover delay, a container finishing its work, a spot pod preempted
   at a step. The daemon's ledger integrates billing and progress between two ticks with the
   trapezoid rule, which is exact only when a change sits right between two close ticks; a
   daemon ticking every 30 s is within 15 s of exact, these ticks keep it within a millisecond;
3. `follow_up` seconds (the daemon's tick interval) after a tick that changed something: a
   preempted spot pod is relaunched or resumed on the *next* tick, so that tick must come as
   soon as it would in a running daemon, not ten minutes later;
4. each submission;
5. each idle deadline job's last safe moment (`deadline.last_safe_moment`: remaining time
   falls below remaining work plus two changeover delays), plus a millisecond: at 10-minute
   steps a job with d = 3 minutes could otherwise sit idle past the point of no return.

What it must not do: decide for the daemon or change the world; it reads the emulator's pods
and the market and returns a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from scheduler.backtest.markets import Market
from scheduler.domain.actions import Hold
from scheduler.domain.states import AttemptState
from scheduler.emulator import Emulator
from scheduler.policy.config import PolicyConfig
from scheduler.policy.deadline import last_safe_moment
from scheduler.reconcile import TickReport

EPSILON = timedelta(milliseconds=1)


class TickPlanner:
    def __init__(
        self,
        emulator: Emulator,
        market: Market,
        *,
        policy: PolicyConfig,
        follow_up: float,
        submissions: Iterable[datetime] = (),
    ) -> None:
        self.emulator = emulator
        self.market = market
        self.policy = policy
        self.follow_up = timedelta(seconds=follow_up)
        self.submissions = sorted(set(submissions))

    def next_tick(self, now: datetime, report: TickReport) -> tuple[datetime, bool]:
        """The next tick after `now`, and whether it must happen (one just before a change the
        emulator makes: the ledger needs it) or may be left out when quiet (`quiet.py`)."""
        step = self.market.at(self.market.step_of(now) + 1)
        before, after = self._emulator_events(step)
        candidates = [step, *after, *self.submissions, *self._last_safe_moments(report)]
        if any(not isinstance(a, Hold) for a in report.actions):
            candidates.append(now + self.follow_up)
        optional = min((c for c in candidates if c > now), default=None)
        forced = min((c for c in before if c > now), default=None)
        if forced is not None and (optional is None or forced <= optional):
            return forced, True
        assert optional is not None
        return optional, False

    def _emulator_events(self, next_step: datetime) -> tuple[list[datetime], list[datetime]]:
        """Ticks just before (forced) and just after pods' runtime coming up and work finishing,
        and just before spot pods are preempted at the next step."""
        world = self.emulator.world
        before: list[datetime] = []
        after: list[datetime] = []
        step = self.market.step_of(next_step)
        with world.lock:
            world.sync()
            for pod in world.pods.values():
                run = pod.run
                if not pod.running or run is None:
                    continue
                if run.ready_at > world.t:
                    at = world.at(run.ready_at)
                    before.append(at - EPSILON)
                    after.append(at + EPSILON)
                if not run.finished and run.finish_at is not None and run.finish_at > world.t:
                    at = world.at(run.finish_at)
                    before.append(at - EPSILON)
                    after.append(at + EPSILON)
                if pod.kind == "SPOT" and self._preempts(
                    pod.gpu.id, pod.cloud, pod.bid_per_gpu, step
                ):
                    before.append(next_step - EPSILON)
        return before, after

    def _preempts(self, gpu_type_id: str, cloud: str, bid: float | None, step: int) -> bool:
        series = self.market.find(gpu_type_id, cloud == "SECURE")
        if series is None:
            return False
        floor = series.spot[min(max(step, 0), len(series.spot) - 1)]
        return floor is None or bid is None or floor > bid

    def _last_safe_moments(self, report: TickReport) -> list[datetime]:
        out = []
        for job in report.jobs:
            idle = job.live is None or job.live.state is AttemptState.PREEMPTED
            moment = last_safe_moment(job, self.policy) if idle else None
            if moment is not None:
                out.append(moment + EPSILON)
        return out
