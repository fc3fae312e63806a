"""The daemon as a process on RunPod's REST API v2 (`[runpod] api = "rest"`) against
`spotsched emulator` over real HTTP: an on-demand job launches, runs and finishes; a job that
allows only spot waits, saying why; the ledger matches the emulator's billing; the key stays out
of the log and the database. Ticks of 1 s keep the daemon inside the emulator's REST rate limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tests.e2e.processes import Admin, cli, daemon_config, emulator_process, jobs, stop, wait_for

pytestmark = pytest.mark.slow

GPU = "NVIDIA RTX A5000"
KEY = "e2e-rest-key-7d2b1e"


def test_daemon_on_rest_v2_runs_on_demand_and_accounts_every_dollar(tmp_path: Path) -> None:
    with (
        emulator_process("--seed", "4", "--startup-delay", "1", "--api-key", KEY) as (url, _emu),
        closing(Admin(url, KEY)) as admin,
    ):
        admin.post(
            "market",
            {"gpuTypeId": GPU, "cloudType": "SECURE", "spotPrice": 0.20, "onDemandPrice": 0.40},
        )
        state_dir = tmp_path / "state"
        state_dir.mkdir()
        db_file = state_dir / "spotsched.db"
        db = f"sqlite:///{db_file}"
        config = daemon_config(
            tmp_path / "spotsched.toml",
            f"{url}/graphql",
            state_dir,
            api="rest",
            scheduler={"tick_interval": "1s", "price_sample_interval": "10s"},
        )
        common = ["--image", "img", "--gpu", GPU, "--cloud-type", "SECURE"]
        cli("submit", "--db", db, "--name", "spot-only", *common, "--max-spot-price", "0.30")
        cli(
            "submit",
            "--db",
            db,
            "--name",
            "od-job",
            *common,
            "--max-spot-price",
            "0.30",
            "--max-on-demand-price",
            "0.45",
            "--env",
            "SPOTSCHED_SIM_BUSY_SECONDS=30",
            "--env",
            "SPOTSCHED_SIM_THEN=terminate",
        )
        log = (tmp_path / "daemon.log").open("w")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "scheduler", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "RUNPOD_API_KEY": KEY},
        )
        try:
            wait_for("od-job succeeded", lambda: jobs(db)["od-job"]["state"] == "succeeded")
            spot_only = jobs(db)["spot-only"]
            assert spot_only["state"] == "queued" and "spot" in spot_only["reason"]
            status = cli("status", "--db", db, "--config", str(config), "--json", check=False)
            assert '"spot": "absent"' in status.stdout and '"pods": "rest"' in status.stdout
        finally:
            code = stop(daemon)
            log.close()
        text = (tmp_path / "daemon.log").read_text()
        assert code == 0, text[-3000:]
        assert "spot_unavailable" in text
        recorded = sum(j["spend"] for j in jobs(db).values())
        billed = admin.billed()
        assert billed > 0
        # a pod that removes itself is noticed at the next 1 s tick: half a tick of 31 s billed
        assert recorded == pytest.approx(billed, rel=0.03)
        assert KEY not in text
        assert KEY.encode() not in db_file.read_bytes()
