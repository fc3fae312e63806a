"""One daemon per SQLite database: a second `spotsched run` on the same file refuses to start
with one line naming the holder, the first keeps running, and the listing commands work
beside it all along (they never take the lock)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e.processes import Admin, cli, daemon_config, emulator_process, stop, wait_for

pytestmark = pytest.mark.slow

KEY = "e2e-test-key-lock-7d2e"


def _last_tick(config: Path) -> str | None:
    run = cli("status", "--config", str(config), "--json", check=False)
    if run.returncode not in (0, 4):
        return None
    return json.loads(run.stdout)["last_tick_at"]


def test_a_second_daemon_on_the_same_database_refuses_to_start(tmp_path: Path) -> None:
    with emulator_process("--api-key", KEY) as (url, _emu), closing(Admin(url)):
        state_dir = tmp_path / "state"
        state_dir.mkdir()
        config = daemon_config(tmp_path / "spotsched.toml", f"{url}/graphql", state_dir)
        env = {**os.environ, "RUNPOD_API_KEY": KEY}
        log = (tmp_path / "first.log").open("w")
        first = subprocess.Popen(
            [sys.executable, "-m", "scheduler", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        try:
            ticked = wait_for("the first daemon's first tick", lambda: _last_tick(config))

            second = cli("run", "--config", str(config), env={"RUNPOD_API_KEY": KEY}, check=False)

            assert second.returncode == 1, second.stderr
            [line] = second.stderr.strip().splitlines()
            assert "another spotsched daemon already runs on this database" in line
            assert f"pid {first.pid} on host {socket.gethostname()} since " in line
            assert str(state_dir / "spotsched.db.lock") in line
            assert "Traceback" not in second.stderr + second.stdout
            # the first one never noticed: it is still running and still ticking
            assert first.poll() is None
            wait_for("a later tick", lambda: (_last_tick(config) or "") > ticked)
            assert cli("jobs", "--config", str(config), "--json").returncode == 0
        finally:
            assert stop(first) == 0
            log.close()

        # its lock went with it: a new daemon starts
        holder = json.loads((state_dir / "spotsched.db.lock").read_text())
        assert holder["pid"] == first.pid
        assert datetime.fromisoformat(holder["since"]).tzinfo is not None
        third = subprocess.Popen(
            [sys.executable, "-m", "scheduler", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            later = _last_tick(config) or ""
            wait_for("the third daemon ticks", lambda: (_last_tick(config) or "") > later)
            assert third.poll() is None
        finally:
            assert stop(third) == 0
