"""`spotsched demo --api rest`: the simulated day on RunPod's REST API v2, which has no spot.

The summary says spot is absent, every launch is on-demand, jobs that allow only spot never run,
the ledger matches the emulator's billing, and the placement is compared with the naive choice
(each job's first-listed GPU type)."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from scheduler.cli import demo_cmd


def _demo(*args: str) -> tuple[int, str]:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.callback()(lambda: None)
    demo_cmd.register(app)
    result = CliRunner().invoke(app, ["demo", *args], catch_exceptions=False)
    return result.exit_code, result.stdout


def test_the_demo_day_on_rest_runs_on_demand_and_says_spot_is_absent() -> None:
    code, stdout = _demo("--api", "rest", "--hours", "6", "--seconds", "0", "--json")
    assert code == 0
    summary = json.loads(stdout)
    assert summary["api"] == "rest" and summary["spot_available"] is False
    jobs = {j["name"]: j for j in summary["jobs"]}
    assert all(j["kinds"] in ([], ["on_demand"]) for j in jobs.values())
    assert jobs["finetune-7b"]["kinds"] == ["on_demand"]
    assert jobs["embed-batch"]["kinds"] == []  # it allows only spot
    assert abs(summary["spend"] - summary["emulator_billed"]) <= 0.01 * summary["emulator_billed"]
    assert summary["naive_cost"] >= summary["spend"] > 0
    assert summary["placement_savings"] == summary["naive_cost"] - summary["spend"]


def test_the_table_says_spot_is_not_available_on_this_api() -> None:
    code, stdout = _demo("--api", "rest", "--hours", "2", "--seconds", "0", "--no-live")
    assert code == 0
    assert "Spot is not available on this API (rest)" in stdout
    assert "against the naive choice" in stdout
