"""Every pod call the daemon makes survives a crash at any instant (issue 8, section 2).

The daemon is killed (`Crash`, raised by the transport like a SIGKILL) just before or just
after RunPod carries out a stop, terminate or bid-resume, and a fresh store and reconciler are
built on the same database. The intent committed before the call decides how the job ends: a
pod gone after the daemon's own terminate was ended by the daemon, never "removed itself".
"""

from __future__ import annotations

import pytest

from .conftest import BOTH_BACKENDS, World, sim


def _no_pod_billing(world: World) -> None:
    assert [p["name"] for p in world.running_pods()] == []


@BOTH_BACKENDS
def test_a_max_cost_job_killed_after_its_terminate_fails_and_never_succeeds(world: World) -> None:
    job = world.submit("capped", env=sim(), max_cost=0.01)
    world.tick()

    world.run_until_crash("podTerminate", after=True)
    (pod,) = world.all_pods()
    assert pod["desiredStatus"] == "TERMINATED"  # RunPod did it; the daemon never heard back
    world.run(1)

    detail = world.job(job)
    assert detail["state"] == "failed"
    assert detail["reason"] == "budget: max_cost reached"
    (attempt,) = detail["attempts"]
    assert attempt["end_reason"] == "budget"
    assert attempt["pending_call"] is None
    _no_pod_billing(world)
    assert detail["money"]["spend"] == pytest.approx(world.emu.billing_total(), rel=0.005)


def test_a_max_cost_job_killed_before_its_terminate_terminates_it_on_restart(
    world: World,
) -> None:
    job = world.submit("capped", env=sim(), max_cost=0.01)
    world.tick()

    world.run_until_crash("podTerminate", after=False)
    assert world.running_pods() != []  # the call never reached RunPod
    assert world.attempts(job)[0]["pending_call"] == "terminate"  # but its intent is on record
    world.run(1)

    assert world.state(job) == "failed"
    _no_pod_billing(world)


def test_an_idle_stopped_pod_stays_stopped_after_a_crash_after_its_stop(world: World) -> None:
    """on_idle = stop: the pod (and its volume) is the user's to keep, also after a crash."""
    job = world.submit(
        "keep-me", env=sim(busy=60, then="idle"), idle_grace=60, idle_timeout=120, on_idle="stop"
    )
    world.tick()

    world.run_until_crash("podStop", after=True)
    world.run(10)  # well past orphan_grace (300 s)

    detail = world.job(job)
    assert detail["state"] == "succeeded"
    assert detail["attempts"][0]["end_reason"] == "idle"
    (pod,) = world.all_pods()
    assert pod["desiredStatus"] == "EXITED"  # stopped, not preempted, resumed or terminated
    assert world.emu.state()["requests"]["byField"].get("podTerminate", 0) == 0
    assert world.emu.state()["requests"]["byField"].get("podBidResume", 0) == 0


def test_a_job_requeued_by_the_daemon_is_relaunched_after_a_crash_after_the_terminate(
    world: World,
) -> None:
    """The daemon ends a pod and sends its job back to the queue (here: the container did not
    start within `launch_timeout`); killed after the terminate, it must still relaunch."""
    world.set_policy(launch_timeout=10.0)  # the emulator's containers take 20 s to start
    job = world.submit("slow-start", env=sim(busy=120, then="terminate"))
    world.tick()

    world.run_until_crash("podTerminate", after=True, every=15)
    world.set_policy(launch_timeout=1800.0)
    world.run_until(lambda: world.state(job) == "succeeded", limit=10)

    first, second = world.attempts(job)
    assert first["end_reason"] == "launch_failed"
    assert first["detail"] == "container did not start in time"
    assert second["end_reason"] == "completed"
    _no_pod_billing(world)


@BOTH_BACKENDS
def test_a_bid_resume_killed_after_the_call_is_confirmed_not_repeated(world: World) -> None:
    job = world.submit("resumer", env=sim(busy=3600))
    world.tick()
    world.run(3)
    pod_id = world.attempts(job)[0]["pod_id"]
    world.emu.preempt(pod_id)
    world.run(1)
    assert world.state(job) == "preempted"

    world.run_until_crash("podBidResume", after=True)
    world.run(5)

    detail = world.job(job)
    assert detail["state"] == "running"
    (attempt,) = detail["attempts"]
    assert attempt["pod_id"] == pod_id and attempt["pending_call"] is None
    assert world.emu.state()["requests"]["byField"]["podBidResume"] == 1
    # billing restarted at the resume, not half a tick later or earlier
    assert attempt["cost"] == pytest.approx(world.emu.billing_total(pod_id), rel=0.005)
