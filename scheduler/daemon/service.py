"""The service object: settings + injected clock, HTTP client and engine → a working daemon.

`run.py` drives it with APScheduler and signals; the demo, the backtester and the tests drive
the same object directly, tick by tick.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import structlog
from sqlalchemy import Engine

from scheduler.daemon.config import Settings
from scheduler.daemon.jobs_file import load_jobs_file
from scheduler.domain.clock import Clock
from scheduler.metrics import Metrics
from scheduler.reconcile import Reconciler, ReconcilerSettings, TickReport
from scheduler.runpod.client import RunPodClient
from scheduler.runpod.models import RequestRecord
from scheduler.store import Store
from scheduler.store.migrate import upgrade

log = structlog.get_logger("spotsched.daemon")


def _both(
    first: Callable[[RequestRecord], None] | None, second: Callable[[RequestRecord], None] | None
) -> Callable[[RequestRecord], None] | None:
    if first is None or second is None:
        return first or second

    def both(record: RequestRecord) -> None:
        first(record)
        second(record)

    return both


def reconciler_settings(settings: Settings) -> ReconcilerSettings:
    return ReconcilerSettings(
        price_sample_interval=settings.scheduler.price_sample_interval,
        tick_budget=settings.scheduler.tick_budget,
    )


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        http: httpx.Client,
        engine: Engine,
        api_key: str | None,
        on_request: Callable[[RequestRecord], None] | None = None,
        on_tick: Callable[[TickReport], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.engine = engine
        self.store = Store(engine)
        self.client = RunPodClient(
            http,
            api_key,
            clock=clock,
            on_request=_both(on_request, metrics.on_request if metrics is not None else None),
            timeout=settings.runpod.timeout,
            url=settings.runpod.api_url,
        )
        self.reconciler = Reconciler(
            self.store,
            self.client,
            settings.policy_config(),
            reconciler_settings(settings),
            clock=clock,
        )
        self.on_tick = on_tick
        self.metrics = metrics
        self.last_ok: datetime | None = None
        self.last_report: TickReport | None = None
        if metrics is not None:
            metrics.watch(self)

    def prepare(self) -> None:
        """Bring the schema to head, read the installation id and sync the jobs file; called
        once before the first tick."""
        upgrade(self.engine)
        log.info("installation", installation_id=self.store.installation(self.clock.now()))
        self.sync_jobs_file()

    def sync_jobs_file(self) -> list[tuple[int, str]]:
        path = self.settings.scheduler.jobs_file
        if not path:
            return []
        specs = load_jobs_file(path)
        results = self.store.upsert(specs, self.clock.now(), "jobs_file")
        for (job_id, outcome), spec in zip(results, specs, strict=True):
            if outcome != "unchanged":
                log.info("job_synced", job_id=job_id, name=spec.name, outcome=outcome)
        return results

    def tick(self) -> TickReport:
        report = self.reconciler.tick(self.clock.now())
        if report.ok:
            self.last_ok = report.now
        self.last_report = report
        log.debug(
            "tick",
            ok=report.ok,
            seconds=round(report.seconds, 4),
            actions=len(report.actions),
            errors=len(report.errors),
        )
        if self.metrics is not None:
            self.metrics.on_tick(report)
        if self.on_tick is not None:
            self.on_tick(report)
        return report

    def retention(self) -> int:
        before = self.clock.now() - timedelta(seconds=self.settings.scheduler.price_retention)
        removed = self.store.prune_prices(before)
        if removed:
            log.info("price_samples_pruned", removed=removed)
        return removed

    def reload(self, settings: Settings) -> None:
        """Apply a new configuration (policy, budgets, jobs file) without a restart."""
        self.settings = settings
        self.reconciler.policy = settings.policy_config()
        self.reconciler.settings = reconciler_settings(settings)
        self.sync_jobs_file()
        log.info("config_reloaded")

    def healthy(self, now: datetime) -> bool:
        if self.last_ok is None:
            return False
        return (now - self.last_ok).total_seconds() <= self.settings.scheduler.stale_after
