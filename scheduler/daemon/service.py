"""The service object: settings + injected clock, HTTP client and engine → a working daemon.

`run.py` drives it with APScheduler and signals; the demo, the backtester and the tests drive
the same object directly, tick by tick.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy import Engine

from scheduler.daemon.config import Settings
from scheduler.daemon.jobs_file import load_jobs_file
from scheduler.domain.clock import Clock
from scheduler.metrics import Metrics
from scheduler.reconcile import Reconciler, ReconcilerSettings, TickReport
from scheduler.runpod.factory import build_provider
from scheduler.runpod.models import RequestRecord
from scheduler.runpod.port import Capability, Provider
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


RESTART_ONLY = ("state_dir", "database", "metrics")
"""Settings read once at start (the engine, the metrics server); and `[runpod] api_key_file`:
the key is read once (`RESTART_ONLY_KEYS`)."""
RESTART_ONLY_KEYS = ("runpod.api_key_file",)


def restart_only_changes(old: Settings, new: Settings) -> list[str]:
    """Dotted names of the settings in `RESTART_ONLY` (or `RESTART_ONLY_KEYS`) that differ
    between `old` and `new`."""

    def flat(value: object, prefix: str) -> dict[str, object]:
        if isinstance(value, dict):
            out: dict[str, object] = {}
            for k, v in value.items():
                out |= flat(v, f"{prefix}.{k}" if prefix else k)
            return out
        return {prefix: value}

    a, b = flat(old.model_dump(), ""), flat(new.model_dump(), "")
    return sorted(
        k
        for k in a.keys() | b.keys()
        if a.get(k) != b.get(k) and (k.split(".")[0] in RESTART_ONLY or k in RESTART_ONLY_KEYS)
    )


def public_url(url: str) -> str:
    """`url` without user-info, query or fragment: safe to store and to show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else ""


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
        self._http, self._api_key = http, api_key
        self._on_request = _both(on_request, metrics.on_request if metrics is not None else None)
        self.client = self._provider(settings)
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
        self._api_described: str | None = None
        if metrics is not None:
            metrics.watch(self)

    def _provider(self, settings: Settings) -> Provider:
        """The RunPod adapter `[runpod]` asks for."""
        return build_provider(
            settings.runpod.api,
            self._http,
            self._api_key,
            clock=self.clock,
            on_request=self._on_request,
            timeout=settings.runpod.timeout,
            api_url=settings.runpod.api_url,
        )

    def _say_api(self) -> None:
        """Log which API serves what (at start, once the database is known good, and after a
        reload switched the adapter)."""
        capabilities = self.client.capabilities
        api = self.settings.runpod.api.value
        log.info("runpod_api", api=api, serving=capabilities.describe())
        if not capabilities.has(Capability.SPOT):
            log.warning(
                "spot_unavailable",
                detail="spot not available on this API: jobs run on-demand where they allow it",
            )

    def prepare(self) -> None:
        """Bring the schema to head, read the installation id and sync the jobs file; called
        once before the first tick."""
        upgrade(self.engine)
        # For `spotsched status`: where this daemon looks for RunPod ("unreachable at URL").
        url = public_url(self.settings.runpod.api_url)
        self.store.set_facts({"runpod_api_url": url}, self.clock.now())
        log.info("installation", installation_id=self.store.installation(self.clock.now()))
        self.sync_jobs_file()
        self._say_api()

    def sync_jobs_file(self, settings: Settings | None = None) -> list[tuple[int, str]]:
        """Upsert the jobs file of `settings` (default: the current ones), all or nothing."""
        path = (settings or self.settings).scheduler.jobs_file
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
        self._record_api(report)
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

    def _record_api(self, report: TickReport) -> None:
        """Which API serves what, for `spotsched status` (a fact) and the metrics."""
        capabilities = self.client.capabilities
        if capabilities.describe() != self._api_described:
            self._api_described = capabilities.describe()
            self.store.set_facts({"runpod_api": self._api_described}, report.now)
        if self.metrics is not None:
            self.metrics.on_capabilities(capabilities)

    def retention(self) -> int:
        before = self.clock.now() - timedelta(seconds=self.settings.scheduler.price_retention)
        removed = self.store.prune_prices(before)
        if removed:
            log.info("price_samples_pruned", removed=removed)
        return removed

    def reload(self, settings: Settings) -> None:
        """Apply a new configuration (policy, budgets, jobs file, RunPod API) without a restart,
        or none of it: the new jobs file is read, validated and written in one transaction before
        any setting changes, so a broken one leaves the daemon exactly as it was. Settings that
        only a restart applies (`RESTART_ONLY`) keep their running values and are named in a
        log line, on every reload until the restart. A changed `[runpod]` API or URL switches
        the adapter (same key, same HTTP client); live pods are adopted by name on the next
        tick, as after a restart."""
        policy, tuning = settings.policy_config(), reconciler_settings(settings)
        self.sync_jobs_file(settings)
        pending = restart_only_changes(self.settings, settings)
        running: dict[str, object] = {name: getattr(self.settings, name) for name in RESTART_ONLY}
        running["runpod"] = settings.runpod.model_copy(
            update={"api_key_file": self.settings.runpod.api_key_file}
        )
        settings = settings.model_copy(update=running)
        switched = settings.runpod != self.settings.runpod
        if switched:
            self.client = self._provider(settings)
            self.reconciler.client = self.reconciler.applier.client = self.client
        self.settings = settings
        if switched:
            self._say_api()
        self.reconciler.policy, self.reconciler.settings = policy, tuning
        if pending:
            log.warning("config_reload_needs_restart", settings=pending)
        log.info("config_reloaded")

    def healthy(self, now: datetime) -> bool:
        if self.last_ok is None:
            return False
        return (now - self.last_ok).total_seconds() <= self.settings.scheduler.stale_after
