"""The API key never leaves the Authorization header: not in any CLI output (stdout or stderr,
success or failure), the daemon's log, the metrics text or the database files.

`spotsched run` is a real process against the emulator served over HTTP (wall clock, a 1 s
container start-up), with metrics on; every everyday command runs as `python -m scheduler` with
the key in `RUNPOD_API_KEY`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from scheduler.domain.clock import SystemClock
from tests.cli.conftest import KEY, Served, free_port
from tests.e2e.processes import stop, wait_for

pytestmark = pytest.mark.slow


def _cli(outputs: list[str], *args: str, key: str = KEY, ok: bool = True) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTSCHED_")}
    run = subprocess.run(
        [sys.executable, "-m", "scheduler", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env | {"RUNPOD_API_KEY": key, "COLUMNS": "200"},
    )
    outputs.append(f"$ spotsched {' '.join(args)}\n{run.stdout}{run.stderr}")
    if ok:
        assert run.returncode == 0, f"spotsched {' '.join(args)}: {run.returncode}\n{run.stderr}"
    else:
        assert run.returncode != 0, run.stdout
    assert "Traceback" not in run.stderr, run.stderr
    return run.stdout


def _state(served: Served, tmp_path: Path) -> str | None:
    """Job 1's state, read straight from the database file (faster than a CLI process)."""
    with sqlite3.connect(tmp_path / "state" / "spotsched.db") as db:
        row = db.execute("SELECT state FROM jobs WHERE id = 1").fetchone()
    return None if row is None else str(row[0])


def test_the_key_never_appears_in_output_logs_metrics_or_database(tmp_path: Path) -> None:
    served = Served(SystemClock(), startup_delay=1.0)
    other = Served(SystemClock(), api_key="a-different-key")  # refuses KEY
    outputs: list[str] = []
    try:
        served.pin(spot=0.20, on_demand=0.40)
        metrics_port = free_port()
        config = served.config(
            tmp_path / "spotsched.toml",
            scheduler={"tick_interval": "0.5s", "price_sample_interval": "5s"},
            policy={"launch_grace": "10s"},
            metrics={"port": metrics_port},
            log={"format": "json", "level": "debug"},
        )
        c = ["--config", str(config)]
        _cli(outputs, "check-config", *c)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTSCHED_")}
        job = ["--name", "train", "--image", "img", "--gpu", "NVIDIA RTX A5000"]
        _cli(outputs, "submit", *c, *job, "--max-spot-price", "0.30", "--cloud-type", "SECURE")

        log_file = tmp_path / "daemon.log"
        with (
            log_file.open("w") as log,
            subprocess.Popen(
                [sys.executable, "-m", "scheduler", "run", *c],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env | {"RUNPOD_API_KEY": KEY},
            ) as daemon,
        ):
            try:
                wait_for("the job running", lambda: _state(served, tmp_path) == "running")
                pods = json.loads(_cli(outputs, "pods", *c, "--json"))["pods"]
                assert [p["job_name"] for p in pods] == ["train"]
                everyday = [
                    ["pods", "--all"],
                    ["prices"],
                    ["prices", "--json"],
                    ["status"],
                    ["jobs", "--json"],
                    ["job", "1", "--json"],
                    ["cost", "--json"],
                ]
                with ThreadPoolExecutor(max_workers=5) as pool:  # processes; only to save time
                    list(pool.map(lambda args: _cli(outputs, *args, *c), everyday))
                health = json.loads(_cli(outputs, "status", *c, "--json"))["metrics"]
                assert health["reachable"] is True and health["healthy"] is True
                metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
                assert "spotsched_" in metrics
                # failures carry the key too: refused by RunPod, RunPod unreachable
                refused = served.config(
                    tmp_path / "refused.toml", runpod={"api_url": f"{other.url}/graphql"}
                )
                _cli(outputs, "pods", "--config", str(refused), ok=False)
                gone = served.config(
                    tmp_path / "gone.toml",
                    runpod={"api_url": f"http://127.0.0.1:{free_port()}/graphql", "timeout": 2},
                )
                _cli(outputs, "prices", "--config", str(gone), ok=False)
                _cli(outputs, "pods", "--config", str(gone), ok=False)
            finally:
                assert stop(daemon) == 0, log_file.read_text()[-3000:]
    finally:
        served.close()
        other.close()

    text = "\n".join(outputs)
    assert "refused the API key" in text and "RunPod:" in text  # the failures really happened
    assert KEY not in text
    daemon_log = log_file.read_text()
    assert "pod_launched" in daemon_log
    assert KEY not in daemon_log
    assert KEY not in metrics
    files = list((tmp_path / "state").iterdir())
    assert any(f.name == "spotsched.db" for f in files)
    for f in files:
        assert KEY.encode() not in f.read_bytes(), f
