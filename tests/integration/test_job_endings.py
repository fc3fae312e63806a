"""Scenario 2: how a job ends, learned through RunPod alone (DESIGN.md, "How a job ends"):
the pod removes itself → succeeded; GPU idle past `idle_timeout` after `idle_grace` →
`on_idle` (terminate: pod gone; stop: pod EXITED); an on-demand pod that stops itself →
succeeded."""

from __future__ import annotations

import pytest

from .conftest import BOTH_APIS, ON_DEMAND, World, sim


def _ended_at(world: World, job: int) -> float:
    (attempt,) = world.attempts(job)
    return (attempt["ended_at"] - world.emu.world.origin).total_seconds()


@BOTH_APIS
def test_pod_that_terminates_itself_means_succeeded(world: World) -> None:
    job = world.submit("terminates", env=sim(busy=600, then="terminate"))
    world.tick()
    pod_id = world.attempts(job)[0]["pod_id"]

    world.run(10)  # container up at 20 s, work done at 620 s
    assert world.state(job) == "running"
    world.run(2)

    detail = world.job(job)
    assert detail["state"] == "succeeded"
    assert detail["reason"] == "completed: pod removed itself"
    (attempt,) = detail["attempts"]
    assert attempt["end_reason"] == "completed"
    assert world.pod(pod_id)["desiredStatus"] == "TERMINATED"
    assert world.pods() == []
    # the work ran for exactly its busy time plus the start-up delay, billed at the bid
    assert world.pod(pod_id)["runningSeconds"] == pytest.approx(620)


@BOTH_APIS
@pytest.mark.parametrize(
    ("on_idle", "pod_after"), [("terminate", "TERMINATED"), ("stop", "EXITED")]
)
def test_idle_pod_is_auto_stopped_after_idle_timeout(
    world: World, on_idle: str, pod_after: str
) -> None:
    job = world.submit(
        "notebook-ish",
        env=sim(busy=300, then="idle"),
        idle_grace=120,
        idle_timeout=300,
        on_idle=on_idle,
    )
    world.tick()
    pod_id = world.attempts(job)[0]["pod_id"]

    # busy until 320 s, idle first seen at 360 s: nothing may happen before 360 + 300 s
    world.run(10)
    assert world.state(job) == "running"
    assert world.pod(pod_id)["desiredStatus"] == "RUNNING"
    world.run(2)

    detail = world.job(job)
    assert detail["state"] == "succeeded"
    assert detail["reason"] == "idle: GPU idle past idle_timeout"
    assert detail["attempts"][0]["end_reason"] == "idle"
    assert 320 + 300 <= _ended_at(world, job) <= 320 + 300 + 2 * 60
    assert world.pod(pod_id)["desiredStatus"] == pod_after
    assert world.emu.state()["totals"]["runningPods"] == 0


def test_idle_stopped_pod_is_kept_not_swept_as_an_orphan(world: World) -> None:
    """on_idle = stop keeps the pod (and its volume) for the user; the daemon's own stopped pod
    must not be terminated later by the orphan sweep."""
    job = world.submit(
        "keep-me", env=sim(busy=60, then="idle"), idle_grace=60, idle_timeout=120, on_idle="stop"
    )
    world.tick()
    pod_id = world.attempts(job)[0]["pod_id"]
    world.run_until(lambda: world.state(job) == "succeeded")
    assert world.pod(pod_id)["desiredStatus"] == "EXITED"

    world.run(8)  # well past orphan_grace (300 s)

    assert world.pod(pod_id)["desiredStatus"] == "EXITED"


@BOTH_APIS
def test_on_demand_pod_that_stops_itself_means_succeeded(world: World) -> None:
    # spot is out of reach (limit under the floor): on-demand once fallback_after has passed
    job = world.submit(
        "od-stops",
        env=sim(busy=300, then="stop"),
        max_spot_price=0.10,
        max_on_demand_price=0.50,
        fallback_after=60,
    )
    world.tick()
    world.run(2)
    (attempt,) = world.attempts(job)
    assert attempt["kind"] == "on_demand"
    pod = world.pod(attempt["pod_id"])
    assert pod["podType"] == "RESERVED"
    assert pod["costPerHr"] == pytest.approx(ON_DEMAND)

    world.run_until(lambda: world.state(job) != "running", limit=10)

    detail = world.job(job)
    assert detail["state"] == "succeeded"
    assert detail["reason"] == "completed: pod stopped itself"
    assert detail["attempts"][0]["end_reason"] == "completed"
    # the stopped pod is cleaned up, so nothing is left behind
    assert world.pod(attempt["pod_id"])["desiredStatus"] == "TERMINATED"
