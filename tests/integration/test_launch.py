"""Scenario 1: a spot launch happens when the floor is under the job's limit, at the bid
DESIGN.md promises (per GPU, floor x (1 + bid_margin), never over the limit), and not while the
floor is above the limit, with a reason the user can read."""

from __future__ import annotations

import pytest

from .conftest import BOTH_BACKENDS, FLOOR, GPU, LIMIT, World, expected_bid, sim


@BOTH_BACKENDS
def test_spot_launch_bids_floor_plus_margin_per_gpu(world: World) -> None:
    job = world.submit("train", gpu_count=2, env=sim())

    report = world.tick()

    assert report.ok and report.spot_capable is True
    (attempt,) = world.attempts(job)
    bid = expected_bid(FLOOR)
    assert bid == pytest.approx(0.21)
    assert attempt["kind"] == "spot"
    assert attempt["bid_per_gpu"] == pytest.approx(bid)
    assert attempt["pod_name"] == world.pod_name(job, 1)
    (pod,) = world.pods()
    assert pod["id"] == attempt["pod_id"]
    assert pod["name"] == world.pod_name(job, 1)
    assert pod["podType"] == "INTERRUPTABLE"
    assert pod["gpuTypeId"] == GPU and pod["cloudType"] == "SECURE"
    assert pod["gpuCount"] == 2
    assert pod["bidPerGpu"] == pytest.approx(bid)
    assert pod["costPerHr"] == pytest.approx(2 * bid)  # pay-as-bid, per GPU
    assert attempt["cost_per_hr"] == pytest.approx(2 * bid)
    assert world.state(job) == "launching"

    world.run(1)  # the container is up 20 s after the create

    assert world.state(job) == "running"
    assert world.job(job)["reason"] == "pod is running"
    assert world.attempts(job)[0]["state"] == "running"
    assert not world.attempts(job)[0]["overbid"]


@BOTH_BACKENDS
def test_no_launch_while_floor_above_limit_then_launch_when_it_drops(world: World) -> None:
    world.emu.set_market(GPU, "SECURE", spot_price=0.50)
    job = world.submit("wait-for-price", env=sim())

    world.tick()
    world.run(4)

    assert world.state(job) == "queued"
    assert world.job(job)["reason"] == "no spot offer under max_spot_price"
    assert world.attempts(job) == []
    assert world.pods() == []

    world.emu.set_market(GPU, "SECURE", spot_price=0.24)
    world.run(1)

    (attempt,) = world.attempts(job)
    assert attempt["bid_per_gpu"] == pytest.approx(expected_bid(0.24))  # 0.252
    (pod,) = world.pods()
    assert pod["costPerHr"] == pytest.approx(expected_bid(0.24))
    assert world.state(job) == "launching"
    assert world.job(job)["reason"] == "spot launch: spot_under_limit"


def test_bid_never_exceeds_the_jobs_limit(world: World) -> None:
    """Floor 0.29 under a 0.30 limit: the margin would bid 0.3045, the bid is capped at 0.30."""
    world.emu.set_market(GPU, "SECURE", spot_price=0.29)
    job = world.submit("tight", env=sim())

    world.tick()

    (attempt,) = world.attempts(job)
    assert attempt["bid_per_gpu"] == pytest.approx(LIMIT)
    (pod,) = world.pods()
    assert pod["bidPerGpu"] == pytest.approx(LIMIT)
