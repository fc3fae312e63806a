"""A daemon-like rig for the metrics tests: the real `Service` (store on a real SQLite file,
reconciler, RunPod client) against the emulator in-process, on a virtual clock, with `Metrics`
on a fresh `CollectorRegistry` per test. Ticks are driven by the test, never by a scheduler.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from scheduler.daemon.config import (
    BudgetSection,
    DatabaseSection,
    PolicySection,
    SchedulerSection,
    Settings,
)
from scheduler.daemon.service import Service
from scheduler.domain.clock import VirtualClock
from scheduler.domain.job import parse_job
from scheduler.emulator import Emulator
from scheduler.emulator.catalogue import Catalogue, default_catalogue
from scheduler.emulator.faults import FaultRule
from scheduler.metrics import Metrics, MetricsServer, make_app
from scheduler.reconcile import TickReport
from scheduler.runpod.models import DeployRequest
from scheduler.store import open_engine

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
KEY = "metrics-test-key-8d2e61"
GPU = "NVIDIA RTX A5000"
ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"


class Rig:
    def __init__(
        self,
        tmp_path: Path,
        db_url: str,
        *,
        budget: BudgetSection | None = None,
        api_key: str = KEY,
        **emu: Any,
    ) -> None:
        self.clock = VirtualClock(START)
        self.emu = Emulator(self.clock, seed=3, api_key=KEY, startup_delay=30.0, **emu)
        self.settings = Settings(
            state_dir=str(tmp_path),
            database=DatabaseSection(url=db_url),
            scheduler=SchedulerSection(
                tick_interval=30, price_sample_interval=300, stale_after=120
            ),
            policy=PolicySection(launch_grace=60, resume_wait=60, orphan_grace=60),
            budget=budget or BudgetSection(),
        )
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry, version="9.9.9-test")
        self.engine = open_engine(db_url)
        self.http = httpx.Client(transport=self.emu.transport(), base_url="https://api.runpod.io")
        self.service = Service(
            self.settings,
            clock=self.clock,
            http=self.http,
            engine=self.engine,
            api_key=api_key,
            metrics=self.metrics,
        )
        self.service.prepare()

    def close(self) -> None:
        self.http.close()
        self.engine.dispose()

    def pin(self, spot: float | None = 0.20, on_demand: float = 0.40, stock: int = 4) -> None:
        for cloud in ("SECURE", "COMMUNITY"):
            self.emu.set_market(GPU, cloud, spot_price=spot, on_demand_price=on_demand, stock=stock)

    def submit(self, name: str = "train", **fields: Any) -> int:
        raw: dict[str, Any] = {
            "name": name,
            "image": "img",
            "gpu_types": [GPU],
            "cloud_type": "SECURE",
            "max_spot_price": 0.30,
            "idle_timeout": None,
            "env": {"SPOTSCHED_SIM_BUSY_SECONDS": "100000"},
        }
        raw.update(fields)
        return self.service.store.submit(parse_job(raw), self.clock.now(), "test")

    def tick(self, advance: float = 30.0) -> TickReport:
        if advance:
            self.emu.advance(advance)
        return self.service.tick()

    def value(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)

    def scrape(self) -> str:
        return generate_latest(self.registry).decode()

    def live_pods(self) -> list[dict[str, Any]]:
        return [
            p
            for p in self.emu.state()["pods"]
            if p["desiredStatus"] != "TERMINATED" and p["name"].startswith("spotsched-")
        ]


@pytest.fixture
def rig(tmp_path: Path, make_database: Callable[..., str]) -> Iterator[Rig]:
    r = Rig(tmp_path, make_database("sqlite"))
    yield r
    r.close()


@pytest.fixture
def make_rig(tmp_path: Path, make_database: Callable[..., str]) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def make(**kwargs: Any) -> Rig:
        r = Rig(tmp_path, make_database("sqlite"), **kwargs)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def sample_names(exposition: str) -> set[str]:
    """Every sample name in a text exposition (`_total`, `_bucket`, `_sum`, `_count` included)."""
    return {s.name for f in text_string_to_metric_families(exposition) for s in f.samples}


def tool(name: str) -> str:
    """The tool's path; skip when it is not installed, but fail under CI, which installs it
    (`scripts/install-monitoring-tools.sh`) first."""
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"{name} is not installed (run scripts/install-monitoring-tools.sh)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is expected to have run it", pytrace=False)
    pytest.skip(reason)


def twelve_gpu_catalogue() -> Catalogue:
    """The emulator's catalogue cut to its first 12 GPU types (the cardinality measure)."""
    full = default_catalogue()
    keep = {g.id for g in full.gpu_types[:12]}
    return Catalogue(
        gpu_types=full.gpu_types[:12],
        data_centers=full.data_centers,
        hosts=tuple(h for h in full.hosts if h.gpu_type_id in keep),
    )


@pytest.fixture(scope="session")
def live_scrape(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> str:
    """/metrics of a daemon-like run (12 GPU types) that touched every kind of series: budgets
    configured, a deadline job, a held job, an orphan pod, a launch, a preemption and its
    resume, spot disappearing (an on-demand fallback) and coming back, a failed market poll."""
    tmp = tmp_path_factory.mktemp("live-scrape")
    shutil.copyfile(_sqlite_template, tmp / "spotsched.db")
    rig = Rig(
        tmp,
        f"sqlite:///{tmp / 'spotsched.db'}",
        budget=BudgetSection(daily=50.0, monthly=500.0, max_spend_rate=10.0),
        catalogue=twelve_gpu_catalogue(),
    )
    server = MetricsServer(make_app(rig.registry, rig.metrics.health), "127.0.0.1", 0)
    url = server.start()
    try:
        rig.pin(spot=0.20, on_demand=0.40)
        rig.submit("deadline-job", deadline=START + timedelta(days=1), estimated_runtime="2h")
        rig.submit("cheap-job", max_spot_price=0.05)  # under the market: held
        ours = rig.service.store.installation(rig.clock.now())
        rig.service.client.deploy(  # a pod of this installation that no job owns
            DeployRequest(name=f"spotsched-{ours}-99-1", image_name="img", gpu_type_id=GPU)
        )
        for _ in range(3):
            rig.tick()
        [pod] = [p for p in rig.live_pods() if p["desiredStatus"] == "RUNNING"]
        rig.emu.preempt(pod["id"])
        for _ in range(3):
            rig.tick()
        rig.emu.set_spot_enabled(False)
        rig.submit("od-job", max_on_demand_price=0.45)
        rig.tick(400)
        rig.tick()
        rig.emu.set_spot_enabled(True)  # switching it off interrupted the spot pods
        rig.submit("spot-again-job")  # so a spot pod (and its bid) runs at the scrape
        rig.emu.inject_faults(FaultRule(kind="http_503", match="gpuTypes", count=10))
        rig.tick(400)
        rig.emu.clear_faults()
        rig.tick()
        rig.tick()  # the new spot job launches once the market poll succeeds again
        text = httpx.get(f"{url}/metrics", timeout=10).text
    finally:
        server.stop()
        rig.close()
    return text
