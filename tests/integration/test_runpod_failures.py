"""Scenario 9: RunPod failing. A transient failure of the pod list (5xx or a timeout, after the
client's retries) fails the tick with no state change, and the next tick recovers; an auth
failure is reported as such and nothing is launched."""

from __future__ import annotations

import pytest

from scheduler.emulator import FaultRule

from .conftest import BOTH_APIS, GPU, World, sim

RETRIES = 4  # the client's default RetryPolicy.max_attempts for reads


def _picture(world: World) -> tuple[object, ...]:
    jobs = [(j["id"], j["state"], j["reason"], j["spend"]) for j in world.store.list_jobs()]
    pods = [(p["id"], p["desiredStatus"]) for p in world.all_pods()]
    return tuple(jobs), tuple(pods)


@BOTH_APIS
@pytest.mark.parametrize("kind", ["http_503", "timeout"])
def test_pod_list_failure_fails_the_tick_without_changes_then_recovers(
    world: World, kind: str
) -> None:
    running = world.submit("running", env=sim())
    world.tick()
    world.run(1)
    queued = world.submit("queued", env=sim())
    before = _picture(world)
    world.emu.inject_faults(FaultRule(kind, match=world.list_match, count=RETRIES))

    report = world.run(1)

    assert not report.ok
    assert not report.auth_failed
    assert report.actions == []
    assert any(e.startswith("pods: ") for e in report.errors)
    assert _picture(world) == before
    assert world.state(queued) == "queued"
    assert world.emu.state()["requests"]["faults"] == {kind: RETRIES}

    report = world.run(1)

    assert report.ok and report.errors == []
    assert world.state(queued) == "launching"
    assert world.state(running) == "running"
    assert len(world.pods()) == 2


def test_pod_list_failure_that_a_retry_absorbs_does_not_fail_the_tick(world: World) -> None:
    job = world.submit("job", env=sim())
    world.emu.inject_faults(FaultRule("http_503", match="ListPods", count=RETRIES - 1))

    report = world.tick()

    assert report.ok
    assert world.state(job) == "launching"


@BOTH_APIS
def test_market_failure_holds_launches_but_running_jobs_carry_on(world: World) -> None:
    running = world.submit("running", env=sim(busy=120, then="terminate"))
    world.tick()
    world.run(1)
    queued = world.submit("queued", env=sim())
    world.emu.inject_faults(FaultRule("http_503", match=world.market_match))

    report = world.run(3)

    assert report.ok
    assert any(e.startswith("market: ") for e in report.errors)
    assert world.state(running) == "succeeded"  # its pod removed itself: still noticed
    detail = world.job(queued)
    assert detail["state"] == "queued"
    assert detail["reason"] == "market unknown"
    world.emu.clear_faults()
    world.run(1)
    assert world.state(queued) == "launching"


@BOTH_APIS
def test_auth_failure_is_reported_and_nothing_launches(world: World) -> None:
    job = world.submit("job", env=sim())
    world.emu.inject_faults(FaultRule("unauthorized"))

    for _ in range(3):
        report = world.run(1)
        assert report.auth_failed
        assert not report.ok
        assert any("API key" in e for e in report.errors)

    assert world.state(job) == "queued"
    assert world.attempts(job) == []
    assert world.pods() == []
    assert "spot_capable" not in world.store.facts()

    world.emu.clear_faults()  # the operator fixed the key
    report = world.run(1)
    assert report.ok and not report.auth_failed
    assert world.state(job) == "launching"


def test_auth_failure_on_create_stops_the_other_launches_of_the_tick(world: World) -> None:
    first = world.submit("first", env=sim(), priority=1)
    second = world.submit("second", env=sim())
    world.emu.inject_faults(FaultRule("unauthorized", match="podRentInterruptable", count=1))

    report = world.tick()

    assert report.auth_failed
    assert report.applied.launches == [("spot", GPU, "auth")]
    detail = world.job(first)
    assert detail["state"] == "queued"
    (attempt,) = detail["attempts"]
    assert attempt["end_reason"] == "launch_failed"
    assert attempt["detail"] == "authentication failed"
    assert world.attempts(second) == []  # not tried with a key RunPod just refused
    assert world.pods() == []
    assert world.emu.state()["requests"]["byField"]["podRentInterruptable"] == 1
