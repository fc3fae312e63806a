"""`spotsched run`: the real clock, HTTP client and engine, APScheduler, signals, sd_notify.

APScheduler only triggers work (`max_instances=1`, `coalesce=True`); each trigger is one call
into `Service`. SIGTERM/SIGINT let the running tick finish and exit 0; SIGHUP reloads the
configuration and the jobs file. A second daemon on the same SQLite database refuses to start
(`daemon/lock.py`).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import structlog
from apscheduler.schedulers.blocking import BlockingScheduler
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from sqlalchemy.exc import DBAPIError

from scheduler import __version__
from scheduler.daemon.config import Settings, load_settings
from scheduler.daemon.lock import hold_database
from scheduler.daemon.logs import configure_logging
from scheduler.daemon.notify import Notifier
from scheduler.daemon.preflight import (
    StartupError,
    check_port,
    check_settings,
    environment_warnings,
    explain_database_error,
)
from scheduler.daemon.secrets import load_api_key
from scheduler.daemon.service import Service
from scheduler.daemon.virtual_clock import HttpVirtualClock
from scheduler.domain.clock import Clock, SystemClock
from scheduler.domain.errors import SpotschedError
from scheduler.metrics import Metrics, MetricsServer, make_app
from scheduler.store import open_engine

log = structlog.get_logger("spotsched.daemon")
VIRTUAL_CLOCK_TIMEOUT = 10.0  # a local rehearsal clock, slow only on a loaded machine


def make_state_dir(settings: Settings) -> None:
    """The state folder (0700), where the default database and its lock file live."""
    try:
        Path(settings.state_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        where = settings.state_dir
        raise StartupError(f"cannot create state_dir {where}: {exc.strerror}") from None


def build_service(
    settings: Settings, environ: Mapping[str, str] | None = None, metrics: Metrics | None = None
) -> Service:
    key = load_api_key(settings, environ)
    for warning in key.warnings:
        log.warning("api_key_file_permissions", detail=warning)
    if key.value is None:
        log.warning("api_key_missing", detail="market reads only; pods cannot be listed or created")
    make_state_dir(settings)
    http = httpx.Client(
        timeout=settings.runpod.timeout,
        headers={"User-Agent": f"spotsched/{__version__}"},
    )
    clock_url = settings.scheduler.virtual_clock_url
    clock: Clock = SystemClock()
    if clock_url is not None:
        clock = HttpVirtualClock(clock_url, httpx.Client(timeout=VIRTUAL_CLOCK_TIMEOUT))
        log.warning("virtual_clock", detail="time comes from a rehearsal clock, not the system")
    return Service(
        settings,
        clock=clock,
        http=http,
        engine=open_engine(settings.database_url),
        api_key=key.value,
        metrics=metrics,
    )


def build_metrics(settings: Settings) -> tuple[Metrics | None, CollectorRegistry]:
    """The daemon's metrics on a registry of its own (plus process and platform metrics)."""
    registry = CollectorRegistry()
    if not settings.metrics.enabled:
        return None, registry
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return Metrics(registry, version=__version__), registry


class Daemon:
    def __init__(self, config_path: str | None, environ: Mapping[str, str] | None = None) -> None:
        self.config_path = config_path
        self.environ = environ
        self.settings = load_settings(config_path, environ)
        configure_logging(self.settings.log.format, self.settings.log.level)
        for name, why in environment_warnings(os.environ if environ is None else environ):
            log.warning("environment_variable_ignored", name=name, detail=why)
        problems = check_settings(self.settings)
        if problems:
            raise problems[0]
        # Before anything else acts or binds (a second daemon would find the port taken and
        # say so instead of naming the daemon that holds the database).
        make_state_dir(self.settings)
        self._lock = hold_database(self.settings.database_url)
        if self.settings.metrics.enabled:
            check_port(self.settings.metrics.host, self.settings.metrics.port)
        self.metrics, registry = build_metrics(self.settings)
        self.service = build_service(self.settings, environ, self.metrics)
        m = self.settings.metrics
        self.metrics_server = (
            MetricsServer(
                make_app(registry, self.metrics.health),
                m.host,
                m.port,
                tls_cert_file=m.tls_cert_file,
                tls_key_file=m.tls_key_file,
            )
            if self.metrics is not None
            else None
        )
        self.notifier = Notifier(environ)
        self.scheduler = BlockingScheduler(timezone="UTC")
        self._stopping = threading.Event()

    def _tick(self) -> None:
        """One tick, then a watchdog ping: the ping says the process is alive and ticking,
        whether or not RunPod answered (a RunPod outage must not make systemd restart us;
        `/healthz` and the metrics report API health)."""
        if self._stopping.is_set():
            return
        try:
            self.service.tick()
        except SpotschedError as exc:
            log.error("tick_failed", error=exc.message)
        except Exception:
            log.exception("tick_crashed")
        self.notifier.watchdog()

    def _retention(self) -> None:
        try:
            self.service.retention()
        except Exception:
            log.exception("retention_failed")

    def _reload(self) -> None:
        """SIGHUP: the new configuration and jobs file are applied whole, or not at all."""
        self.notifier.reloading()
        try:
            settings = load_settings(self.config_path, self.environ)
            self.service.reload(settings)
        except SpotschedError as exc:
            log.error("config_reload_failed", error=exc.message, applied=False)
        except Exception:
            log.exception("config_reload_failed", applied=False)
        else:
            # Not applied until a restart, but checked now: the restart must not be a surprise.
            for problem in check_settings(settings):
                log.error("config_restart_would_fail", error=problem.message)
            old, self.settings = self.settings, self.service.settings
            if settings.log != old.log:
                configure_logging(settings.log.format, settings.log.level)
            interval = settings.scheduler.tick_interval
            if interval != old.scheduler.tick_interval:
                self.scheduler.reschedule_job("reconcile", trigger="interval", seconds=interval)
        finally:
            self.notifier.ready("reloaded")

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            threading.Thread(target=self._reload, name="reload", daemon=True).start()
            return
        log.info("daemon_stopping", signal=signal.Signals(signum).name)
        self._stopping.set()
        self.notifier.stopping()
        threading.Thread(target=self._shutdown, name="shutdown", daemon=True).start()

    def _shutdown(self) -> None:
        self.scheduler.shutdown(wait=True)

    def run(self) -> int:
        """Run until a stop signal (the database's lock is held since `__init__`)."""
        try:
            return self._run()
        finally:
            if self._lock is not None:
                self._lock.release()

    def _run(self) -> int:
        try:
            self.service.prepare()
        except DBAPIError as exc:
            raise explain_database_error(self.settings.database_url, exc) from None
        if self.metrics_server is not None:
            self.metrics_server.start()
        interval = self.settings.scheduler.tick_interval
        now = datetime.now().astimezone()
        common: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        self.scheduler.add_job(
            self._tick, "interval", seconds=interval, next_run_time=now, id="reconcile", **common
        )
        self.scheduler.add_job(self._retention, "interval", hours=1, id="retention", **common)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        log.info(
            "daemon_started",
            version=__version__,
            tick_interval=interval,
            database=self.settings.database_url.split("://")[0],
        )
        self.notifier.ready("running")
        try:
            self.scheduler.start()
        finally:
            if self.metrics_server is not None:
                self.metrics_server.stop()
        log.info("daemon_stopped")
        return 0
