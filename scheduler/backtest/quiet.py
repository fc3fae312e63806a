"""Leaving out ticks that would change nothing, and proving it by asking the real policy.

Why: most 10-minute steps of a replay see the same pods and the same market as the tick before
(a job running on spot for hours, or waiting on-demand), and a full tick costs tens of
milliseconds. A step tick may be left out when all of this holds:

- the last real tick was quiet: its only actions were `Hold`s, so the store is as it saw it;
- the emulator's pods and the market of the jobs' GPU types are exactly as at that tick;
- `policy.decide` (the real, pure policy), given that tick's snapshot moved to the new time,
  with each running pod's billing and progress extended as the ledger would extend them,
  returns the same `Hold`s again.

Then the real tick would have written nothing but its ledger accrual, and the next real tick
accrues the same dollars and seconds (both ends of the interval agree, so the trapezoid is
exact). No budgets, no stray pods and no pending submissions are allowed, since those read
state this projection does not carry. `RunSpec.skip_quiet = False` turns this off; a test runs
both ways and requires the same outcome.

What it must not do: write anything or model the policy; it calls `decide`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from scheduler.daemon.service import Service
from scheduler.domain.actions import Hold
from scheduler.domain.views import JobView, PodView, Snapshot, SpotHistory
from scheduler.emulator import Emulator
from scheduler.emulator.capacity import total_free
from scheduler.policy import decide
from scheduler.reconcile import TickReport
from scheduler.store.views import spot_history

Fingerprint = tuple[Any, ...]


def project(
    jobs: Iterable[JobView], pods: Iterable[PodView], seconds: float
) -> tuple[JobView, ...]:
    """The jobs `seconds` later if nothing changes: what `Reconciler._accrue` would add."""
    by_name = {p.name: p for p in pods}
    out = []
    for job in jobs:
        a = job.live
        pod = by_name.get(a.pod_name) if a is not None else None
        if a is None or pod is None or (a.pod_id is not None and pod.pod_id != a.pod_id):
            out.append(job)
            continue
        billing = pod.desired_status == "RUNNING"
        cost = pod.cost_per_hr * seconds / 3600.0 if billing else 0.0
        ran = seconds if pod.runtime_up else 0.0
        work = 0.0 if pod.idle_since is not None else ran * job.spec.speed_of(a.gpu_type_id)
        live = replace(a, cost=a.cost + cost, running_seconds=a.running_seconds + ran)
        out.append(
            replace(job, spend=job.spend + cost, work_seconds=job.work_seconds + work, live=live)
        )
    return tuple(out)


class QuietTicks:
    def __init__(
        self, service: Service, emulator: Emulator, keys: Iterable[tuple[str, str]]
    ) -> None:
        self.service = service
        self.emulator = emulator
        self.keys = tuple(keys)
        self.report: TickReport | None = None
        self.fingerprint: Fingerprint = ()
        self.holds: dict[int, str] = {}
        self.history: SpotHistory | None = None

    def _fingerprint(self) -> Fingerprint:
        world = self.emulator.world
        with world.lock:
            world.sync()
            pods = tuple(
                sorted(
                    (
                        p.id,
                        p.status,
                        p.terminated_at is None,
                        p.run is not None and world.t >= p.run.ready_at,
                        p.run is not None and p.run.finished,
                        p.cost_per_hr,
                        p.bid_per_gpu,
                        p.gpu_count,
                    )
                    for p in world.pods.values()
                )
            )
            market = tuple(
                (
                    key,
                    e.spot(),
                    e.on_demand(),
                    total_free(world.capacity.hosts_for(key[0], e.cloud)),
                )
                for key in self.keys
                if (e := world.market.get(key)) is not None  # type: ignore[arg-type]
            )
            return (world.spot_enabled, pods, market)

    def observe(self, report: TickReport) -> None:
        """Remember a real tick; only a quiet one can stand for the ticks after it."""
        quiet = report.ok and not report.errors and all(isinstance(a, Hold) for a in report.actions)
        if not quiet:
            self.history = None
        self.report = report if quiet and self._eligible(report) else None
        if self.report is not None:
            self.holds = {a.job_id: a.reason for a in report.actions if isinstance(a, Hold)}
            self.fingerprint = self._fingerprint()

    def _eligible(self, report: TickReport) -> bool:
        cfg = self.service.reconciler.policy
        if cfg.daily_budget is not None or cfg.monthly_budget is not None:
            return False
        # A pod of ours that no live attempt owns is an orphan the sweep reads through state
        # the projection does not carry; pods that are not ours are never acted on.
        owned = {j.live.pod_name for j in report.jobs if j.live is not None}
        return report.market_view is not None and not any(
            p.pod_id in report.own_pods and p.name not in owned for p in report.pods
        )

    def can_skip(self, now: datetime) -> bool:
        """Whether a tick at `now` (the clock already set there) would change nothing."""
        report = self.report
        if report is None or self._fingerprint() != self.fingerprint:
            return False
        if self.history is None:
            with self.service.store.session() as session:
                self.history = spot_history(session)
        seconds = (now - report.now).total_seconds()
        snapshot = Snapshot(
            now=now,
            jobs=project(report.jobs, report.pods, seconds),
            pods=report.pods,
            market=report.market_view,
            history=self.history,
        )
        actions = decide(snapshot, self.service.reconciler.policy)
        if not all(isinstance(a, Hold) for a in actions):
            return False
        return {a.job_id: a.reason for a in actions if isinstance(a, Hold)} == self.holds
