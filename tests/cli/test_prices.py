"""`spotsched prices` against the emulator over HTTP: one table row per GPU type and cloud, JSON
with stable fields, the spot-unavailable line, exit codes, and `--watch` until Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler.cli.fleet_cmd import SPOT_NOT_ON_API, SPOT_UNAVAILABLE
from tests.cli.conftest import GPU, KEY, Served, free_port, json_of, spotsched, write_config

PRICE_FIELDS = {
    "gpu_type_id",
    "display_name",
    "memory_gb",
    "cloud",
    "gpu_count",
    "on_demand_price",
    "spot_min_bid",
    "stock",
}


def test_table_shows_each_gpu_type_per_cloud(served: Served, tmp_path: Path) -> None:
    served.pin(spot=0.20, on_demand=0.40)
    config = served.config(tmp_path / "c.toml")
    result = spotsched("prices", "--config", str(config))
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if GPU in line)
    for cell in ("RTX A5000", "24 GB", "secure", "$0.4000", "$0.2000", "50%"):
        assert cell in row
    assert "community" in result.stdout and "NVIDIA A40" in result.stdout
    assert SPOT_UNAVAILABLE not in result.stdout
    assert result.stderr == ""


def test_json_has_stable_fields_and_the_market_values(served: Served, tmp_path: Path) -> None:
    served.pin(spot=0.20, on_demand=0.40)
    config = served.config(tmp_path / "c.toml")
    report = json_of(spotsched("prices", "--config", str(config), "--json"))
    assert set(report) == {"fetched_at", "gpu_count", "cloud", "spot_available", "notice", "prices"}
    assert report["spot_available"] is True and report["notice"] is None
    assert report["cloud"] == "ALL" and report["gpu_count"] == 1
    types = {g.id for g in served.emu.world.catalogue.gpu_types}
    assert {r["gpu_type_id"] for r in report["prices"]} == types
    assert len(report["prices"]) == 2 * len(types)
    for r in report["prices"]:
        assert set(r) == PRICE_FIELDS
    secure = next(r for r in report["prices"] if r["gpu_type_id"] == GPU and r["cloud"] == "SECURE")
    assert secure["on_demand_price"] == pytest.approx(0.40)
    assert secure["spot_min_bid"] == pytest.approx(0.20)
    assert secure["memory_gb"] == 24 and secure["stock"] is not None


def test_gpu_count_and_cloud_filters(served: Served, tmp_path: Path) -> None:
    config = served.config(tmp_path / "c.toml")
    args = ["--gpu", GPU, "--gpu", "NVIDIA A40", "--count", "2", "--cloud", "COMMUNITY"]
    report = json_of(spotsched("prices", "--config", str(config), *args, "--json"))
    assert sorted(r["gpu_type_id"] for r in report["prices"]) == ["NVIDIA A40", GPU]
    assert {(r["cloud"], r["gpu_count"]) for r in report["prices"]} == {("COMMUNITY", 2)}


def test_spot_removed_says_so_in_a_clear_line(served: Served, tmp_path: Path) -> None:
    served.emu.set_spot_enabled(False)
    config = served.config(tmp_path / "c.toml")
    table = spotsched("prices", "--config", str(config))
    assert table.exit_code == 0
    assert SPOT_UNAVAILABLE in table.stdout
    assert "no spot" in table.stdout
    report = json_of(spotsched("prices", "--config", str(config), "--json"))
    assert report["spot_available"] is False and report["notice"] == SPOT_UNAVAILABLE
    assert all(r["spot_min_bid"] is None for r in report["prices"])
    assert all(r["on_demand_price"] is not None for r in report["prices"] if r["stock"])


def test_market_reads_need_no_key_and_work_with_one(served: Served, tmp_path: Path) -> None:
    config = served.config(tmp_path / "c.toml")
    without = spotsched("prices", "--config", str(config), "--json")
    with_key = spotsched("prices", "--config", str(config), "--json", env={"RUNPOD_API_KEY": KEY})
    assert without.exit_code == with_key.exit_code == 0
    assert len(json.loads(without.stdout)["prices"]) == len(json.loads(with_key.stdout)["prices"])


def test_unknown_gpu_type_is_exit_3_and_a_partly_unknown_list_warns(
    served: Served, tmp_path: Path
) -> None:
    config = served.config(tmp_path / "c.toml")
    none = spotsched("prices", "--config", str(config), "--gpu", "NVIDIA B9000")
    assert none.exit_code == 3 and "no GPU type NVIDIA B9000" in none.stderr
    some = spotsched("prices", "--config", str(config), "--gpu", "NVIDIA B9000", "--gpu", GPU)
    assert some.exit_code == 0
    assert "warning" in some.stderr and "NVIDIA B9000" in some.stderr and GPU in some.stdout


def test_bad_flags_are_exit_2(served: Served, tmp_path: Path) -> None:
    config = served.config(tmp_path / "c.toml")
    assert spotsched("prices", "--config", str(config), "--cloud", "MOON").exit_code == 2
    assert spotsched("prices", "--config", str(config), "--count", "0").exit_code == 2
    assert spotsched("prices", "--config", str(config), "--watch", "0").exit_code == 2


def test_runpod_unreachable_is_exit_1_with_a_message(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    config = write_config(
        tmp_path / "c.toml", runpod={"api_url": f"http://127.0.0.1:{port}/graphql", "timeout": 2}
    )
    result = spotsched("prices", "--config", str(config), "--json")
    assert result.exit_code == 1
    assert "RunPod:" in result.stderr and result.stdout == ""


@pytest.mark.slow
def test_watch_refreshes_until_ctrl_c_and_exits_0(served: Served, tmp_path: Path) -> None:
    config = served.config(tmp_path / "c.toml")
    command = [sys.executable, "-m", "scheduler", "prices", "--config", str(config)]
    with subprocess.Popen(
        [*command, "--gpu", GPU, "--watch", "1", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "RUNPOD_API_KEY"},
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            first = json.loads(proc.stdout.readline())
            served.pin(spot=0.11, on_demand=0.40)
            later = [json.loads(proc.stdout.readline()) for _ in range(2)]
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0
            assert "Traceback" not in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
    assert first["prices"][0]["gpu_type_id"] == GPU
    assert later[-1]["fetched_at"] > first["fetched_at"]
    assert later[-1]["prices"][0]["spot_min_bid"] == pytest.approx(0.11)


def test_on_rest_v2_prices_and_stock_come_from_the_catalogue_and_spot_is_not_on_this_api(
    served: Served, tmp_path: Path
) -> None:
    served.pin(spot=0.20, on_demand=0.40)
    config = served.config(tmp_path / "c.toml", runpod={"api": "rest"})
    result = spotsched("prices", "--config", str(config), "--json", env={"RUNPOD_API_KEY": KEY})
    report = json_of(result)
    assert report["spot_available"] is False and report["notice"] == SPOT_NOT_ON_API
    secure = next(r for r in report["prices"] if r["gpu_type_id"] == GPU and r["cloud"] == "SECURE")
    assert secure["on_demand_price"] == pytest.approx(0.40) and secure["stock"] is not None
    assert secure["spot_min_bid"] is None
