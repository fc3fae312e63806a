"""`spotsched status`: the last tick from the database (exit 4 when stale or never), the metrics
endpoint's /healthz, budget use and job counts."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from scheduler.cli.fleet_cmd import SPOT_UNAVAILABLE
from scheduler.daemon.config import load_settings
from scheduler.daemon.service import Service
from scheduler.domain.states import JobState
from scheduler.emulator.faults import FaultRule
from scheduler.metrics import MetricsServer, make_app
from tests.cli.conftest import ALL_INTERFACES, KEY, World, free_port, json_of, spotsched

STATUS_FIELDS = {
    "healthy",
    "cause",
    "tick_errors",
    "runpod_api_url",
    "checked_at",
    "last_tick_at",
    "last_tick_age_seconds",
    "stale_after_seconds",
    "spot_capable",
    "runpod_api",
    "budget",
    "jobs",
    "database",
    "metrics",
    "installation",
}
BUDGET_FIELDS = {
    "spend_today",
    "daily_limit",
    "daily_used_percent",
    "spend_month",
    "monthly_limit",
    "monthly_used_percent",
    "max_spend_rate",
}
METRICS_FIELDS = {"enabled", "host", "port", "url", "reachable", "healthy", "detail"}

Health = Callable[[], "str | None"]


@pytest.fixture
def endpoint() -> Iterator[Callable[..., int]]:
    """`endpoint(health, **tls) -> port`: a metrics server on 127.0.0.1 answering /healthz."""
    servers: list[MetricsServer] = []

    def start(health: Health, **tls: str) -> int:
        server = MetricsServer(make_app(CollectorRegistry(), health), "127.0.0.1", 0, **tls)
        servers.append(server)
        return int(server.start().rsplit(":", 1)[1])

    yield start
    for s in servers:
        s.stop()


def _status(world: World, *args: str, env: dict[str, str] | None = None) -> dict:
    return json_of(
        spotsched("status", "--config", str(world.config_file), "--json", *args, env=env)
    )


def test_a_database_the_daemon_never_ticked_on_is_exit_4(world: World) -> None:
    table = spotsched("status", "--config", str(world.config_file))
    assert table.exit_code == 4
    assert "no tick recorded" in table.stdout
    result = spotsched("status", "--config", str(world.config_file), "--json")
    assert result.exit_code == 4
    report = json_of(result)
    assert set(report) == STATUS_FIELDS
    assert report["healthy"] is False and report["last_tick_at"] is None
    assert report["jobs"] == {s.value: 0 for s in JobState}


def test_status_names_the_installation_its_pods_carry(running: World) -> None:
    report = _status(running)
    ours = report["installation"]
    [pod] = [p for p in running.emu.state()["pods"] if p["desiredStatus"] == "RUNNING"]
    assert pod["name"] == f"spotsched-{ours}-1-1"
    env = dict(running.emu.world.pods[pod["id"]].env)  # what the container sees
    assert env["SPOTSCHED_INSTALLATION"] == ours and env["SPOTSCHED_JOB_ID"] == "1"
    table = spotsched("status", "--config", str(running.config_file))
    assert f"install  {ours} (its pods are named spotsched-{ours}-<job>-<attempt>)" in table.stdout


def test_after_ticks_it_is_healthy_with_budget_and_job_counts(running: World) -> None:
    running.submit("waits", max_spot_price=0.01)  # under the market: stays queued
    running.tick()
    result = spotsched("status", "--config", str(running.config_file), "--json")
    assert result.exit_code == 0, result.stdout
    report = json_of(result)
    assert report["healthy"] is True and report["spot_capable"] is True
    last, _updated = running.service.store.facts()["last_tick_at"]
    assert report["last_tick_at"] == last
    assert report["stale_after_seconds"] == 300.0
    assert report["jobs"]["running"] == 1 and report["jobs"]["queued"] == 1
    assert sum(report["jobs"].values()) == 2

    budget = report["budget"]
    assert set(budget) == BUDGET_FIELDS
    assert (budget["daily_limit"], budget["monthly_limit"]) == (20.0, 400.0)
    today = running.clock.now().date().isoformat()
    ledger = running.service.store.cost_report(None, "day")
    spent_today = sum(r["spend"] for r in ledger if r["day"] == today)
    assert budget["spend_today"] == pytest.approx(spent_today) and spent_today > 0
    assert budget["daily_used_percent"] == pytest.approx(100 * spent_today / 20.0)
    assert budget["spend_month"] >= budget["spend_today"]
    assert budget["max_spend_rate"] is None

    table = spotsched("status", "--config", str(running.config_file))
    assert table.exit_code == 0
    for text in ("healthy", "last tick", "spot     available", "of $20.00", "running 1"):
        assert text in table.stdout


def test_a_stale_last_tick_is_exit_4(running: World) -> None:
    long_ago = running.clock.now() - timedelta(hours=1)
    running.service.store.set_facts({"last_tick_at": long_ago.isoformat()}, long_ago)
    result = spotsched("status", "--config", str(running.config_file))
    assert result.exit_code == 4
    assert "STALE" in result.stdout and "stale after 5m" in result.stdout
    report = json_of(spotsched("status", "--config", str(running.config_file), "--json"))
    assert report["healthy"] is False and report["last_tick_age_seconds"] > 3000


def test_spot_gone_is_shown(running: World) -> None:
    running.emu.set_spot_enabled(False)
    running.tick(advance=301)  # only a full market poll (price_sample_interval) rules spot out
    assert _status(running)["spot_capable"] is False
    assert SPOT_UNAVAILABLE in spotsched("status", "--config", str(running.config_file)).stdout


def test_healthz_reachable_ok_unhealthy_and_unreachable(
    running: World, endpoint: Callable[..., int], tmp_path: Path
) -> None:
    assert set(_status(running)["metrics"]) == METRICS_FIELDS
    nobody = _status(running)["metrics"]
    assert nobody["reachable"] is False and nobody["healthy"] is None

    ok = endpoint(lambda: None)
    report = _status(running, env={"SPOTSCHED_METRICS_PORT": str(ok)})
    assert report["metrics"] | {"detail": "ok"} == {
        "enabled": True,
        "host": "127.0.0.1",
        "port": ok,
        "url": f"http://127.0.0.1:{ok}/healthz",
        "reachable": True,
        "healthy": True,
        "detail": "ok",
    }

    sick = endpoint(lambda: "last successful tick 400s ago")
    report = _status(running, env={"SPOTSCHED_METRICS_PORT": str(sick)})
    assert report["metrics"]["healthy"] is False
    assert report["metrics"]["detail"] == "unhealthy: last successful tick 400s ago"
    table = spotsched(
        "status", "--config", str(running.config_file), env={"SPOTSCHED_METRICS_PORT": str(sick)}
    )
    assert "unhealthy: last successful tick 400s ago" in table.stdout

    off = _status(running, env={"SPOTSCHED_METRICS_ENABLED": "false"})["metrics"]
    assert off["enabled"] is False and off["url"] is None and "disabled" in off["detail"]


def test_metrics_host_override_to_all_interfaces_is_probed_on_loopback(
    running: World, endpoint: Callable[..., int]
) -> None:
    port = endpoint(lambda: None)
    env = {"SPOTSCHED_METRICS_HOST": ALL_INTERFACES, "SPOTSCHED_METRICS_PORT": str(port)}
    metrics = _status(running, env=env)["metrics"]
    assert metrics["host"] == ALL_INTERFACES
    assert metrics["url"] == f"http://127.0.0.1:{port}/healthz"
    assert metrics["reachable"] is True and metrics["healthy"] is True


def test_healthz_over_tls_trusts_the_daemons_own_certificate(
    running: World, endpoint: Callable[..., int], tmp_path: Path
) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (scripts/install-monitoring-tools.sh installs it)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-days", "1", "-subj", "/CN=spotsched.example"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    port = endpoint(lambda: None, tls_cert_file=str(cert), tls_key_file=str(key))
    env = {
        "SPOTSCHED_METRICS_PORT": str(port),
        "SPOTSCHED_METRICS_TLS_CERT_FILE": str(cert),
        "SPOTSCHED_METRICS_TLS_KEY_FILE": str(key),
    }
    metrics = _status(running, env=env)["metrics"]
    assert metrics["url"] == f"https://127.0.0.1:{port}/healthz"
    assert metrics["reachable"] is True and metrics["healthy"] is True


# ------------------------------------------------------------------------- the cause, named


def _failing_tick(world: World) -> None:
    world.emu.advance(30)
    assert not world.service.tick().ok


def test_a_rejected_key_is_named_as_the_cause(running: World) -> None:
    running.emu.inject_faults(FaultRule(kind="unauthorized"))
    _failing_tick(running)
    report = _status(running)
    assert report["cause"].startswith("RunPod rejects the API key")
    assert {e["operation"] for e in report["tick_errors"]} == {"market", "list_pods"}
    assert {e["kind"] for e in report["tick_errors"]} == {"authentication"}
    table = spotsched("status", "--config", str(running.config_file))
    assert "cause    RunPod rejects the API key" in table.stdout
    assert "RUNPOD_API_KEY" in table.stdout
    facts = running.service.store.facts()
    assert KEY not in str(facts) and KEY not in table.output


def test_runpod_unreachable_is_named_with_its_url(running: World, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/graphql"  # nothing listens: connection refused
    config = running.config(tmp_path / "moved.toml", runpod={"api_url": url})
    with httpx.Client() as http:
        moved = Service(
            load_settings(config, environ={}),
            clock=running.clock,
            http=http,
            engine=running.engine,
            api_key=KEY,
        )
        moved.prepare()
        running.emu.advance(30)
        assert not moved.tick().ok
    report = _status(running)
    assert report["runpod_api_url"] == url
    assert report["cause"].startswith(f"RunPod unreachable at {url} (could not reach RunPod")
    table = spotsched("status", "--config", str(running.config_file))
    assert f"RunPod unreachable at {url}" in table.stdout
    assert "error    list_pods: could not reach RunPod" in table.stdout


def test_the_cause_clears_after_a_clean_tick_and_stale_ticks_are_named(running: World) -> None:
    running.emu.inject_faults(FaultRule(kind="http_503", count=8))
    _failing_tick(running)
    assert _status(running)["cause"].startswith("RunPod failing at")
    cause = _status(running)["cause"]
    assert cause.startswith("RunPod failing at http") and "HTTP 503" in cause
    assert cause.endswith("(gave up after 4 attempts))")
    running.tick()
    report = _status(running)
    assert report["cause"] is None and report["tick_errors"] == []
    long_ago = running.clock.now() - timedelta(hours=1)
    running.service.store.set_facts({"last_tick_at": long_ago.isoformat()}, long_ago)
    report = _status(running)
    assert report["cause"].startswith("no tick for ") and "(stale after 5m)" in report["cause"]
    assert "is `spotsched run` running?" in report["cause"]


def test_a_hostile_error_message_is_shown_as_text(running: World) -> None:
    """RunPod's words reach the terminal as text: no markup, no terminal escapes."""
    hostile = '[{"operation": "list_pods", "kind": "rejected", "message": "\\u001b[2J[/bold]x"}]'
    running.service.store.set_facts({"tick_errors": hostile}, running.clock.now())
    table = spotsched("status", "--config", str(running.config_file))
    assert "\x1b" not in table.stdout
    assert "error    list_pods: \\x1b[2J[/bold]x" in table.stdout
    assert "cause    list_pods failed: \\x1b[2J[/bold]x" in table.stdout
