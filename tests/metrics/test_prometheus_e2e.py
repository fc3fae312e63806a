"""A real Prometheus server scrapes a real `spotsched run` process, both on loopback.

The emulator, the daemon and Prometheus are separate processes; the test reads only what a user
reads: the daemon's /healthz and Prometheus's HTTP API. Everything is stopped by PID.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.metrics.conftest import GPU, MONITORING, tool

pytestmark = pytest.mark.slow

KEY = "prometheus-e2e-key-51c0"
SPOTSCHED = [sys.executable, "-m", "scheduler"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except httpx.HTTPError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def _stop(proc: subprocess.Popen[Any]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


@contextmanager
def _process(args: list[str], log: Path, **kwargs: Any) -> Iterator[subprocess.Popen[Any]]:
    with log.open("w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, **kwargs)
        try:
            yield proc
        finally:
            _stop(proc)


@contextmanager
def _emulator() -> Iterator[str]:
    proc = subprocess.Popen(
        [
            *SPOTSCHED,
            "emulator",
            "--port",
            "0",
            "--api-key",
            KEY,
            "--seed",
            "3",
            "--startup-delay",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "spotsched emulator listening on http://" in line, line
        yield line.strip().rsplit(" ", 1)[-1]
    finally:
        _stop(proc)
        if proc.stdout is not None:
            proc.stdout.close()


def _query(prom: str, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10)
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _scalar(prom: str, expr: str) -> float | None:
    result = _query(prom, expr)
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_daemon_and_answers_a_spend_query(tmp_path: Path) -> None:
    prometheus = tool("prometheus")
    state = tmp_path / "state"
    state.mkdir()
    db = f"sqlite:///{state / 'spotsched.db'}"
    metrics_port, prom_port = _free_port(), _free_port()
    with _emulator() as emu:
        for cloud in ("SECURE", "COMMUNITY"):
            httpx.post(
                f"{emu}/_emulator/market",
                timeout=10,
                headers={"Authorization": f"Bearer {KEY}"},
                json={
                    "gpuTypeId": GPU,
                    "cloudType": cloud,
                    "spotPrice": 0.20,
                    "onDemandPrice": 0.40,
                },
            ).raise_for_status()
        config = tmp_path / "spotsched.toml"
        config.write_text(
            f'state_dir = "{state}"\n\n[runpod]\napi_url = "{emu}/graphql"\ntimeout = 5\n\n'
            '[scheduler]\ntick_interval = "1s"\nprice_sample_interval = "10s"\n\n'
            f'[metrics]\nhost = "127.0.0.1"\nport = {metrics_port}\n\n'
            '[log]\nformat = "json"\n'
        )
        submit = subprocess.run(
            [
                *SPOTSCHED,
                "submit",
                "--db",
                db,
                "--name",
                "e2e",
                "--image",
                "img",
                "--gpu",
                GPU,
                "--cloud-type",
                "SECURE",
                "--max-spot-price",
                "0.30",
                "--env",
                "SPOTSCHED_SIM_BUSY_SECONDS=100000",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert submit.returncode == 0, submit.stderr
        prom_config = tmp_path / "prometheus.yml"
        prom_config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files:\n  - {MONITORING / 'alerts.yml'}\n"
            "scrape_configs:\n  - job_name: spotsched\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{metrics_port}']\n"
        )
        daemon_log = tmp_path / "daemon.log"
        with _process(
            [*SPOTSCHED, "run", "--config", str(config)],
            daemon_log,
            env={**os.environ, "RUNPOD_API_KEY": KEY},
        ) as daemon:
            health = f"http://127.0.0.1:{metrics_port}/healthz"
            _wait("daemon healthy", lambda: httpx.get(health, timeout=5).status_code == 200)
            with _process(
                [
                    prometheus,
                    f"--config.file={prom_config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                tmp_path / "prometheus.log",
            ) as prom_proc:
                prom = f"http://127.0.0.1:{prom_port}"
                spend = _wait(
                    "a positive spend in Prometheus",
                    lambda: (
                        (_scalar(prom, "sum(spotsched_spend_dollars_total)") or 0) > 0
                        and _scalar(prom, "sum(spotsched_spend_dollars_total)")
                    ),
                )
                assert spend > 0
                assert _scalar(prom, 'up{job="spotsched"}') == 1
                assert _scalar(prom, "spotsched_up") == 1
                assert _scalar(prom, 'spotsched_launches_total{kind="spot",outcome="ok"}') == 1
                assert _scalar(
                    prom, 'spotsched_burn_rate_dollars_per_hour{kind="spot"}'
                ) == pytest.approx(0.21)
                rules = httpx.get(f"{prom}/api/v1/rules", timeout=10).json()
                loaded = [r["name"] for g in rules["data"]["groups"] for r in g["rules"]]
                assert len(loaded) == 9 and "SpotschedDown" in loaded
                firing = _query(prom, 'ALERTS{alertstate="firing"}')
                assert firing == [], json.dumps(firing)
                assert prom_proc.poll() is None
            code = _stop(daemon)
        assert code == 0, daemon_log.read_text()[-3000:]
    assert KEY not in daemon_log.read_text()
