"""`[runpod] api` through the service: which API serves what shows in `spotsched status` (a fact
in the database) and in the metric `spotsched_runpod_api_serving`, and changes when GraphQL
retires under `auto`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from scheduler.cli.money_cmd import status_report
from scheduler.daemon.config import DatabaseSection, RunPodSection, Settings
from scheduler.daemon.service import Service
from scheduler.domain.clock import VirtualClock
from scheduler.domain.job import parse_job
from scheduler.emulator import Emulator
from scheduler.metrics import Metrics
from scheduler.runpod.port import ApiChoice
from scheduler.store import open_engine

KEY = "service-api-key"
GPU = "NVIDIA A40"


class Retiring(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.retired = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.retired and request.url.path == "/graphql":
            return httpx.Response(410, text="Gone", request=request)
        return self.inner.handle_request(request)


class Rig:
    def __init__(self, tmp_path: Path, api: ApiChoice) -> None:
        self.clock = VirtualClock()
        self.emu = Emulator(self.clock, seed=2, api_key=KEY)
        self.emu.set_market(GPU, "SECURE", spot_price=0.2, on_demand_price=0.4, stock=16)
        self.wire = Retiring(self.emu.transport())
        self.http = httpx.Client(transport=self.wire, base_url="https://api.runpod.io")
        self.settings = Settings(
            state_dir=str(tmp_path),
            database=DatabaseSection(url=f"sqlite:///{tmp_path / 'spotsched.db'}"),
            runpod=RunPodSection(api=api, api_url="https://api.runpod.io/graphql"),
        )
        self.registry = CollectorRegistry()
        self.engine = open_engine(self.settings.database_url)
        self.service = Service(
            self.settings,
            clock=self.clock,
            http=self.http,
            engine=self.engine,
            api_key=KEY,
            metrics=Metrics(self.registry, version="test"),
        )
        self.service.prepare()

    def tick(self, advance: float = 30) -> None:
        self.clock.advance(advance)
        self.service.tick()

    def serving(self) -> dict[str, str] | None:
        store = self.service.store
        report = status_report(self.settings, store.facts(), [], [], self.clock.now())
        value = report["runpod_api"]
        return None if value is None else dict(value)

    def metric(self, capability: str, api: str) -> float | None:
        labels = {"capability": capability, "api": api}
        return self.registry.get_sample_value("spotsched_runpod_api_serving", labels)


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        rig.http.close()
        rig.engine.dispose()


def test_rest_shows_spot_absent_and_jobs_run_on_demand(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, ApiChoice.REST)
    rigs.append(rig)
    spec = parse_job(
        {
            "name": "j",
            "image": "img",
            "gpu_types": [GPU],
            "cloud_type": "SECURE",
            "max_spot_price": 0.3,
            "max_on_demand_price": 0.45,
        }
    )
    job = rig.service.store.submit(spec, rig.clock.now(), "test")
    rig.tick()
    assert rig.serving() == {
        "pods": "rest",
        "market": "rest",
        "data_centers": "rest",
        "volumes": "rest",
        "templates": "rest",
        "spot": "absent",
        "bid_resume": "absent",
        "balance": "absent",
    }
    assert rig.metric("spot", "absent") == 1 and rig.metric("pods", "rest") == 1
    detail = rig.service.store.job_detail(job)
    assert detail["attempts"][0]["kind"] == "on_demand"
    assert rig.service.store.facts()["spot_capable"][0] == "no"


def test_auto_says_graphql_serves_spot_until_it_retires(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, ApiChoice.AUTO)
    rigs.append(rig)
    rig.tick()
    serving = rig.serving()
    assert serving is not None
    assert (serving["pods"], serving["spot"], serving["balance"]) == ("rest", "graphql", "graphql")
    assert rig.metric("spot", "graphql") == 1

    rig.wire.retired = True
    rig.tick(301)  # a full market poll is due: it asks GraphQL for spot floors and gets 410

    serving = rig.serving()
    assert serving is not None and (serving["pods"], serving["spot"]) == ("rest", "absent")
    assert rig.metric("spot", "absent") == 1 and rig.metric("spot", "graphql") is None


def test_a_reload_switches_the_api_and_adopts_the_live_pods(
    tmp_path: Path, rigs: list[Rig]
) -> None:
    rig = Rig(tmp_path, ApiChoice.GRAPHQL)
    rigs.append(rig)
    spec = parse_job(
        {
            "name": "j",
            "image": "img",
            "gpu_types": [GPU],
            "cloud_type": "SECURE",
            "max_spot_price": 0.3,
            "env": {"SPOTSCHED_SIM_THEN": "idle"},  # busy forever
        }
    )
    store = rig.service.store
    job = store.submit(spec, rig.clock.now(), "test")
    for _ in range(3):
        rig.tick()
    (attempt,) = store.job_detail(job)["attempts"]
    assert attempt["kind"] == "spot" and store.job_detail(job)["state"] == "running"

    rest = rig.settings.model_copy(
        update={"runpod": RunPodSection(api="rest", api_url="https://api.runpod.io/graphql")}
    )
    rig.service.reload(rest)  # what SIGHUP does after the file changed
    rig.tick()
    rig.tick()

    assert rig.serving() is not None and rig.serving()["pods"] == "rest"  # type: ignore[index]
    detail = store.job_detail(job)
    assert detail["state"] == "running"
    assert [a["pod_id"] for a in detail["attempts"]] == [attempt["pod_id"]]  # nothing relaunched
    live = [p for p in rig.emu.state()["pods"] if p["desiredStatus"] == "RUNNING"]
    assert [p["id"] for p in live] == [attempt["pod_id"]]
