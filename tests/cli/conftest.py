"""The CLI as people run it: commands through typer's `CliRunner` (or `python -m scheduler`),
RunPod as the emulator served over HTTP on loopback in a thread, the daemon's real `Service`
ticking on a virtual clock against it, and a real SQLite file.

The virtual clock starts at the wall clock's present, so what `spotsched status` computes from
the real time (the age of the last tick) sees a daemon that just ticked.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from scheduler.cli import fleet_cmd, jobs_cmd, money_cmd, run_cmd
from scheduler.daemon.config import load_settings
from scheduler.daemon.service import Service
from scheduler.domain.clock import Clock, VirtualClock
from scheduler.domain.job import parse_job
from scheduler.emulator import Emulator
from scheduler.emulator.server import serve
from scheduler.runpod.models import DeployRequest
from scheduler.store import open_engine

KEY = "sk-live-SECRET-1234"
GPU = "NVIDIA RTX A5000"
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - a setting under test, never bound here


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def toml_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else json.dumps(value)


def write_config(path: Path, top: dict[str, Any] | None = None, **sections: dict[str, Any]) -> Path:
    lines = [f"{k} = {toml_value(v)}" for k, v in (top or {}).items()]
    for name, values in sections.items():
        lines += ["", f"[{name}]", *(f"{k} = {toml_value(v)}" for k, v in values.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.callback()(lambda: None)  # keep the commands sub-commands
    for module in (run_cmd, jobs_cmd, fleet_cmd, money_cmd):
        module.register(app)
    return app


def spotsched(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run one command in-process; stdout and stderr apart. Exceptions other than the exit are
    not caught: a traceback is a failed test. The environment is this test's alone: no key, no
    SPOTSCHED_* from the outside, a wide terminal so that table cells are not folded."""
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("SPOTSCHED_")}
    clean |= {"RUNPOD_API_KEY": None, "CREDENTIALS_DIRECTORY": None, "COLUMNS": "250"}
    runner = CliRunner()
    return runner.invoke(_app(), list(args), env={**clean, **(env or {})}, catch_exceptions=False)


def json_of(result: Result) -> Any:
    assert result.exit_code in (0, 4), result.stderr
    return json.loads(result.stdout)


class Served:
    """An emulator answering over HTTP on 127.0.0.1 from a thread, until `close()`."""

    def __init__(self, clock: Clock, *, api_key: str | None = KEY, startup_delay: float = 30.0):
        self.clock = clock
        self.emu = Emulator(clock, seed=3, api_key=api_key, startup_delay=startup_delay)
        self._stop = threading.Event()
        ready = threading.Event()
        urls: list[str] = []

        def on_ready(url: str) -> None:
            urls.append(url)
            ready.set()

        self._thread = threading.Thread(
            target=serve,
            args=(self.emu, "127.0.0.1", 0, on_ready),
            kwargs={"stop": self._stop},
            daemon=True,
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the emulator did not start listening")
        self.url = urls[0]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def pin(self, spot: float | None = 0.20, on_demand: float = 0.40, stock: int = 4) -> None:
        for cloud in ("SECURE", "COMMUNITY"):
            self.emu.set_market(GPU, cloud, spot_price=spot, on_demand_price=on_demand, stock=stock)

    def config(self, path: Path, **sections: dict[str, Any]) -> Path:
        """A config for the CLI: this emulator as RunPod, the state directory next to it,
        metrics on a port where nothing listens unless a section says otherwise."""
        runpod = {"api_url": f"{self.url}/graphql", "timeout": 5} | sections.pop("runpod", {})
        metrics = {"port": free_port()} | sections.pop("metrics", {})
        state = path.parent / "state"
        state.mkdir(exist_ok=True)
        return write_config(
            path, {"state_dir": str(state)}, runpod=runpod, metrics=metrics, **sections
        )


class World(Served):
    """`Served` plus the daemon's `Service` on `state/spotsched.db`, ticked by the test."""

    def __init__(self, tmp_path: Path, **sections: dict[str, Any]) -> None:
        super().__init__(VirtualClock(datetime.now(UTC).replace(microsecond=0)))
        self.config_file = self.config(tmp_path / "spotsched.toml", **sections)
        self.settings = load_settings(self.config_file, environ={})
        self.db_file = Path(self.settings.state_dir) / "spotsched.db"
        self.engine = open_engine(self.settings.database_url)
        self.http = httpx.Client()
        self.service = Service(
            self.settings, clock=self.clock, http=self.http, engine=self.engine, api_key=KEY
        )
        self.service.prepare()

    def close(self) -> None:
        self.http.close()
        self.engine.dispose()
        super().close()

    def submit(self, name: str, **fields: Any) -> int:
        raw: dict[str, Any] = {
            "name": name,
            "image": "img",
            "gpu_types": [GPU],
            "cloud_type": "SECURE",
            "max_spot_price": 0.30,
            "env": {"SPOTSCHED_SIM_BUSY_SECONDS": "100000"},
        } | fields
        return self.service.store.submit(parse_job(raw), self.clock.now(), "test")

    def tick(self, advance: float = 30.0) -> None:
        if advance:
            self.emu.advance(advance)
        report = self.service.tick()
        assert report.ok, report.errors

    def deploy(self, name: str, *, spot: bool = False) -> str:
        """A pod created on the account directly (not by the daemon)."""
        request = DeployRequest(
            name=name, image_name="img", gpu_type_id=GPU, bid_per_gpu=0.25 if spot else None
        )
        return self.service.client.deploy(request).id


@pytest.fixture
def served() -> Iterator[Served]:
    s = Served(VirtualClock(datetime.now(UTC).replace(microsecond=0)))
    yield s
    s.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, budget={"daily": 20.0, "monthly": 400.0})
    yield w
    w.close()


@pytest.fixture
def running(world: World) -> World:
    """One spot job (`train`, job 1) running on its pod for a few ticks."""
    world.pin()
    world.submit("train")
    for _ in range(5):
        world.tick()
    assert [j["state"] for j in world.service.store.list_jobs()] == ["running"]
    return world
