"""The endpoint: `/metrics` and `/healthz` over a real socket on loopback, plain and TLS.

`/healthz` reads the watched Service on its virtual clock, so staleness is produced by moving
virtual time, never by waiting.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scheduler import __version__
from scheduler.daemon.config import MetricsSection, Settings, load_settings
from scheduler.daemon.run import build_metrics
from scheduler.metrics import MetricsServer, make_app
from scheduler.metrics.server import MetricsUnavailable
from tests.metrics.conftest import Rig, sample_names, tool


@pytest.fixture
def served(rig: Rig) -> Iterator[tuple[Rig, str]]:
    server = MetricsServer(make_app(rig.registry, rig.metrics.health), "127.0.0.1", 0)
    url = server.start()
    yield rig, url
    server.stop()


def test_metrics_serves_the_registry_in_text_format(served: tuple[Rig, str]) -> None:
    rig, url = served
    rig.tick()
    r = httpx.get(f"{url}/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    names = sample_names(r.text)
    assert {"spotsched_up", "spotsched_ticks_total", "spotsched_build_info"} <= names
    assert httpx.get(f"{url}/nope", timeout=10).status_code == 404


def test_healthz_follows_the_last_successful_tick(served: tuple[Rig, str]) -> None:
    rig, url = served
    r = httpx.get(f"{url}/healthz", timeout=10)
    assert (r.status_code, r.text) == (503, "unhealthy: no successful tick yet\n")
    rig.tick()
    r = httpx.get(f"{url}/healthz", timeout=10)
    assert (r.status_code, r.text) == (200, "ok\n")
    # ticks stop: within stale_after (120 s) still healthy, past it 503 with the age
    rig.clock.advance(120)
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
    rig.clock.advance(80)
    r = httpx.get(f"{url}/healthz", timeout=10)
    assert (r.status_code, r.text) == (503, "unhealthy: last successful tick 200s ago\n")
    assert rig.value("spotsched_up") == 0
    rig.tick(0)
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200


def test_port_in_use_is_a_clear_error(rig: Rig) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = MetricsServer(make_app(rig.registry, rig.metrics.health), "127.0.0.1", port)
        with pytest.raises(MetricsUnavailable, match=f"127.0.0.1:{port}"):
            server.start()


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            tool("openssl"),
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_serves_https_only_and_a_silent_client_blocks_no_one(rig: Rig, tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    server = MetricsServer(
        make_app(rig.registry, rig.metrics.health),
        "127.0.0.1",
        0,
        tls_cert_file=str(cert),
        tls_key_file=str(key),
    )
    url = server.start()
    try:
        assert url.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(cert))
        rig.tick()
        # a client that connects and never starts the handshake must not hold the server
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))):
            r = httpx.get(f"{url}/metrics", verify=trust, timeout=10)
            assert r.status_code == 200 and "spotsched_up 1.0" in r.text
        assert httpx.get(f"{url}/healthz", verify=trust, timeout=10).text == "ok\n"
        with pytest.raises(httpx.HTTPError):
            httpx.get(url.replace("https://", "http://") + "/metrics", timeout=10)
        with pytest.raises(httpx.ConnectError):  # not trusted without the certificate
            httpx.get(f"{url}/metrics", timeout=10)
    finally:
        server.stop()


def test_tls_files_must_come_in_pairs_and_load(rig: Rig, tmp_path: Path) -> None:
    app = make_app(rig.registry, rig.metrics.health)
    with pytest.raises(MetricsUnavailable, match="both"):
        MetricsServer(app, "127.0.0.1", 0, tls_cert_file=str(tmp_path / "c.pem")).start()
    (tmp_path / "bad.pem").write_text("not a certificate\n")
    with pytest.raises(MetricsUnavailable, match="cannot serve metrics"):
        MetricsServer(
            app,
            "127.0.0.1",
            0,
            tls_cert_file=str(tmp_path / "bad.pem"),
            tls_key_file=str(tmp_path / "bad.pem"),
        ).start()


def test_the_daemon_builds_metrics_only_when_enabled(tmp_path: Path) -> None:
    metrics, registry = build_metrics(Settings(state_dir=str(tmp_path)))
    assert metrics is not None
    assert registry.get_sample_value("spotsched_build_info", {"version": __version__}) == 1
    assert registry.get_sample_value("process_start_time_seconds") is not None
    off, _ = build_metrics(Settings(state_dir=str(tmp_path), metrics=MetricsSection(enabled=False)))
    assert off is None


def test_spotsched_run_refuses_to_run_unwatched_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "spotsched.toml"
        config.write_text(
            f'state_dir = "{tmp_path / "state"}"\n[runpod]\napi_url = "http://127.0.0.1:9/graphql"\n'
            f'[metrics]\nport = {port}\n[log]\nformat = "json"\n'
        )
        run = subprocess.run(
            [sys.executable, "-m", "scheduler", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "RUNPOD_API_KEY": "k"},
        )
    assert run.returncode == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in run.stderr
    assert "daemon_started" not in run.stdout + run.stderr


def test_the_host_comes_from_the_environment(rig: Rig) -> None:
    # 127.0.0.2: another loopback address, so the test proves the override without listening
    # beyond loopback (SPOTSCHED_METRICS_HOST=0.0.0.0 is what a container uses)
    env = {"SPOTSCHED_METRICS_HOST": "127.0.0.2", "SPOTSCHED_METRICS_PORT": "0"}
    m = load_settings(None, env).metrics
    server = MetricsServer(make_app(rig.registry, rig.metrics.health), m.host, m.port)
    url = server.start()
    try:
        assert url.startswith("http://127.0.0.2:")
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 200
    finally:
        server.stop()
