"""Whole ticks on RunPod's REST API v2 (and, where the question is the same, on both APIs):
a daemon killed during a create leaves no duplicate and no orphan; a running installation
switched from GraphQL to REST adopts its live pods and loses nothing; a 402 stops the tick's
launches; a capacity refusal in one data center moves the create to the next one."""

from __future__ import annotations

import pytest

from scheduler.emulator import FaultRule
from scheduler.runpod.port import Capability

from .conftest import BOTH_APIS, GPU, ON_DEMAND, World, sim


def _job_pods_ever(world: World, job: int) -> list[dict[str, object]]:
    prefix = f"spotsched-{world.installation}-{job}-"
    return [p for p in world.all_pods() if str(p["name"]).startswith(prefix)]


@BOTH_APIS
@pytest.mark.parametrize("acted", [False, True], ids=["before_runpod_acted", "after_runpod_acted"])
def test_a_daemon_killed_during_a_create_leaves_no_duplicate_and_no_orphan(
    world: World, acted: bool
) -> None:
    job = world.submit("killed", env=sim(), max_on_demand_price=0.45, max_preemptions=0)
    kind = "timeout_after" if acted else "timeout"
    world.emu.inject_faults(FaultRule(kind, match=world.create_match("on_demand"), count=1))
    world.tick()  # the create's answer never arrives ...
    world.restart()  # ... and the daemon dies; a new one starts on the same database

    world.run(4)  # past launch_grace (90 s)

    pods = _job_pods_ever(world, job)
    assert len(pods) == 1, pods  # never two pods for one job
    assert pods[0]["desiredStatus"] == "RUNNING"
    attempts = world.attempts(job)
    assert attempts[-1]["pod_id"] == pods[0]["id"]
    assert world.state(job) == "running"
    assert world.creates("on_demand") == (1 if acted else 2)
    assert [a["end_reason"] for a in attempts[:-1]] == ([] if acted else ["launch_failed"])
    world.run(8)  # past orphan_grace: the adopted pod is owned, nothing is swept
    assert [p["id"] for p in world.pods()] == [pods[0]["id"]]


def test_switching_a_running_installation_from_graphql_to_rest_loses_nothing(
    world: World,
) -> None:
    spot = world.submit("spot-job", env=sim(busy=1800, then="terminate"))
    od = world.submit(
        "od-job",
        env=sim(busy=1800, then="stop"),
        max_spot_price=0.05,
        max_on_demand_price=0.45,
        fallback_after=60,
    )
    world.tick()
    world.run(3)  # past fallback_after: the on-demand job launched too
    assert world.state(spot) == "running" and world.state(od) == "running"
    pods = {j: world.attempts(j)[0]["pod_id"] for j in (spot, od)}
    spend = {j: world.job(j)["spend"] for j in (spot, od)}

    world.restart(api="rest")  # [runpod] api = "rest", then a restart
    assert not world.client.capabilities.has(Capability.SPOT)
    creates = world.emu.state()["requests"]["byField"]
    before = {k: creates.get(k, 0) for k in ("podRentInterruptable", "podFindAndDeployOnDemand")}
    world.run(2)

    for j in (spot, od):
        assert world.state(j) == "running"
        (attempt,) = world.attempts(j)
        assert attempt["pod_id"] == pods[j]  # adopted, not relaunched
        assert world.job(j)["spend"] > spend[j]  # the ledger carries on
    world.run_until(lambda: world.state(spot) != "running" and world.state(od) != "running")

    assert world.state(spot) == "succeeded" and world.state(od) == "succeeded"
    assert world.pods() == []  # the stopped on-demand pod is cleaned up, over REST
    after = world.emu.state()["requests"]["byField"]
    assert {k: after.get(k, 0) for k in before} == before  # no GraphQL create since
    assert after.get("createPod", 0) == 0  # and no REST create either: nothing relaunched
    for j in (spot, od):
        money = world.job(j)["money"]["spend"]
        assert money == pytest.approx(world.emu.billing_total(pods[j]), rel=0.02)


def test_insufficient_balance_stops_the_ticks_launches(world: World) -> None:
    world.restart(api="rest")
    world.emu.world.initial_balance = 0.01
    first = world.submit("first", env=sim(), priority=1)
    second = world.submit("second", env=sim())

    report = world.tick()

    assert report.applied.launches == [("on_demand", GPU, "insufficient_balance")]
    assert report.applied.balance_exhausted
    assert world.state(first) == "queued" and world.state(second) == "queued"
    assert world.job(second)["reason"] == "RunPod balance too low to launch"
    assert world.pods() == []
    world.emu.world.initial_balance = 1000.0  # topped up
    world.run(1)
    assert world.state(first) == "launching" and world.state(second) == "launching"


def test_a_full_data_center_moves_the_create_to_the_next_one(world: World) -> None:
    world.restart(api="rest")
    world.emu.set_market(GPU, "SECURE", stock=40)  # spread over several data centers
    world.emu.inject_faults(FaultRule("capacity", match="createPod", count=1))
    job = world.submit("placed", env=sim())

    report = world.tick()

    assert report.applied.launches == [("on_demand", GPU, "ok")]
    (pod,) = world.pods()
    assert pod["costPerHr"] == pytest.approx(ON_DEMAND)
    assert world.state(job) == "launching"
    assert world.creates() == 2  # one refused for capacity, one placed elsewhere
