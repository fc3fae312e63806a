"""The daemon as a process against `spotsched emulator` over HTTP, driven through the admin API.

Real time, short durations: 0.5 s ticks, a 1 s container start-up, workloads of seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tests.e2e.processes import (
    Admin,
    cli,
    daemon_config,
    emulator_process,
    installation,
    jobs,
    raw_insert,
    stop,
    wait_for,
)

pytestmark = pytest.mark.slow

GPU = "NVIDIA RTX A5000"
KEY = "e2e-test-key-4f1c9a"


def _live(admin: Admin, name_prefix: str = "spotsched-") -> list[dict]:
    return [p for p in admin.pods() if p["name"].startswith(name_prefix)]


def test_daemon_process_schedules_against_emulator_over_http(tmp_path: Path) -> None:
    with (
        emulator_process("--seed", "3", "--startup-delay", "1", "--api-key", KEY) as (url, _emu),
        closing(Admin(url, KEY)) as admin,
    ):
        for cloud in ("SECURE", "COMMUNITY"):  # the raw row may use either cloud
            admin.post(
                "market",
                {"gpuTypeId": GPU, "cloudType": cloud, "spotPrice": 0.50, "onDemandPrice": 0.40},
            )
        state_dir = tmp_path / "state"
        state_dir.mkdir()
        db_file = state_dir / "spotsched.db"
        db = f"sqlite:///{db_file}"
        config = daemon_config(tmp_path / "spotsched.toml", f"{url}/graphql", state_dir)

        # one job through the CLI, one as a raw row with only the four required columns
        cli(
            "submit",
            "--db",
            db,
            "--name",
            "cli-job",
            "--image",
            "img",
            "--gpu",
            GPU,
            "--cloud-type",
            "SECURE",
            "--max-spot-price",
            "0.30",
            "--env",
            "SPOTSCHED_SIM_BUSY_SECONDS=8",
            "--env",
            "SPOTSCHED_SIM_THEN=idle",
            "--idle-timeout",
            "2s",
            "--idle-grace",
            "0",
        )
        raw_insert(db_file, name="sql-job", image="img", gpu_types=GPU, max_spot_price=0.30)

        log = (tmp_path / "daemon.log").open("w")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "scheduler", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "RUNPOD_API_KEY": KEY},
        )
        try:
            # spot above the limit: both jobs wait, no pod is created
            wait_for(
                "both jobs validated and queued",
                lambda: all(j["state"] == "queued" and j["reason"] for j in jobs(db).values()),
            )
            assert _live(admin) == []
            assert "no spot offer" in jobs(db)["sql-job"]["reason"]

            # the floor drops under the limit: spot pods bid floor x 1.05 per GPU
            for cloud in ("SECURE", "COMMUNITY"):
                admin.post("market", {"gpuTypeId": GPU, "cloudType": cloud, "spotPrice": 0.20})
            pods = wait_for("two spot pods", lambda: len(_live(admin)) == 2 and _live(admin))
            for pod in pods:
                assert pod["podType"] == "INTERRUPTABLE"
                assert pod["bidPerGpu"] == pytest.approx(0.21)
                assert pod["costPerHr"] == pytest.approx(0.21)
            wait_for(
                "both running", lambda: all(j["state"] == "running" for j in jobs(db).values())
            )

            # preempt the SQL job's pod: it comes back (bid-resume on the same host or relaunch)
            ours = installation(config)
            sql_pod = next(p for p in _live(admin) if p["name"] == f"spotsched-{ours}-2-1")
            admin.post("preempt", {"podId": sql_pod["id"]})
            wait_for("sql-job preempted", lambda: jobs(db)["sql-job"]["preemptions"] == 1)
            wait_for("sql-job running again", lambda: jobs(db)["sql-job"]["state"] == "running")

            # the CLI job's workload finishes, goes idle, is auto-stopped: succeeded
            done = wait_for(
                "cli-job succeeded",
                lambda: jobs(db)["cli-job"]["state"] == "succeeded" and jobs(db)["cli-job"],
                timeout=60,
            )
            assert "idle" in done["reason"]
            assert all(p["name"] != f"spotsched-{ours}-1-1" for p in _live(admin))

            # spot disappears; a new job with an on-demand limit runs on-demand
            admin.post("spot", {"enabled": False})
            cli(
                "submit",
                "--db",
                db,
                "--name",
                "od-job",
                "--image",
                "img",
                "--gpu",
                GPU,
                "--cloud-type",
                "SECURE",
                "--max-spot-price",
                "0.30",
                "--max-on-demand-price",
                "0.45",
                "--env",
                "SPOTSCHED_SIM_BUSY_SECONDS=3",
                "--env",
                "SPOTSCHED_SIM_THEN=terminate",
            )
            od = wait_for(
                "od-job pod",
                lambda: [
                    p for p in admin.pods(live_only=False) if p["name"] == f"spotsched-{ours}-3-1"
                ],
            )
            assert od[0]["podType"] == "RESERVED"
            assert od[0]["costPerHr"] == pytest.approx(0.40)
            wait_for("od-job succeeded", lambda: jobs(db)["od-job"]["state"] == "succeeded")
            detail = cli("job", "3", "--db", db, "--json").stdout
            assert "spot_unavailable" in detail

            # cancel the SQL job; its pod is terminated
            cli("cancel", "2", "--db", db)
            wait_for("sql-job cancelled", lambda: jobs(db)["sql-job"]["state"] == "cancelled")
            wait_for("no live spotsched pods", lambda: _live(admin) == [])
        finally:
            code = stop(daemon)
            log.close()
        assert code == 0, (tmp_path / "daemon.log").read_text()[-3000:]

        # every dollar accounted: the ledger matches RunPod's (emulated) billing within 1 %
        recorded = sum(j["spend"] for j in jobs(db).values())
        billed = admin.billed()
        assert billed > 0
        assert recorded == pytest.approx(billed, rel=0.01)
        # the API key never reached the log or the database
        assert KEY not in (tmp_path / "daemon.log").read_text()
        assert KEY.encode() not in db_file.read_bytes()
