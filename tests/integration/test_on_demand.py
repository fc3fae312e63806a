"""Scenario 4: on-demand fallback. After `fallback_after` without spot; when spot is switched off
at RunPod (detected from the market, reported and recorded); and when RunPod rejects a spot
create as unsupported (the job is requeued, the tick goes on, on-demand follows)."""

from __future__ import annotations

import pytest

from .conftest import GPU, ON_DEMAND, World, sim


def test_fallback_to_on_demand_after_fallback_after(world: World) -> None:
    job = world.submit(
        "impatient", env=sim(), max_spot_price=0.10, max_on_demand_price=0.45, fallback_after=600
    )
    world.tick()
    for _ in range(10):  # up to 600 s: waiting is still allowed
        assert world.state(job) == "queued"
        assert world.job(job)["reason"] == "no spot offer under max_spot_price"
        world.run(1)
    assert world.state(job) == "queued"  # waited exactly 600 s, not longer

    world.run(1)

    detail = world.job(job)
    assert detail["state"] == "launching"
    assert detail["reason"] == "on_demand launch: wait_limit"
    (attempt,) = detail["attempts"]
    assert attempt["kind"] == "on_demand" and attempt["bid_per_gpu"] is None
    (pod,) = world.pods()
    assert pod["podType"] == "RESERVED"
    assert pod["costPerHr"] == pytest.approx(ON_DEMAND)


def test_spot_switched_off_is_detected_and_jobs_go_on_demand(world: World) -> None:
    spot_only = world.submit("spot-only", env=sim())
    either = world.submit("either", env=sim(), max_on_demand_price=0.45)
    world.emu.set_market(GPU, "SECURE", spot_price=0.50)  # hold both jobs for now
    report = world.tick()
    assert report.spot_capable is True
    assert world.store.facts()["spot_capable"][0] == "yes"

    world.emu.set_spot_enabled(False)
    # a filtered market poll cannot rule spot out; the next full poll (every 300 s) does
    report = world.run_until(lambda: world.reports[-1].spot_capable is False, limit=6)

    assert report.ok
    assert world.store.facts()["spot_capable"][0] == "no"
    assert all(q.spot_min_bid is None for q in report.market_view.quotes)
    detail = world.job(either)
    assert detail["state"] == "launching"
    assert detail["reason"] == "on_demand launch: spot_unavailable"
    (pod,) = world.pods()
    assert pod["name"] == world.pod_name(either, 1)
    assert pod["podType"] == "RESERVED"
    # a job that never allows on-demand waits, and RunPod is never asked for spot
    assert world.state(spot_only) == "queued"
    world.run(3)
    assert world.state(spot_only) == "queued"
    assert world.emu.state()["requests"]["byField"].get("podRentInterruptable", 0) == 0


def test_spot_create_rejected_as_unsupported_requeues_then_on_demand(world: World) -> None:
    """RunPod drops spot between this tick's market poll (which still lists spot) and the spot
    create: the create answers UNSUPPORTED."""
    job = world.submit("unlucky", env=sim(), max_on_demand_price=0.45)
    world.transport.after("gpuTypes", lambda: world.emu.set_spot_enabled(False))

    report = world.tick()

    assert report.ok
    assert report.applied.spot_unsupported
    assert report.applied.launches == [("spot", GPU, "spot_unsupported")]
    detail = world.job(job)
    assert detail["state"] == "queued"
    (attempt,) = detail["attempts"]
    assert attempt["state"] == "ended" and attempt["end_reason"] == "launch_failed"
    assert "no longer supported" in attempt["detail"]
    assert world.pods() == []

    report = world.run(1)  # spot is now known to be unavailable: straight to on-demand

    assert report.spot_capable is False
    detail = world.job(job)
    assert detail["state"] == "launching"
    assert detail["reason"] == "on_demand launch: spot_unavailable"
    assert [a["kind"] for a in detail["attempts"]] == ["spot", "on_demand"]
    (pod,) = world.pods()
    assert pod["podType"] == "RESERVED"
    world.run(1)
    assert world.state(job) == "running"


def test_preempted_spot_job_relaunches_on_demand_when_spot_goes_away(world: World) -> None:
    job = world.submit("stranded", env=sim(), max_on_demand_price=0.45)
    world.tick()
    world.run(1)
    spot_pod = world.attempts(job)[0]["pod_id"]

    world.emu.set_spot_enabled(False)  # RunPod drops the running spot pod with spot itself
    world.run_until(lambda: len(world.attempts(job)) == 2, limit=8)

    detail = world.job(job)
    first, second = detail["attempts"]
    assert first["detail"] == "spot unavailable: relaunch on-demand"
    assert second["kind"] == "on_demand"
    assert world.pod(spot_pod)["desiredStatus"] == "TERMINATED"
    (pod,) = world.pods()
    assert pod["id"] == second["pod_id"] and pod["podType"] == "RESERVED"
    assert world.emu.state()["requests"]["byField"].get("podBidResume", 0) == 0
