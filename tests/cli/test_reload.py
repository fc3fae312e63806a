"""A reload (SIGHUP) applies the new configuration and jobs file whole or not at all: a broken
jobs file leaves every setting as it was (it used to leave a new `bid_margin` applied), and
settings that only a restart applies are named in a log line."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.daemon.config import load_settings
from scheduler.daemon.logs import configure_logging
from scheduler.domain.job import JobInputError
from scheduler.domain.views import parse_pod_name
from tests.cli.conftest import GPU, World, free_port

JOB = """
[[job]]
name = "{name}"
image = "img"
gpu_types = ["{gpu}"]
cloud_type = "SECURE"
max_spot_price = 0.30
env = {{ SPOTSCHED_SIM_BUSY_SECONDS = "100000" }}
"""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[World]:
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(JOB.format(name="first", gpu=GPU))
    world = World(tmp_path, scheduler={"jobs_file": str(jobs)}, policy={"bid_margin": 0.05})
    world.pin(spot=0.20)
    yield world
    world.close()


def _bids(world: World) -> dict[tuple[int, int] | None, float]:
    """What each spot pod costs per hour (one GPU: its bid), as RunPod bills it, by (job,
    attempt)."""
    pods = world.service.client.list_pods()
    return {parse_pod_name(p.name): p.cost_per_hr for p in pods if p.is_spot}


def _new_settings(world: World, tmp_path: Path, jobs: str, **sections: dict[str, object]):
    (tmp_path / "jobs.toml").write_text(jobs)
    config = world.config(
        tmp_path / "spotsched.toml",
        scheduler={"jobs_file": str(tmp_path / "jobs.toml")},
        **sections,
    )
    return load_settings(config, environ={})


def test_a_broken_jobs_file_applies_nothing(daemon: World, tmp_path: Path) -> None:
    daemon.tick()
    assert _bids(daemon) == {(1, 1): 0.21}  # 0.20 x (1 + 0.05)
    before = daemon.service.settings
    broken = JOB.format(name="second", gpu=GPU) + JOB.format(name="third", gpu=GPU).replace(
        "max_spot_price = 0.30", 'max_spot_price = "cheap"'
    )
    new = _new_settings(daemon, tmp_path, broken, policy={"bid_margin": 0.5})
    with pytest.raises(JobInputError, match="max_spot_price"):
        daemon.service.reload(new)
    assert daemon.service.settings is before
    assert daemon.service.reconciler.policy.bid_margin == 0.05
    daemon.submit("later")
    daemon.tick()
    assert [j["name"] for j in daemon.service.store.list_jobs()] == ["later", "first"]
    assert _bids(daemon)[(2, 1)] == 0.21  # the old margin, not 0.30


def test_a_good_reload_applies_and_names_what_needs_a_restart(
    daemon: World, tmp_path: Path
) -> None:
    daemon.tick()
    port = free_port()
    jobs = JOB.format(name="first", gpu=GPU) + JOB.format(name="second", gpu=GPU)
    new = _new_settings(daemon, tmp_path, jobs, policy={"bid_margin": 0.5}, metrics={"port": port})
    stream = io.StringIO()
    configure_logging("json", "info", stream)
    daemon.service.reload(new)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    restart = [line for line in lines if line["event"] == "config_reload_needs_restart"]
    assert [line["settings"] for line in restart] == [["metrics.port"]]
    assert lines[-1]["event"] == "config_reloaded"
    assert daemon.service.settings.metrics.port != port  # still the port it listens on
    assert daemon.service.settings.policy.bid_margin == 0.5
    daemon.tick()
    assert _bids(daemon)[(2, 1)] == 0.30  # min(0.30, 0.20 x 1.5): the new margin

    daemon.service.reload(new)  # until the restart, every reload says so
    again = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["settings"] for line in again if "settings" in line] == [["metrics.port"]] * 2
