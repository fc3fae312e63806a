"""Scenarios 6 and 7: a user's cancel, and the money limits (DESIGN.md, "Budgets"): the global
spend-rate cap and daily budget gate new launches; `max_cost` and `max_runtime` fail a job and
terminate its pod."""

from __future__ import annotations

from datetime import timedelta

import pytest

from .conftest import BOTH_APIS, FLOOR, GPU, World, expected_bid, sim


def test_cancel_a_queued_job(world: World) -> None:
    world.emu.set_market(GPU, "SECURE", spot_price=0.50)  # keeps it queued
    job = world.submit("never-mind", env=sim())
    world.tick()

    world.cancel(job)
    world.run(1)

    detail = world.job(job)
    assert detail["state"] == "cancelled"
    assert detail["reason"] == "cancelled by user"
    assert detail["cancel_requested"]
    assert detail["attempts"] == []
    world.emu.set_market(GPU, "SECURE", spot_price=FLOOR)
    world.run(2)
    assert world.pods() == []  # a cancelled job never launches


@BOTH_APIS
def test_cancel_a_running_job_terminates_its_pod(world: World) -> None:
    job = world.submit("stop-it", env=sim())
    world.tick()
    world.run(2)
    assert world.state(job) == "running"
    pod_id = world.attempts(job)[0]["pod_id"]

    world.cancel(job)
    world.run(1)

    detail = world.job(job)
    assert detail["state"] == "cancelled"
    assert detail["attempts"][0]["end_reason"] == "cancelled"
    assert world.pod(pod_id)["desiredStatus"] == "TERMINATED"
    assert world.pods() == []


def test_cancel_a_preempted_job_terminates_its_stopped_pod(world: World) -> None:
    job = world.submit("stop-it", env=sim())
    world.tick()
    world.run(1)
    pod_id = world.attempts(job)[0]["pod_id"]
    world.emu.set_market(GPU, "SECURE", spot_price=0.50)  # preempts, and no resume
    world.run(1)
    assert world.state(job) == "preempted"

    world.cancel(job)
    world.run(1)

    assert world.state(job) == "cancelled"
    assert world.pod(pod_id)["desiredStatus"] == "TERMINATED"


def test_spend_rate_cap_lets_only_the_jobs_that_fit_launch(world: World) -> None:
    bid = expected_bid(FLOOR)  # 0.21 per GPU-hour, one GPU each
    world.set_policy(max_spend_rate=2.5 * bid)
    jobs = [world.submit(f"j{i}", env=sim(busy=300, then="terminate")) for i in range(3)]

    world.tick()

    states = [world.state(j) for j in jobs]
    assert states == ["launching", "launching", "queued"]
    assert world.job(jobs[2])["reason"] == "spend rate cap"
    assert len(world.pods()) == 2
    assert sum(p["costPerHr"] for p in world.pods()) <= 2.5 * bid

    seen_max = 0
    for _ in range(12):  # the first two finish, then the third fits
        world.run(1)
        running = world.running_pods()
        seen_max = max(seen_max, len(running))
        assert sum(p["costPerHr"] for p in running) <= 2.5 * bid + 1e-9
    assert seen_max == 2
    assert [world.state(j) for j in jobs] == ["succeeded"] * 3


def test_spend_rate_cap_holds_across_a_preemption_and_bid_resume(world: World) -> None:
    bid = expected_bid(FLOOR)
    cap = 2.5 * bid  # room for two pods
    world.set_policy(max_spend_rate=cap)
    a, b, c = (world.submit(name, env=sim()) for name in ("a", "b", "c"))
    world.tick()
    world.run(1)
    assert [world.state(j) for j in (a, b, c)] == ["running", "running", "queued"]

    world.emu.preempt(world.attempts(a)[0]["pod_id"])
    for _ in range(4):
        world.run(1)
        assert sum(p["costPerHr"] for p in world.running_pods()) <= cap + 1e-9


def test_daily_budget_spent_blocks_new_launches_until_the_next_day(world: World) -> None:
    world.set_policy(daily_budget=0.03)
    first = world.submit("first", gpu_count=2, env=sim(busy=600, then="terminate"))  # $0.42/h
    world.tick()
    world.run(11)
    assert world.state(first) == "succeeded"
    assert world.job(first)["spend"] >= 0.03

    second = world.submit("second", env=sim())
    world.run(3)

    detail = world.job(second)
    assert detail["state"] == "queued"
    assert detail["reason"] == "daily budget spent"
    assert world.pods() == []

    tomorrow = world.now.replace(hour=0, minute=0, second=30) + timedelta(days=1)
    world.clock.set(tomorrow)
    world.tick()

    assert world.state(second) == "launching"
    assert len(world.pods()) == 1


@BOTH_APIS
def test_daily_budget_does_not_stop_running_jobs(world: World) -> None:
    world.set_policy(daily_budget=0.01)
    job = world.submit("running", env=sim())
    world.tick()
    world.run(10)  # $0.035 spent, over the budget

    assert world.job(job)["spend"] > 0.01
    assert world.state(job) == "running"
    assert len(world.running_pods()) == 1


@BOTH_APIS
def test_max_cost_terminates_the_pod_and_fails_the_job(world: World) -> None:
    job = world.submit("pricey", gpu_count=2, env=sim(), max_cost=0.02)  # $0.42/h
    world.tick()
    pod_id = world.attempts(job)[0]["pod_id"]

    world.run_until(lambda: world.state(job) in ("failed", "succeeded"), limit=10)

    detail = world.job(job)
    assert detail["state"] == "failed"
    assert detail["reason"] == "budget: max_cost reached"
    (attempt,) = detail["attempts"]
    assert attempt["end_reason"] == "budget"
    assert world.pod(pod_id)["desiredStatus"] == "TERMINATED"
    # stopped within one tick of reaching the limit
    assert 0.02 <= detail["spend"] <= 0.02 + 0.42 * 60 / 3600
    assert world.emu.billing_total(pod_id) == pytest.approx(detail["spend"], rel=0.01)


@BOTH_APIS
def test_max_runtime_terminates_the_pod_and_fails_the_job(world: World) -> None:
    job = world.submit("too-long", env=sim(), max_runtime=600)
    world.tick()
    world.run(1)
    pod_id = world.attempts(job)[0]["pod_id"]

    world.run(9)  # running since 60 s: 540 s
    assert world.state(job) == "running"
    world.run(1)

    detail = world.job(job)
    assert detail["state"] == "failed"
    assert detail["reason"] == "max_runtime: max_runtime reached"
    assert detail["attempts"][0]["end_reason"] == "max_runtime"
    assert world.pod(pod_id)["desiredStatus"] == "TERMINATED"
