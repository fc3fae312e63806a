"""SIGKILL the daemon at the two worst moments of a launch, restart it, and check that there
is no duplicate pod, no orphan, and the job carries on (DESIGN.md, crash safety)."""

from __future__ import annotations

import os
import signal
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
    stop,
    wait_for,
)

pytestmark = pytest.mark.slow

GPU = "NVIDIA RTX A5000"


def _start(config: Path, log: Path) -> subprocess.Popen[str]:
    with log.open("a") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "scheduler", "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "RUNPOD_API_KEY": "crash-test-key"},
        )


def _spotsched_pods(admin: Admin) -> list[dict]:
    return [p for p in admin.pods() if p["name"].startswith("spotsched-")]


# REST v2 has no spot: the job runs on-demand there, created with POST /v2/pods (createPod).
# Its daemon ticks every second (three REST requests a tick stay under the per-minute quota).
CREATE = {"graphql": "podRentInterruptable", "rest": "createPod"}


@pytest.mark.parametrize("api", ["graphql", "rest"])
@pytest.mark.parametrize("phase", ["before", "after"])
def test_sigkill_during_create_leaves_no_duplicate_and_no_orphan(
    tmp_path: Path, phase: str, api: str
) -> None:
    """phase "before": killed after the intent row, before RunPod created the pod.
    phase "after": killed after RunPod created the pod, before the daemon heard back."""
    create = CREATE[api]
    with (
        emulator_process("--seed", "5", "--startup-delay", "1") as (url, _emu),
        closing(Admin(url)) as admin,
    ):
        for cloud in ("SECURE", "COMMUNITY"):
            admin.post("market", {"gpuTypeId": GPU, "cloudType": cloud, "spotPrice": 0.15})
        state_dir = tmp_path / "state"
        state_dir.mkdir()
        db = f"sqlite:///{state_dir / 'spotsched.db'}"
        config = daemon_config(
            tmp_path / "spotsched.toml",
            f"{url}/graphql",
            state_dir,
            api=api,
            policy={"launch_grace": "3s", "orphan_grace": "2s", "resume_wait": "3s"},
            **({"scheduler": {"tick_interval": "1s"}} if api == "rest" else {}),
        )
        cli(
            "submit",
            "--db",
            db,
            "--name",
            "survivor",
            "--image",
            "img",
            "--gpu",
            GPU,
            "--max-spot-price",
            "0.30",
            *(["--max-on-demand-price", "0.50"] if api == "rest" else []),
            "--env",
            "SPOTSCHED_SIM_BUSY_SECONDS=15",
            "--env",
            "SPOTSCHED_SIM_THEN=terminate",
        )
        # the create call hangs long enough to kill us: "before" never reaches RunPod (the
        # connection is held, then dropped), "after" is carried out and its answer withheld
        fault = {"kind": "timeout"} if phase == "before" else {"kind": "delay", "phase": "after"}
        admin.post("faults", {**fault, "seconds": 30, "count": 1, "match": create})
        log = tmp_path / "daemon.log"
        first = _start(config, log)
        try:
            wait_for(
                "the create call in flight",
                lambda: admin.state()["requests"]["byField"].get(create, 0) >= 1,
            )
            if phase == "after":
                wait_for("RunPod to create the pod", lambda: _spotsched_pods(admin))
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            stop(first)
        intent = jobs(db)["survivor"]
        assert intent["state"] == "launching"  # the intent row was committed before the call
        pods_after_crash = _spotsched_pods(admin)
        assert len(pods_after_crash) == (1 if phase == "after" else 0)

        second = _start(config, log)
        try:
            done = wait_for(
                "the job succeeded after the restart",
                lambda: jobs(db)["survivor"]["state"] == "succeeded" and jobs(db)["survivor"],
                timeout=90,
            )
            all_pods = [
                p for p in admin.pods(live_only=False) if p["name"].startswith("spotsched-")
            ]
            detail = cli("job", str(done["id"]), "--db", db, "--json").stdout
        finally:
            assert stop(second) == 0
        # never two pods for the job at once, and nothing left running or billing
        ours = installation(config)
        names = [p["name"] for p in all_pods]
        assert len(names) == len(set(names)), names
        if phase == "after":
            assert names == [f"spotsched-{ours}-1-1"]  # adopted by name, not created again
            assert '"pod_id": "' + all_pods[0]["id"] + '"' in detail
        else:
            assert names == [f"spotsched-{ours}-1-2"]  # the first attempt never reached RunPod
            assert "launch_failed" in detail
        assert _spotsched_pods(admin) == []


def test_sigkill_after_a_terminate_call_keeps_the_daemons_reason(tmp_path: Path) -> None:
    """Killed while RunPod's answer to the daemon's own terminate (for `max_cost`) is in
    flight: the pod is gone on restart, and the job is `failed: max_cost`, never a success."""
    with (
        emulator_process("--seed", "5", "--startup-delay", "1") as (url, _emu),
        closing(Admin(url)) as admin,
    ):
        for cloud in ("SECURE", "COMMUNITY"):
            admin.post("market", {"gpuTypeId": GPU, "cloudType": cloud, "spotPrice": 0.15})
        state_dir = tmp_path / "state"
        state_dir.mkdir()
        db = f"sqlite:///{state_dir / 'spotsched.db'}"
        config = daemon_config(tmp_path / "spotsched.toml", f"{url}/graphql", state_dir)
        cli(
            "submit",
            "--db",
            db,
            "--name",
            "capped",
            "--image",
            "img",
            "--gpu",
            GPU,
            "--max-spot-price",
            "0.30",
            "--max-cost",
            "0.0002",  # about 5 s of the pod
        )
        # RunPod terminates the pod, then holds its answer: the daemon dies waiting for it
        admin.post(
            "faults",
            {"kind": "delay", "phase": "after", "seconds": 8, "count": 1, "match": "podTerminate"},
        )
        log = tmp_path / "daemon.log"
        first = _start(config, log)
        try:
            wait_for(
                "the terminate call in flight",
                lambda: admin.state()["requests"]["byField"].get("podTerminate", 0) >= 1,
                every=0.05,
            )
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            stop(first)
        assert jobs(db)["capped"]["state"] == "running"  # the result never reached the database
        assert _spotsched_pods(admin) == []  # but RunPod carried the terminate out

        second = _start(config, log)
        try:
            done = wait_for(
                "the job to end after the restart",
                lambda: jobs(db)["capped"]["state"] not in ("running", "launching") and jobs(db),
                timeout=60,
            )
        finally:
            assert stop(second) == 0
        job = done["capped"]
        assert job["state"] == "failed"
        assert job["reason"] == "budget: max_cost reached"
        assert _spotsched_pods(admin) == []
