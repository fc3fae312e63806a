"""`spotsched backtest` as people run it: typer's CliRunner, JSON, table, plot, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from scheduler.cli import backtest_cmd

REQUIRED = {
    "policy",
    "cost",
    "on_demand_cost",
    "savings",
    "score",
    "deadline_misses",
    "preemptions",
    "switches",
    "spot_hours",
    "on_demand_hours",
}


def invoke(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    backtest_cmd.register(app)
    app.command("noop")(lambda: None)  # a second command keeps `backtest` a subcommand
    result = CliRunner().invoke(app, ["backtest", *args])
    return result.exit_code, result.output


def write_trace(tmp_path: Path) -> Path:
    path = tmp_path / "trace.json"
    path.write_text(json.dumps({"metadata": {"gap_seconds": 600}, "data": [0, 0, 1, 1, 0] * 20}))
    return path


def test_json_has_one_object_per_policy_and_the_optimum(tmp_path: Path) -> None:
    code, output = invoke(
        "--trace",
        str(write_trace(tmp_path)),
        "--compute",
        "2h",
        "--deadline",
        "3h",
        "--changeover",
        "3m",
        "--workers",
        "1",
        "--json",
    )
    assert code == 0, output
    doc = json.loads(output)
    names = [p["policy"] for p in doc["policies"]]
    assert names == ["on_demand", "greedy", "uniform_progress", "default", "optimum"]
    for row in doc["policies"]:
        assert set(row) >= REQUIRED, row
        assert row["deadline_misses"] == 0
    costs = {p["policy"]: p["cost"] for p in doc["policies"]}
    assert costs["optimum"] <= min(costs.values()) + 1e-9
    assert doc["run"]["runs"] == 4 and doc["run"]["ticks"] > 0


def test_table_and_plot_for_a_synthetic_market(tmp_path: Path) -> None:
    png = tmp_path / "cost.png"
    code, output = invoke(
        "--synthetic",
        "--market-hours",
        "24",
        "--compute",
        "2h",
        "--deadline",
        "4h",
        "--policy",
        "greedy",
        "--policy",
        "default",
        "--workers",
        "1",
        "--plot",
        str(png),
    )
    assert code == 0, output
    assert "greedy" in output and "default" in output and "optimum" in output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_jobs_from_a_toml_file(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(
        """
[[job]]
name = "a"
gpu_types = ["NVIDIA A40"]
max_spot_price = 1.1
max_on_demand_price = 3.06
estimated_runtime = "1h"
deadline_after = "3h"
checkpoint = true

[[job]]
name = "b"
gpu_types = ["NVIDIA A40"]
max_spot_price = 1.1
max_on_demand_price = 3.06
runtime = "30m"
submit_after = "1h"
"""
    )
    code, output = invoke(
        "--synthetic",
        "--market-hours",
        "12",
        "--jobs",
        str(jobs),
        "--workers",
        "1",
        "--json",
    )
    assert code == 0, output
    rows = {p["policy"]: p for p in json.loads(output)["policies"]}
    assert all(r["jobs"] == 2 for r in rows.values())


def test_bad_input_exits_with_the_invalid_input_code(tmp_path: Path) -> None:
    assert invoke("--compute", "2h")[0] == 2  # no market
    assert invoke("--synthetic", "--policy", "cheapest")[0] == 2
    bad = tmp_path / "jobs.toml"
    bad.write_text('[[job]]\nname = "x"\ngpu_types = ["NVIDIA A40"]\nmax_spot_price = 1\n')
    code, output = invoke("--synthetic", "--jobs", str(bad))
    assert code == 2 and "runtime" in output


def test_recorded_price_samples_through_the_command(tmp_path: Path) -> None:
    """What would a job have cost on the market the daemon recorded? Spot $0.20 for the first
    hour, gone after; 30 minutes of work with a 60-second start-up fits in the spot hour."""
    from tests.backtest.test_recorded import A40, record

    url = record(tmp_path / "recorded.db")
    code, output = invoke(
        "--recorded",
        url,
        "--gpu-type",
        A40,
        "--compute",
        "30m",
        "--deadline",
        "2h",
        "--changeover",
        "1m",
        "--policy",
        "on_demand",
        "--policy",
        "greedy",
        "--workers",
        "1",
        "--json",
    )
    assert code == 0, output
    costs = {p["policy"]: p["cost"] for p in json.loads(output)["policies"]}
    # on-demand $0.40/h for 31 minutes; the optimum pays the $0.20 floor for the same time
    # (the JSON rounds dollars to 4 places)
    assert costs["on_demand"] == pytest.approx(0.40 * 1860 / 3600, abs=1e-4)
    assert costs["optimum"] == pytest.approx(0.20 * 1860 / 3600, abs=1e-4)
    assert costs["optimum"] < costs["greedy"] < costs["on_demand"]
