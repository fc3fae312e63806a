"""Scenario 8: the ledger. Over more than an hour with several jobs (spot and on-demand, a
preemption and bid-resume, an idle stop), what the daemon recorded equals what RunPod billed,
and the on-demand counterfactual equals the on-demand price x GPU count x billed hours."""

from __future__ import annotations

import pytest

from .conftest import (
    ALT_GPU,
    ALT_ON_DEMAND,
    BOTH_BACKENDS,
    GPU,
    ON_DEMAND,
    World,
    sim,
)

ON_DEMAND_PER_GPU = {GPU: ON_DEMAND, ALT_GPU: ALT_ON_DEMAND}


@BOTH_BACKENDS
def test_recorded_cost_matches_runpod_billing_over_hours(world: World) -> None:
    jobs = {
        "spot-2gpu": world.submit("spot-2gpu", gpu_count=2, env=sim(busy=3600, then="terminate")),
        "on-demand": world.submit(
            "on-demand",
            env=sim(busy=2400, then="stop"),
            max_spot_price=0.10,
            max_on_demand_price=0.45,
            fallback_after=300,
        ),
        "preempted": world.submit(
            "preempted",
            gpu_types=[ALT_GPU],
            env=sim(busy=2400, then="terminate", checkpoint=True),
            checkpoint=True,
        ),
        "idle": world.submit(
            "idle",
            env=sim(busy=900, then="idle"),
            idle_grace=300,
            idle_timeout=600,
            on_idle="stop",
        ),
    }
    world.tick()
    world.run(40, every=30)  # 20 minutes in: preempt one spot pod (RunPod reclaims it)
    world.emu.preempt(world.attempts(jobs["preempted"])[0]["pod_id"])
    world.run_until(
        lambda: all(
            world.state(j) not in ("queued", "launching", "running", "preempted")
            for j in jobs.values()
        ),
        every=30,
        limit=120,
    )
    assert world.elapsed() > 3600  # over an hour of ticks every 30 s

    details = {name: world.job(job) for name, job in jobs.items()}
    assert {n: d["state"] for n, d in details.items()} == dict.fromkeys(jobs, "succeeded")
    assert details["preempted"]["preemptions"] == 1
    assert details["on-demand"]["attempts"][0]["kind"] == "on_demand"
    assert details["idle"]["attempts"][0]["end_reason"] == "idle"
    assert world.running_pods() == []

    attempts = [a for d in details.values() for a in d["attempts"]]
    recorded = sum(a["cost"] for a in attempts)
    billed = world.emu.billing_total()
    assert billed > 0.5  # dollars, not cents, of GPU time
    assert recorded == pytest.approx(billed, rel=0.01)
    # per attempt too: every pod's bill is in its own attempt's ledger
    for a in attempts:
        assert a["cost"] == pytest.approx(world.emu.billing_total(a["pod_id"]), rel=0.01)

    # the counterfactual: the on-demand price x GPU count x the hours RunPod billed
    for a in attempts:
        pod = world.pod(a["pod_id"])
        hours = pod["runningSeconds"] / 3600
        expected = ON_DEMAND_PER_GPU[a["gpu_type_id"]] * a["gpu_count"] * hours
        assert a["on_demand_cost"] == pytest.approx(expected, rel=0.01)
    od = details["on-demand"]["money"]
    assert od["on_demand_cost"] == pytest.approx(od["spend"], rel=1e-9)  # no savings on-demand
    for name in ("spot-2gpu", "preempted", "idle"):
        assert details[name]["money"]["savings"] > 0

    # the per-day ledger (what budgets and `spotsched cost` read) agrees with the attempts
    by_job = world.store.cost_report(None, "job")
    assert sum(r["spend"] for r in by_job) == pytest.approx(recorded, rel=1e-9)
    assert sum(r["on_demand_cost"] for r in by_job) == pytest.approx(
        sum(a["on_demand_cost"] for a in attempts), rel=1e-9
    )


def test_spot_pods_are_charged_their_bid_and_never_flagged_as_overbid(world: World) -> None:
    """RunPod spot is pay-as-bid: the emulator charges exactly bid x GPU count, so a spot
    overbid cannot happen against it; the daemon must not raise false alarms either."""
    jobs = [world.submit(f"s{n}", gpu_count=n, env=sim()) for n in (1, 2, 4)]
    world.tick()
    world.run(2)

    for job in jobs:
        (attempt,) = world.attempts(job)
        pod = world.pod(attempt["pod_id"])
        assert pod["costPerHr"] == pytest.approx(attempt["bid_per_gpu"] * attempt["gpu_count"])
        assert not attempt["overbid"]
    assert all(r.applied.overbids == 0 for r in world.reports)


def test_on_demand_price_rise_between_poll_and_create_is_flagged(world: World) -> None:
    """The one way to be charged more than planned: the on-demand price moves between this
    tick's market poll and the create. The attempt records the real price and an overbid event."""
    job = world.submit(
        "od", env=sim(), max_spot_price=0.10, max_on_demand_price=0.45, fallback_after=0
    )
    world.tick()
    world.transport.after(
        "gpuTypes", lambda: world.emu.set_market(GPU, "SECURE", on_demand_price=0.44)
    )

    report = world.run(1)

    assert report.applied.overbids == 1
    (attempt,) = world.attempts(job)
    assert attempt["overbid"]
    assert attempt["cost_per_hr"] == pytest.approx(0.44)
    events = [e for e in world.job(job)["events"] if e["kind"] == "overbid"]
    assert [e["reason"] for e in events] == ["pod costs $0.4400/h, bid was $0.4000/h"]
