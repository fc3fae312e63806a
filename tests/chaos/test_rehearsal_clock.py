"""What the chaos harness stands on: the daemon's rehearsal clock (`[scheduler]
virtual_clock_url`) and the emulator's audit trail (billing segments, the job a pod ran)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from scheduler.daemon.config import ConfigError, load_settings
from scheduler.daemon.virtual_clock import HttpVirtualClock, VirtualClockError
from scheduler.domain.clock import SystemClock, VirtualClock
from scheduler.emulator import Emulator

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
GPU = "NVIDIA RTX A5000"


def test_the_daemon_reads_and_advances_the_emulators_virtual_clock() -> None:
    emu = Emulator(VirtualClock(START), seed=3)
    with httpx.Client(transport=emu.transport(), base_url="http://127.0.0.1:8765") as http:
        clock = HttpVirtualClock("http://127.0.0.1:8765/_emulator/", http)
        assert clock.now() == START
        emu.advance(90)
        assert clock.now() == datetime(2026, 12, 7, 9, 1, 30, tzinfo=UTC)
        clock.sleep(2.5)  # a retry back-off moves the shared clock, as VirtualClock.sleep does
        assert (emu.clock.now() - START).total_seconds() == 92.5


def test_an_unreadable_virtual_clock_is_a_clear_error() -> None:
    emu = Emulator(SystemClock(), seed=3)
    with httpx.Client(transport=emu.transport(), base_url="http://127.0.0.1:1") as http:
        clock = HttpVirtualClock("http://127.0.0.1:1/_emulator/nowhere", http)
        with pytest.raises(VirtualClockError, match="unreadable"):
            clock.now()
        with pytest.raises(VirtualClockError, match="advance failed"):
            HttpVirtualClock("http://127.0.0.1:1/_emulator", http).sleep(1)  # real clock: 409


def test_the_virtual_clock_url_is_loopback_only(tmp_path: Path) -> None:
    config = tmp_path / "spotsched.toml"
    config.write_text('[scheduler]\nvirtual_clock_url = "https://rehearsal.example.com/x"\n')
    with pytest.raises(ConfigError, match=r"virtual_clock_url: .*loopback"):
        load_settings(config, environ={})
    config.write_text('[scheduler]\nvirtual_clock_url = "http://127.0.0.1:8765/_emulator"\n')
    assert load_settings(config, environ={}).scheduler.virtual_clock_url is not None


def test_the_emulator_keeps_each_pods_billing_segments_and_job() -> None:
    emu = Emulator(VirtualClock(START), seed=3, startup_delay=0)
    emu.set_market(GPU, "SECURE", spot_price=0.2)
    with httpx.Client(transport=emu.transport(), base_url="http://127.0.0.1:8765") as http:
        created = http.post(
            "/graphql",
            headers={"Authorization": "Bearer k"},
            json={
                "query": 'mutation { podRentInterruptable(input: {name: "spotsched-4-1", '
                f'imageName: "img", gpuTypeId: "{GPU}", gpuCount: 1, cloudType: SECURE, '
                'bidPerGpu: 0.25, env: [{key: "SPOTSCHED_JOB_ID", value: "4"}]}) { id } }'
            },
        ).json()
        pod_id = created["data"]["podRentInterruptable"]["id"]
        emu.advance(1800)
        emu.preempt(pod_id)
        emu.advance(600)
        state = http.get("/_emulator/state").json()
        clock = http.get("/_emulator/clock").json()
    (pod,) = state["pods"]
    assert pod["jobId"] == "4"
    assert pod["billingSegments"] == [
        {"start": START.isoformat(), "end": "2026-12-07T09:30:00+00:00", "costPerHr": 0.25}
    ]
    assert pod["billed"] == pytest.approx(0.125)
    assert clock == {"now": "2026-12-07T09:40:00+00:00", "virtual": True}
