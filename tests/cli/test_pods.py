"""`spotsched pods`: the account's pods over HTTP with their kind, bid, burn rate, utilisation
and owning job from the database; foreign pods marked; the API key required."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import GPU, KEY, World, json_of, spotsched, write_config

POD_FIELDS = {
    "id",
    "name",
    "kind",
    "pod_type",
    "gpu_type_id",
    "gpu_count",
    "cost_per_hr",
    "bid_per_gpu",
    "desired_status",
    "runtime_up",
    "status",
    "gpu_util_percent",
    "uptime_seconds",
    "data_center_id",
    "owner",
    "job_id",
    "job_name",
    "attempt",
}
WITH_KEY = {"RUNPOD_API_KEY": KEY}


def ours(world: World) -> str:
    """The name of job 1's first pod: `spotsched-{installation}-1-1`."""
    return f"spotsched-{world.service.store.installation(world.clock.now())}-1-1"


@pytest.fixture
def fleet(running: World) -> World:
    """Job 1 `train` on its spot pod, a foreign on-demand pod running, a foreign pod stopped."""
    running.deploy("notebook")
    stopped = running.deploy("old-box")
    running.tick()
    running.service.client.stop_pod(stopped)
    return running


def test_table_shows_kind_bid_status_and_owner(fleet: World) -> None:
    result = spotsched("pods", "--config", str(fleet.config_file), env=WITH_KEY)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    ours_line = next(line for line in lines if ours(fleet) in line)
    for cell in ("spot", f"1x {GPU}", "running", "job 1 train", "%"):
        assert cell in ours_line
    notebook = next(line for line in lines if "notebook" in line)
    assert "on-demand" in notebook and "foreign" in notebook
    assert "old-box" not in result.stdout  # stopped: only with --all
    assert "burn rate $" in result.stdout


def test_json_fields_owner_bid_and_burn_rate(fleet: World) -> None:
    report = json_of(spotsched("pods", "--config", str(fleet.config_file), "--json", env=WITH_KEY))
    assert set(report) == {"pods", "burn_rate"}
    pods = {p["name"]: p for p in report["pods"]}
    assert set(pods) == {ours(fleet), "notebook"}
    for p in pods.values():
        assert set(p) == POD_FIELDS

    detail = json_of(spotsched("job", "1", "--config", str(fleet.config_file), "--json"))
    [attempt] = detail["attempts"]
    mine = pods[ours(fleet)]
    assert mine["id"] == attempt["pod_id"]
    assert (mine["owner"], mine["job_id"], mine["job_name"], mine["attempt"]) == (
        "spotsched",
        1,
        "train",
        1,
    )
    assert mine["kind"] == "spot" and mine["pod_type"] == "INTERRUPTABLE"
    assert mine["bid_per_gpu"] == pytest.approx(attempt["bid_per_gpu"])
    assert mine["status"] == "running" and mine["runtime_up"] is True
    assert mine["gpu_util_percent"] is not None and mine["uptime_seconds"] > 0

    foreign = pods["notebook"]
    assert (foreign["owner"], foreign["job_id"], foreign["job_name"]) == ("foreign", None, None)
    assert foreign["kind"] == "on_demand" and foreign["bid_per_gpu"] is None
    assert report["burn_rate"] == pytest.approx(mine["cost_per_hr"] + foreign["cost_per_hr"])


def test_all_also_lists_stopped_pods(fleet: World) -> None:
    report = json_of(
        spotsched("pods", "--all", "--config", str(fleet.config_file), "--json", env=WITH_KEY)
    )
    old = next(p for p in report["pods"] if p["name"] == "old-box")
    assert (old["status"], old["desired_status"], old["owner"]) == ("stopped", "EXITED", "foreign")
    assert report["burn_rate"] == pytest.approx(
        sum(p["cost_per_hr"] for p in report["pods"] if p["desired_status"] == "RUNNING")
    )


def test_no_key_is_exit_2_and_a_wrong_key_too(fleet: World) -> None:
    config = str(fleet.config_file)
    none = spotsched("pods", "--config", config)
    assert none.exit_code == 2
    assert "no RunPod API key" in none.stderr and "RUNPOD_API_KEY" in none.stderr
    assert "[runpod] api_key_file" in none.stderr
    wrong = spotsched("pods", "--config", config, env={"RUNPOD_API_KEY": "sk-wrong-0000"})
    assert wrong.exit_code == 2
    assert "refused the API key" in wrong.stderr and "sk-wrong-0000" not in wrong.output


def test_the_key_can_come_from_a_file_and_job_names_need_the_database(
    fleet: World, tmp_path: Path
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    key_file.chmod(0o600)
    config = write_config(
        tmp_path / "elsewhere.toml",
        {"state_dir": str(tmp_path / "no-such-dir")},
        runpod={"api_url": f"{fleet.url}/graphql", "api_key_file": str(key_file)},
    )
    result = spotsched("pods", "--config", str(config), "--json")
    assert result.exit_code == 0, result.stderr
    assert "job names are not shown" in result.stderr
    mine = next(p for p in json_of(result)["pods"] if p["name"] == ours(fleet))
    assert (mine["job_id"], mine["job_name"]) == (1, None)


def test_an_empty_account_says_so(world: World) -> None:
    result = spotsched("pods", "--config", str(world.config_file), env=WITH_KEY)
    assert result.exit_code == 0 and "no running pods" in result.stdout
    empty = json_of(spotsched("pods", "--config", str(world.config_file), "--json", env=WITH_KEY))
    assert empty == {"pods": [], "burn_rate": 0.0}


def test_a_neighbours_pod_named_like_our_job_is_not_shown_as_ours(fleet: World) -> None:
    """Another installation (or a person) on the account has a `spotsched-1-1` too: it is not
    our job 1's pod, whatever its name says."""
    fleet.deploy("spotsched-1-1")
    report = json_of(spotsched("pods", "--config", str(fleet.config_file), "--json", env=WITH_KEY))
    theirs = next(p for p in report["pods"] if p["name"] == "spotsched-1-1")
    assert theirs["job_name"] is None and theirs["bid_per_gpu"] is None
    mine = next(p for p in report["pods"] if p["name"] == ours(fleet))
    assert mine["job_name"] == "train"


def test_pod_names_with_markup_or_terminal_escapes_are_shown_inert(running: World) -> None:
    """Anyone on the account names pods: a name must neither break the table nor drive the
    terminal (issue 8, section 4)."""
    running.deploy("[/bold]\x1b[2J\x1b]0;owned\x07box")
    result = spotsched("pods", "--config", str(running.config_file), env=WITH_KEY)
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "[/bold]\\x1b[2J" in result.stdout
