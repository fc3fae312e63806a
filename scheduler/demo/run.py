"""Driving the demo day: the real `Service` (store, reconciler, client) against the emulator."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from scheduler.daemon.config import (
    DatabaseSection,
    PolicySection,
    RunPodSection,
    SchedulerSection,
    Settings,
)
from scheduler.daemon.service import Service
from scheduler.demo.scenario import EVENTS, HOUR, JOBS, OPENING, SQL_JOB, MarketEvent
from scheduler.domain.clock import VirtualClock
from scheduler.domain.job import parse_job
from scheduler.emulator import Emulator
from scheduler.runpod.port import ApiChoice, Capability
from scheduler.store import open_engine

DAY_START = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


@dataclass
class Frame:
    """What the screen shows after a tick."""

    now: datetime
    hours: float
    jobs: list[dict[str, Any]]
    log: list[str]
    spot_enabled: bool
    burn_rate: float
    spend: float


@dataclass
class Summary:
    jobs: list[dict[str, Any]]
    spend: float
    on_demand_cost: float
    emulator_billed: float
    ticks: int
    database: str
    log: list[str] = field(default_factory=list)
    api: str = ApiChoice.AUTO.value
    spot_available: bool = True
    naive_cost: float = 0.0
    """The same work on each job's first-listed GPU type, on-demand (no comparison shopping)."""

    @property
    def savings(self) -> float:
        return self.on_demand_cost - self.spend

    @property
    def placement_savings(self) -> float:
        """What choosing among the acceptable GPU types saved against the naive choice."""
        return self.naive_cost - self.spend


class DemoRun:
    def __init__(
        self,
        *,
        seed: int = 7,
        tick: float = 60.0,
        hours: float = 24.0,
        database: Path | None = None,
        api: ApiChoice = ApiChoice.AUTO,
    ) -> None:
        self.clock = VirtualClock(DAY_START)
        self.emulator = Emulator(self.clock, seed=seed, startup_delay=60.0)
        self.tick_seconds, self.hours = tick, hours
        if database is None:
            database = Path(tempfile.mkdtemp(prefix="spotsched-demo-")) / "demo.db"
        self.database = database
        url = f"sqlite:///{database}"
        settings = Settings(
            state_dir=str(database.parent),
            database=DatabaseSection(url=url),
            scheduler=SchedulerSection(tick_interval=tick, price_sample_interval=600),
            policy=PolicySection(resume_wait=600, launch_grace=180, changeover_delay=600),
            runpod=RunPodSection(api=api),
        )
        http = httpx.Client(transport=self.emulator.transport(), base_url="https://api.runpod.io")
        self.engine = open_engine(url)
        self.service = Service(
            settings, clock=self.clock, http=http, engine=self.engine, api_key="demo-key-not-secret"
        )
        self.log: list[str] = []
        self._last_event = 0

    def _stamp(self) -> str:
        elapsed = (self.clock.now() - DAY_START).total_seconds()
        return f"{int(elapsed // 3600):02d}:{int(elapsed % 3600 // 60):02d}"

    def _say(self, text_: str) -> None:
        self.log.append(f"{self._stamp()}  {text_}")

    def _submit_initial(self) -> None:
        now = self.clock.now()
        for raw in JOBS:
            spec_raw = {k: v for k, v in raw.items() if k != "deadline_in"}
            if "deadline_in" in raw:
                spec_raw["deadline"] = now + timedelta(seconds=float(raw["deadline_in"]))
            job_id = self.service.store.submit(parse_job(spec_raw), now, "demo")
            self._say(f"job {job_id} {raw['name']} submitted (CLI/TOML path)")

    def _insert_sql_job(self) -> None:
        cols = ("name", "image", "gpu_types", "max_spot_price", "max_on_demand_price", "env")
        with self.engine.begin() as conn:
            values = ", ".join(":" + c for c in cols)
            conn.execute(
                text(f"INSERT INTO jobs ({', '.join(cols)}) VALUES ({values})"),
                {c: SQL_JOB[c] for c in cols},
            )
        self._say(f"{SQL_JOB['name']} inserted as a raw row into the jobs table")

    def _apply(self, event: MarketEvent) -> None:
        report = self.service.last_report
        pods = {
            j.spec.name: j.live.pod_id
            for j in (report.jobs if report else ())
            if j.live is not None and j.live.pod_id is not None
        }
        event.apply(self.emulator, pods)
        if event.text:
            self._say(f"[market] {event.text}")

    def _track(self) -> None:
        """Tell the story from the audit trail: every job event since the last look."""
        for e in self.service.store.events_since(self._last_event):
            self._last_event = e["id"]
            if e["kind"] == "transition" and e["from"] is not None:
                self._say(f"{e['name']}: {e['from']} -> {e['to']} ({e['reason']})")
            elif e["kind"] in ("overbid", "resume_failed"):
                self._say(f"{e['name']}: {e['kind']} ({e['reason']})")

    def frame(self) -> Frame:
        jobs = self.service.store.list_jobs()
        report = self.service.last_report
        live = {j.id: j.live for j in (report.jobs if report else ()) if j.live is not None}
        for j in jobs:
            a = live.get(j["id"])
            j["kind"] = a.kind.value if a else ""
            j["gpu"] = a.gpu_type_id if a else ""
            j["cost_per_hr"] = a.cost_per_hr if a else None
        state = self.emulator.state()
        burn = sum(
            p.get("costPerHr") or 0.0 for p in state["pods"] if p.get("desiredStatus") == "RUNNING"
        )
        return Frame(
            now=self.clock.now(),
            hours=(self.clock.now() - DAY_START).total_seconds() / HOUR,
            jobs=jobs,
            log=list(self.log),
            spot_enabled=bool(state["spotEnabled"]),
            burn_rate=burn,
            spend=sum(j["spend"] for j in jobs),
        )

    def run(self, on_frame: Callable[[Frame], None] | None = None, every: int = 10) -> Summary:
        self.service.prepare()
        for event in OPENING:
            self._apply(event)
        self._submit_initial()
        pending = sorted(EVENTS, key=lambda e: e.at)
        sql_done = False
        ticks = int(self.hours * HOUR / self.tick_seconds)
        for i in range(ticks + 1):
            elapsed = i * self.tick_seconds
            while pending and pending[0].at <= elapsed:
                self._apply(pending.pop(0))
            if not sql_done and elapsed >= float(SQL_JOB["at"]):  # type: ignore[arg-type]
                self._insert_sql_job()
                sql_done = True
            self.service.tick()
            self._track()
            if on_frame is not None and (i % every == 0 or i == ticks):
                on_frame(self.frame())
            if i < ticks:
                self.clock.advance(self.tick_seconds)
        return self.summary(ticks)

    def _naive_cost(self, detail: dict[str, Any]) -> float:
        """The job's work at its first-listed GPU type's secure on-demand price (now)."""
        first = str(detail["gpu_types"]).split(",")[0]
        gpu, _colon, speed = first.partition(":")
        prices = {
            m["gpuTypeId"]: m["onDemandPrice"]
            for m in self.emulator.state()["market"]
            if m["cloudType"] == "SECURE"
        }
        price = prices.get(gpu) or 0.0
        hours = float(detail["work_seconds"]) / float(speed or 1.0) / HOUR
        return hours * price * int(detail["gpu_count"])

    def summary(self, ticks: int) -> Summary:
        details = [self.service.store.job_detail(j["id"]) for j in self.service.store.list_jobs()]
        details.sort(key=lambda d: d["id"])
        rows = [
            {
                "id": d["id"],
                "name": d["name"],
                "state": d["state"],
                "reason": d["reason"],
                "spend": d["money"]["spend"],
                "on_demand_cost": d["money"]["on_demand_cost"],
                "savings": d["money"]["savings"],
                "waste": d["money"]["waste"],
                "preemptions": d["preemptions"],
                "kinds": sorted({a["kind"] for a in d["attempts"]}),
            }
            for d in details
        ]
        capabilities = self.service.client.capabilities
        return Summary(
            api=self.service.settings.runpod.api.value,
            spot_available=capabilities.has(Capability.SPOT),
            naive_cost=sum(self._naive_cost(d) for d in details),
            jobs=rows,
            spend=sum(r["spend"] for r in rows),
            on_demand_cost=sum(r["on_demand_cost"] for r in rows),
            emulator_billed=self.emulator.billing_total(),
            ticks=ticks + 1,
            database=str(self.database),
            log=list(self.log),
        )
