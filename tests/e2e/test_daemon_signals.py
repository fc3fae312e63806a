"""The daemon as systemd runs it: sd_notify READY/WATCHDOG on NOTIFY_SOCKET, SIGHUP reloads the
configuration and re-syncs the jobs file, SIGTERM ends it cleanly with exit status 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from scheduler.domain.views import parse_pod_name
from tests.e2e.processes import (
    Admin,
    cli,
    daemon_config,
    emulator_process,
    jobs,
    stop,
    wait_for,
)

pytestmark = pytest.mark.slow

JOB = """
[[job]]
name = "{name}"
image = "img"
gpu_types = ["NVIDIA RTX A5000"]
max_spot_price = {price}
"""


def _datagrams(sock: socket.socket, seconds: float) -> list[str]:
    got: list[str] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            got.append(sock.recv(4096).decode())
        except BlockingIOError:
            time.sleep(0.05)
    return got


def test_notify_reload_and_clean_stop(tmp_path: Path) -> None:
    with emulator_process("--startup-delay", "1") as (url, _emu), closing(Admin(url)) as admin:
        for cloud in ("SECURE", "COMMUNITY"):
            admin.post(
                "market", {"gpuTypeId": "NVIDIA RTX A5000", "cloudType": cloud, "spotPrice": 0.50}
            )
        state_dir = tmp_path / "state"
        state_dir.mkdir()
        jobs_file = tmp_path / "jobs.toml"
        jobs_file.write_text(JOB.format(name="first", price=0.10))
        config = daemon_config(
            tmp_path / "spotsched.toml",
            f"{url}/graphql",
            state_dir,
            scheduler={"tick_interval": "0.5s", "jobs_file": str(jobs_file)},
        )
        notify_path = tmp_path / "notify.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(notify_path))
        sock.setblocking(False)
        log = tmp_path / "daemon.log"
        with log.open("w") as out:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "scheduler", "run", "--config", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, "RUNPOD_API_KEY": "k", "NOTIFY_SOCKET": str(notify_path)},
            )
        db = f"sqlite:///{state_dir / 'spotsched.db'}"
        try:
            seen: list[str] = []

            def ready_and_watchdog() -> bool:
                seen.extend(_datagrams(sock, 0.5))
                return any("READY=1" in m for m in seen) and any("WATCHDOG=1" in m for m in seen)

            wait_for("READY=1 and a WATCHDOG=1", ready_and_watchdog, timeout=60)
            wait_for("the jobs file synced on start", lambda: "first" in jobs(db))

            # edit the jobs file and the config, then SIGHUP: both are picked up
            jobs_file.write_text(
                JOB.format(name="first", price=0.20) + JOB.format(name="second", price=0.10)
            )
            daemon.send_signal(signal.SIGHUP)
            synced = wait_for("the new job after SIGHUP", lambda: "second" in jobs(db) and jobs(db))
            assert synced["first"]["max_spot_price"] == pytest.approx(0.20)  # updated while queued
            reload_msgs = _datagrams(sock, 1.5)
            assert any("RELOADING=1" in m for m in reload_msgs) or any(
                "READY=1" in m for m in reload_msgs
            )
        finally:
            code = stop(daemon)
            sock.close()
        text = log.read_text()
        assert code == 0, text[-2000:]
        assert '"event": "config_reloaded"' in text
        assert '"event": "daemon_stopped"' in text


def test_a_reload_with_a_broken_jobs_file_applies_nothing(tmp_path: Path) -> None:
    """SIGHUP with a new bid_margin and a broken jobs file: the daemon logs the failure and
    goes on with the old margin (it used to apply the margin and then fail on the file); the
    fixed files apply whole, and a setting that needs a restart is named."""
    with emulator_process("--startup-delay", "1") as (url, _emu), closing(Admin(url)) as admin:
        for cloud in ("SECURE", "COMMUNITY"):
            admin.post(
                "market", {"gpuTypeId": "NVIDIA RTX A5000", "cloudType": cloud, "spotPrice": 0.20}
            )
        state_dir = tmp_path / "state"
        state_dir.mkdir()
        jobs_file = tmp_path / "jobs.toml"
        jobs_file.write_text(JOB.format(name="first", price=0.30))
        sections = {"scheduler": {"tick_interval": "0.5s", "jobs_file": str(jobs_file)}}

        def configure(margin: float, database: str | None = None) -> Path:
            return daemon_config(
                tmp_path / "spotsched.toml",
                f"{url}/graphql",
                state_dir,
                policy={"launch_grace": "5s", "bid_margin": margin},
                **({"database": {"url": database}} if database else {}),
                **sections,
            )

        config = configure(0.05)
        log = tmp_path / "daemon.log"
        with log.open("w") as out:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "scheduler", "run", "--config", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, "RUNPOD_API_KEY": "k"},
            )
        db = f"sqlite:///{state_dir / 'spotsched.db'}"

        def bids() -> dict[tuple[int, int] | None, float]:
            pods = admin.pods(live_only=False)
            return {parse_pod_name(p["name"]): p["costPerHr"] for p in pods}

        try:
            wait_for("the first pod", lambda: bids().get((1, 1)))
            assert bids()[(1, 1)] == pytest.approx(0.21)  # 0.20 x (1 + 0.05)

            configure(0.5)
            jobs_file.write_text(
                JOB.format(name="first", price=0.30) + JOB.format(name="second", price="'x'")
            )
            daemon.send_signal(signal.SIGHUP)
            wait_for("the failed reload", lambda: "config_reload_failed" in log.read_text())
            later = ("--name", "later", "--image", "img", "--gpu", "NVIDIA RTX A5000")
            cli("submit", "--db", db, *later, "--max-spot-price", "0.30")
            wait_for("the later pod", lambda: bids().get((2, 1)))
            assert bids()[(2, 1)] == pytest.approx(0.21)  # the old margin
            assert "second" not in jobs(db)

            configure(0.5, database=f"sqlite:///{tmp_path / 'gone' / 'spotsched.db'}")
            jobs_file.write_text(JOB.format(name="third", price=0.30))
            daemon.send_signal(signal.SIGHUP)
            wait_for("the third pod", lambda: bids().get((3, 1)))
            assert bids()[(3, 1)] == pytest.approx(0.30)  # min(0.30, 0.20 x 1.5)
        finally:
            code = stop(daemon)
        text = log.read_text()
        assert code == 0, text[-2000:]
        failed = [line for line in text.splitlines() if "config_reload_failed" in line]
        assert len(failed) == 1 and "max_spot_price" in failed[0], failed
        restart = [line for line in text.splitlines() if "config_reload_needs_restart" in line]
        assert len(restart) == 1 and "database.url" in restart[0], restart
        surprise = [line for line in text.splitlines() if "config_restart_would_fail" in line]
        assert len(surprise) == 1 and f"database folder {tmp_path / 'gone'}" in surprise[0]
