"""Scenario 3: preemption. A spot pod that exits unasked is preempted; the daemon bid-resumes
the same pod when the price allows, otherwise terminates it after `resume_wait` and launches
anew, on-demand once `max_preemptions` is reached. Without a checkpoint the work restarts."""

from __future__ import annotations

import pytest

from .conftest import BOTH_BACKENDS, FLOOR, GPU, ON_DEMAND, World, expected_bid, sim


def _at_most_one_live_pod_per_job(world: World, *jobs: int) -> None:
    for job in jobs:
        assert len(world.job_pods(job)) <= 1, world.job_pods(job)


@BOTH_BACKENDS
def test_preempted_pod_is_bid_resumed_on_the_same_pod(world: World) -> None:
    job = world.submit("resumable", env=sim())
    world.tick()
    world.run(2)
    assert world.state(job) == "running"
    pod_id = world.attempts(job)[0]["pod_id"]

    world.emu.preempt(pod_id)
    world.run(1)

    detail = world.job(job)
    assert detail["state"] == "preempted"
    assert detail["reason"] == "spot pod was interrupted"
    assert detail["preemptions"] == 1
    assert world.pod(pod_id)["desiredStatus"] == "EXITED"

    world.run(1)  # floor 0.20 is under the 0.30 limit: podBidResume at floor + margin
    assert world.state(job) == "launching"
    assert world.pod(pod_id)["desiredStatus"] == "RUNNING"
    world.run(1)

    detail = world.job(job)
    assert detail["state"] == "running"
    (attempt,) = detail["attempts"]  # the same attempt, the same pod
    assert attempt["pod_id"] == pod_id
    assert attempt["state"] == "running"
    assert attempt["bid_per_gpu"] == pytest.approx(expected_bid(FLOOR))
    pod = world.pod(pod_id)
    assert pod["desiredStatus"] == "RUNNING"
    assert pod["preemptions"] == 1
    assert world.pods() == [pod]
    transitions = [(e["from"], e["to"]) for e in detail["events"] if e["kind"] == "transition"]
    assert ("running", "preempted") in transitions
    assert ("preempted", "launching") in transitions


@BOTH_BACKENDS
def test_price_rise_preempts_then_no_resume_then_terminate_and_relaunch(world: World) -> None:
    job = world.submit("price-rise", env=sim())
    world.tick()
    world.run(1)
    first_pod = world.attempts(job)[0]["pod_id"]

    world.emu.set_market(GPU, "SECURE", spot_price=0.50)  # over the bid and over the limit
    assert world.pod(first_pod)["desiredStatus"] == "EXITED"  # RunPod preempts at once
    world.run(1)
    assert world.state(job) == "preempted"

    # no resume while the floor is over the limit: the pod stays stopped for resume_wait
    for _ in range(12):
        world.run(1)
        _at_most_one_live_pod_per_job(world, job)
        if world.state(job) != "preempted":
            break
        assert world.pod(first_pod)["desiredStatus"] == "EXITED"
    detail = world.job(job)
    assert world.emu.state()["requests"]["byField"].get("podBidResume", 0) == 0
    assert detail["state"] == "queued"
    assert detail["reason"] == "no spot offer under max_spot_price"
    (attempt,) = detail["attempts"]
    assert attempt["end_reason"] == "preempted"
    assert attempt["detail"] == "no resume within resume_wait: relaunch elsewhere"
    assert (attempt["ended_at"] - attempt["preempted_at"]).total_seconds() > 600
    assert world.pod(first_pod)["desiredStatus"] == "TERMINATED"
    assert world.pods() == []

    world.emu.set_market(GPU, "SECURE", spot_price=FLOOR)
    world.run(2)

    detail = world.job(job)
    assert detail["state"] == "running"
    _, second = detail["attempts"]
    assert second["number"] == 2 and second["kind"] == "spot"
    assert second["pod_id"] != first_pod
    assert [p["id"] for p in world.pods()] == [second["pod_id"]]


@BOTH_BACKENDS
def test_max_preemptions_relaunches_on_demand(world: World) -> None:
    job = world.submit("then-od", env=sim(), max_preemptions=1, max_on_demand_price=0.45)
    world.tick()
    world.run(1)
    spot_pod = world.attempts(job)[0]["pod_id"]

    world.emu.preempt(spot_pod)
    world.run(1)
    assert world.state(job) == "preempted"
    world.run(1)  # max_preemptions reached: terminate the spot pod, launch on-demand

    detail = world.job(job)
    first, second = detail["attempts"]
    assert first["end_reason"] == "preempted"
    assert first["detail"] == "max_preemptions reached"
    assert second["kind"] == "on_demand"
    assert detail["reason"] == "on_demand launch: max_preemptions"
    assert world.pod(spot_pod)["desiredStatus"] == "TERMINATED"
    (pod,) = world.pods()
    assert pod["id"] == second["pod_id"]
    assert pod["podType"] == "RESERVED"
    assert pod["costPerHr"] == pytest.approx(ON_DEMAND)
    world.run(1)
    assert world.state(job) == "running"


def test_checkpoint_keeps_work_across_a_preemption(world: World) -> None:
    """Two identical 30-minute jobs preempted at the same moment, one checkpointing: only the
    one without a checkpoint redoes its work, so it finishes that much later and wastes money."""
    busy = 1800
    plain = world.submit("plain", env=sim(busy=busy, then="terminate"))
    saved = world.submit(
        "saved", env=sim(busy=busy, then="terminate", checkpoint=True), checkpoint=True
    )
    world.tick()
    world.run(15)  # 900 s: both half done
    pods = {j: world.attempts(j)[0]["pod_id"] for j in (plain, saved)}
    for pod_id in pods.values():
        world.emu.preempt(pod_id)
    done_at = world.elapsed() - 20  # work ran from 20 s (start-up) to now

    world.run_until(lambda: world.state(saved) == "succeeded", limit=30)
    saved_finish = world.elapsed()
    assert world.state(plain) == "running"
    world.run_until(lambda: world.state(plain) == "succeeded", limit=30)
    plain_finish = world.elapsed()

    # the lost work is what ran before the preemption, to within a tick either way
    assert plain_finish - saved_finish == pytest.approx(done_at, abs=60)
    for job, pod_id in pods.items():
        detail = world.job(job)
        assert detail["preemptions"] == 1
        assert len(detail["attempts"]) == 1  # bid-resumed, not relaunched
        assert world.pod(pod_id)["preemptions"] == 1
    assert world.job(plain)["money"]["waste"] > 0
    assert world.job(saved)["money"]["waste"] == 0
    # running seconds: busy + lost work for the plain job, busy alone for the saved one
    assert world.pod(pods[plain])["runningSeconds"] == pytest.approx(busy + done_at + 40, abs=70)
    assert world.pod(pods[saved])["runningSeconds"] == pytest.approx(busy + 40, abs=70)
