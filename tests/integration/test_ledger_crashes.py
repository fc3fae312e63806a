"""The ledger agrees with RunPod's billing within 0.5% also through crashes, long restarts and
short runs (issue 8, section 2): billing starts and stops where RunPod's own record of the pod
(`lastStatusChange`) or the daemon's own committed intent says, not half a tick (or half a
restart) away from it."""

from __future__ import annotations

import pytest

from .conftest import World, sim

WITHIN = 0.005


def _recorded(world: World, job: int) -> float:
    return float(world.job(job)["money"]["spend"])


def test_a_pod_preempted_while_the_daemon_is_down_is_billed_until_its_preemption(
    world: World,
) -> None:
    job = world.submit("down-preempted", env=sim(busy=7200, checkpoint=True), checkpoint=True)
    world.tick()
    world.run(5)
    pod_id = world.attempts(job)[0]["pod_id"]
    world.restart()  # down for 20 minutes; the pod is preempted 2 minutes in
    world.clock.advance(120)
    world.emu.preempt(pod_id)
    world.clock.advance(1080)
    world.tick()

    assert world.state(job) == "preempted"
    assert _recorded(world, job) == pytest.approx(world.emu.billing_total(pod_id), rel=WITHIN)


def test_a_terminate_whose_answer_died_with_the_daemon_is_billed_until_the_call(
    world: World,
) -> None:
    job = world.submit("capped", env=sim(), max_cost=0.01)
    world.tick()
    world.run_until_crash("podTerminate", after=True, down=900)
    world.run(1)

    assert world.state(job) == "failed"
    assert _recorded(world, job) == pytest.approx(world.emu.billing_total(), rel=WITHIN)


def test_a_bid_resume_confirmed_after_a_long_restart_is_billed_from_the_resume(
    world: World,
) -> None:
    job = world.submit("resumer", env=sim(busy=7200))
    world.tick()
    world.run(3)
    pod_id = world.attempts(job)[0]["pod_id"]
    world.emu.preempt(pod_id)
    world.run(1)
    world.run_until_crash("podBidResume", after=True, down=600)
    world.run(3)

    assert world.state(job) == "running"
    assert _recorded(world, job) == pytest.approx(world.emu.billing_total(pod_id), rel=WITHIN)


@pytest.mark.parametrize("busy", [45, 100, 250])
def test_a_short_on_demand_run_that_stops_itself_is_billed_to_the_second(
    world: World, busy: int
) -> None:
    job = world.submit(
        "short",
        env=sim(busy=busy, then="stop"),
        max_preemptions=0,
        max_on_demand_price=0.45,
    )
    world.tick()
    world.run_until(lambda: world.state(job) == "succeeded", limit=10)

    assert _recorded(world, job) == pytest.approx(world.emu.billing_total(), rel=WITHIN)
