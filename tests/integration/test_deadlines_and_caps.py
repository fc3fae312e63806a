"""Deadlines, the spend-rate cap and budgets over everything the daemon runs (issue 8, section 2).

A missed deadline is recorded, shown and counted; a spot run without a checkpoint moves to
on-demand while a fresh run still fits; `launch_timeout` counts from the latest launch or
resume; bid-resumes stay under `max_spend_rate`; with `budget_enforce = running` a reached
budget ends pods, lowest priority and checkpointed first.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import typer
from typer.testing import CliRunner

from scheduler.cli import jobs_cmd
from scheduler.policy.config import BudgetEnforce

from .conftest import GPU, World, sim


def test_a_deadline_passing_under_a_running_job_is_recorded_shown_and_counted_once(
    world: World,
) -> None:
    deadline = world.now + timedelta(minutes=10)
    job = world.submit("late", env=sim(busy=1800, then="terminate"), deadline=deadline)
    world.tick()
    world.run(9)
    assert world.job(job)["deadline_missed_at"] is None

    world.run_until(lambda: world.state(job) == "succeeded", limit=40)

    detail = world.job(job)
    assert detail["deadline_missed_at"] is not None
    assert deadline <= detail["deadline_missed_at"] <= deadline + timedelta(minutes=1)
    assert [e["kind"] for e in detail["events"]].count("deadline_missed") == 1
    assert sum(r.applied.deadlines_missed for r in world.reports) == 1  # the metric's feed
    assert detail["state"] == "succeeded"  # late, but done: the record says both
    url = world.engine.url.render_as_string(hide_password=False)
    app = typer.Typer()
    jobs_cmd.register(app)
    listing = CliRunner().invoke(app, ["jobs", "--db", url, "--json"])
    assert listing.exit_code == 0, listing.output
    # the JSON document, past any log line an earlier test's logging setup sent to stdout
    start = re.search(r"^\[$", listing.stdout, re.MULTILINE)
    assert start is not None, listing.stdout
    (row,) = json.loads(listing.stdout[start.start() :])
    assert row["deadline_missed_at"] is not None
    shown = CliRunner().invoke(app, ["job", str(job), "--db", url])
    assert "deadline missed" in shown.output
    assert "succeeded · completed" in shown.output


def test_a_job_that_expires_in_the_queue_records_the_missed_deadline(world: World) -> None:
    world.emu.set_market(GPU, "SECURE", spot_price=0.50, on_demand_price=0.40, stock=16)
    job = world.submit("never-ran", deadline=world.now + timedelta(minutes=5))
    world.run(6)

    detail = world.job(job)
    assert detail["state"] == "expired"
    assert detail["deadline_missed_at"] is not None


def test_a_spot_run_without_checkpoint_moves_to_on_demand_while_a_fresh_run_still_fits(
    world: World,
) -> None:
    """One hour of work, 100 minutes to the deadline. Spot is fine at first; at 28 minutes a
    preemption would leave no time to run it again from scratch, so the daemon moves it to
    on-demand then. Spot disappears at 45 minutes: the job is safe on on-demand by then."""
    deadline = world.now + timedelta(seconds=6000)
    job = world.submit(
        "tight",
        env=sim(busy=3600, then="terminate"),
        deadline=deadline,
        estimated_runtime=3600,
        max_on_demand_price=0.45,
    )
    world.tick()
    assert world.attempts(job)[0]["kind"] == "spot"
    world.run(45)
    world.emu.set_market(GPU, "SECURE", spot_price=0.35, on_demand_price=0.40, stock=16)

    world.run_until(lambda: world.state(job) in ("succeeded", "failed", "expired"), limit=120)

    detail = world.job(job)
    assert detail["state"] == "succeeded"
    assert detail["finished_at"] <= deadline
    assert detail["deadline_missed_at"] is None
    spot, on_demand = detail["attempts"]
    assert spot["kind"] == "spot" and spot["end_reason"] == "abandoned"
    assert "deadline at risk" in spot["detail"]
    assert on_demand["kind"] == "on_demand" and on_demand["end_reason"] == "completed"


def test_launch_timeout_counts_from_the_bid_resume_not_from_the_first_launch(
    world: World,
) -> None:
    job = world.submit("long", env=sim(busy=7200))
    world.tick()
    world.run(31)  # 31 minutes: past launch_timeout (30 min) since the attempt was created
    (attempt,) = world.attempts(job)
    world.emu.preempt(attempt["pod_id"])
    world.run(1)  # preempted
    world.run(1)  # bid-resumed
    assert world.attempts(job)[0]["state"] == "launching"

    world.run(4, every=15)  # the resumed container takes 20 s to start

    detail = world.job(job)
    assert detail["state"] == "running"
    assert len(detail["attempts"]) == 1
    assert world.emu.state()["requests"]["byField"].get("podTerminate", 0) == 0


def test_bid_resumes_stay_under_the_spend_rate_cap(world: World) -> None:
    """Two spot pods fill the cap at $0.21/h each; spot rises to $0.25, both are preempted, and
    resuming them at $0.2625/h each would take the fleet to $0.525/h."""
    cap = 0.42
    world.set_policy(max_spend_rate=cap)
    jobs = [world.submit(f"job-{i}", env=sim()) for i in range(2)]
    world.tick()
    world.run(2)
    assert [world.state(j) for j in jobs] == ["running", "running"]
    world.emu.set_market(GPU, "SECURE", spot_price=0.25, on_demand_price=0.40, stock=16)

    rates = []
    for _ in range(20):
        world.run(1)
        rates.append(sum(p["costPerHr"] for p in world.running_pods()))

    assert max(rates) <= cap + 1e-9, rates
    assert rates[-1] > 0  # not stuck: one job runs again
    assert any(r.applied.holds for r in world.reports)


def test_a_reached_daily_budget_ends_running_pods_lowest_priority_checkpointed_first(
    world: World,
) -> None:
    budget = 0.10  # the pods are ended once what is left covers less than 10 min of both
    world.set_policy(daily_budget=budget, budget_enforce=BudgetEnforce.RUNNING)
    low = world.submit("low", env=sim(checkpoint=True), priority=0, checkpoint=True)
    high = world.submit("high", env=sim(), priority=5)
    world.tick()

    world.run(20)

    spent = sum(world.job(j)["money"]["spend"] for j in (low, high))
    assert spent <= budget
    assert world.emu.billing_total() <= budget
    assert world.running_pods() == []
    (low_attempt,) = world.attempts(low)
    (high_attempt,) = world.attempts(high)
    assert low_attempt["end_reason"] == high_attempt["end_reason"] == "budget"
    assert low_attempt["ended_at"] < high_attempt["ended_at"]
    for j in (low, high):
        detail = world.job(j)
        assert detail["state"] == "queued"  # back in the queue, waiting for tomorrow
        assert "daily budget" in detail["reason"]
