"""`spotsched cost` from the ledger the daemon wrote: spend, on-demand counterfactual, savings
(and %), waste and GPU-hours per job, GPU type, day or kind, with a total."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli.conftest import GPU, World, json_of, spotsched

MONEY = ("spend", "on_demand_cost", "savings", "waste", "gpu_hours")


@pytest.fixture(scope="module")
def spent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """`train` (job 1) on spot for a while, then spot gone and `serve` (job 2) on-demand.
    Shared by the module's tests, which only read."""
    world = World(tmp_path_factory.mktemp("cost"))
    try:
        world.pin()
        world.submit("train")
        for _ in range(15):
            world.tick(60)
        world.emu.set_spot_enabled(False)
        world.submit("serve", max_on_demand_price=0.45)
        for _ in range(10):
            world.tick(60)
        yield world
    finally:
        world.close()


def _report(world: World, *args: str) -> dict[str, Any]:
    report: dict[str, Any] = json_of(
        spotsched("cost", "--config", str(world.config_file), "--json", *args)
    )
    return report


def test_by_job_json_matches_the_jobs_spend_and_adds_up(spent: World) -> None:
    report = _report(spent)
    assert set(report) == {"by", "since", "rows", "total"}
    assert report["by"] == "job" and report["since"] is None
    rows = {r["name"]: r for r in report["rows"]}
    assert set(rows) == {"train", "serve"}
    for r in report["rows"]:
        assert set(r) == {"job", "name", *MONEY, "savings_percent"}
    jobs = {j["name"]: j for j in spent.service.store.list_jobs()}
    for name, row in rows.items():
        assert row["job"] == jobs[name]["id"]
        assert row["spend"] == pytest.approx(jobs[name]["spend"])
        assert row["savings"] == pytest.approx(row["on_demand_cost"] - row["spend"])
    train, serve = rows["train"], rows["serve"]
    assert train["spend"] > 0 and train["savings"] > 0 and 0 < train["savings_percent"] < 100
    assert serve["spend"] > 0 and serve["savings"] == pytest.approx(0.0)
    total = report["total"]
    for key in MONEY:
        assert total[key] == pytest.approx(sum(r[key] for r in report["rows"]))
    assert total["savings_percent"] == pytest.approx(
        100 * total["savings"] / total["on_demand_cost"]
    )


@pytest.mark.parametrize("by", ["gpu", "day", "kind"])
def test_other_groupings_have_the_same_total(spent: World, by: str) -> None:
    by_job = _report(spent)["total"]
    report = _report(spent, "--by", by)
    assert report["by"] == by
    for r in report["rows"]:
        assert set(r) == {by, *MONEY, "savings_percent"}
    for key in MONEY:
        assert report["total"][key] == pytest.approx(by_job[key])
    keys = [r[by] for r in report["rows"]]
    if by == "kind":
        assert keys == ["on_demand", "spot"]
    if by == "gpu":
        assert keys == [GPU]
    if by == "day":
        assert keys[-1] == spent.clock.now().date().isoformat()


def test_table_has_a_row_per_job_and_a_total(spent: World) -> None:
    result = spotsched("cost", "--config", str(spent.config_file))
    assert result.exit_code == 0, result.stderr
    total = _report(spent)["total"]
    lines = result.stdout.splitlines()
    assert any("train" in line and "%" in line for line in lines)
    assert any("serve" in line for line in lines)
    last = next(line for line in lines if "total" in line)
    assert f"{total['spend']:,.4f}" in last or f"{total['spend']:,.2f}" in last
    assert "on-demand would cost" in result.stdout


def test_since_a_date_or_a_duration(spent: World) -> None:
    assert _report(spent, "--since", "1d")["total"] == _report(spent)["total"]
    future = _report(spent, "--since", "2999-01-01")
    assert future["since"] == "2999-01-01" and future["rows"] == []
    assert future["total"]["spend"] == 0.0 and future["total"]["savings_percent"] is None
    today = spent.clock.now().date().isoformat()
    assert _report(spent, "--since", today)["since"] == today


def test_bad_since_or_by_is_exit_2(world: World) -> None:
    config = str(world.config_file)
    bad = spotsched("cost", "--config", config, "--since", "last tuesday")
    assert bad.exit_code == 2 and "--since" in bad.stderr and bad.stdout == ""
    assert spotsched("cost", "--config", config, "--by", "colour").exit_code == 2


def test_an_empty_ledger_is_a_zero_total(world: World) -> None:
    report = _report(world)
    assert report["rows"] == []
    assert report["total"] == dict.fromkeys(MONEY, 0.0) | {"savings_percent": None}
