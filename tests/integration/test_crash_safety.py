"""Scenario 5: crash safety (DESIGN.md, "Crash safety and idempotency"). The intent row is
committed before the create; the next tick adopts a pod found by its deterministic name or
gives up on the attempt after `launch_grace`; a restarted daemon carries on; a pod with the
daemon's prefix that no attempt owns is terminated after `orphan_grace`; foreign pods are
left alone unless the opt-in idle rule names them."""

from __future__ import annotations

import pytest

from scheduler.domain.actions import Launch
from scheduler.domain.states import AttemptKind, JobState
from scheduler.emulator import FaultRule
from scheduler.policy.config import ForeignIdleRule
from scheduler.runpod.models import DeployRequest

from .conftest import FLOOR, GPU, IMAGE, ON_DEMAND, World, expected_bid, sim


def _launch(job: int, kind: AttemptKind = AttemptKind.SPOT) -> Launch:
    return Launch(
        job_id=job,
        from_state=JobState.QUEUED,
        kind=kind,
        gpu_type_id=GPU,
        gpu_count=1,
        secure_cloud=True,
        bid_per_gpu=expected_bid(FLOOR) if kind is AttemptKind.SPOT else None,
        on_demand_price_per_gpu=ON_DEMAND,
        data_center_id=None,
        reason="spot_under_limit",
    )


def test_intent_row_without_pod_ends_launch_failed_after_grace_and_relaunches(
    world: World,
) -> None:
    """The daemon died between committing the intent row and calling RunPod."""
    job = world.submit("crashed", env=sim())
    world.store.begin_attempt(_launch(job), world.now)  # ... and then the process died
    assert world.state(job) == "launching"

    world.run(1, every=30)  # 30 s: the create may still be in flight, wait
    assert world.attempts(job)[0]["state"] == "launching"
    assert world.pods() == []
    world.run(1, every=61)  # 91 s > launch_grace (90 s)

    detail = world.job(job)
    first, second = detail["attempts"]
    assert first["state"] == "ended" and first["end_reason"] == "launch_failed"
    assert first["detail"] == "no pod appeared after the create call"
    assert first["pod_id"] is None
    assert second["number"] == 2 and second["pod_name"] == world.pod_name(job, 2)
    assert detail["state"] == "launching"
    (pod,) = world.pods()
    assert pod["id"] == second["pod_id"]
    world.run(3)
    assert world.state(job) == "running"
    assert len(world.pods()) == 1


KIND_OF = {"podRentInterruptable": "spot", "podFindAndDeployOnDemand": "on_demand"}


@pytest.mark.parametrize(
    ("match", "kind", "fields"),
    [
        ("podRentInterruptable", "INTERRUPTABLE", {}),
        # no preemption tolerated: straight to on-demand
        (
            "podFindAndDeployOnDemand",
            "RESERVED",
            {"max_preemptions": 0, "max_on_demand_price": 0.45},
        ),
    ],
    ids=["spot", "on_demand"],
)
def test_create_whose_response_is_lost_is_adopted_by_name(
    world: World, match: str, kind: str, fields: dict[str, object]
) -> None:
    job = world.submit("lost-answer", env=sim(), **fields)
    world.emu.inject_faults(FaultRule("timeout_after", match=match, count=1))

    report = world.tick()

    assert report.ok
    assert report.applied.launches == [(KIND_OF[match], GPU, "unknown")]
    (attempt,) = world.attempts(job)
    assert attempt["state"] == "launching" and attempt["pod_id"] is None
    (pod,) = world.pods()  # RunPod did create it
    assert pod["name"] == world.pod_name(job, 1) and pod["podType"] == kind

    world.run(1, every=30)

    detail = world.job(job)
    (attempt,) = detail["attempts"]
    assert attempt["pod_id"] == pod["id"]
    assert detail["state"] == "running"
    world.run(4)  # long past launch_grace: still one attempt, one pod
    assert len(world.attempts(job)) == 1
    assert [p["id"] for p in world.pods()] == [pod["id"]]
    assert world.emu.state()["requests"]["byField"][match] == 1


def test_create_that_timed_out_before_reaching_runpod_is_relaunched_once(world: World) -> None:
    job = world.submit("never-sent", env=sim())
    world.emu.inject_faults(FaultRule("timeout", match="podRentInterruptable", count=1))

    world.tick()
    assert world.pods() == []
    world.run(2)  # 120 s > launch_grace

    first, second = world.attempts(job)
    assert first["end_reason"] == "launch_failed"
    assert second["pod_id"] is not None
    assert [p["id"] for p in world.pods()] == [second["pod_id"]]


def test_restarted_daemon_continues_a_running_job_without_relaunching(world: World) -> None:
    job = world.submit("survivor", env=sim(busy=900, then="terminate"))
    world.tick()
    world.run(5)
    assert world.state(job) == "running"
    pod_id = world.attempts(job)[0]["pod_id"]
    spend_before = world.job(job)["spend"]
    creates = world.emu.state()["requests"]["byField"]["podRentInterruptable"]

    world.restart()
    world.run(1)

    assert world.state(job) == "running"
    assert world.job(job)["spend"] > spend_before  # the ledger carries on from the database
    world.run_until(lambda: world.state(job) == "succeeded", limit=15)
    (attempt,) = world.attempts(job)
    assert attempt["pod_id"] == pod_id
    assert world.emu.state()["requests"]["byField"]["podRentInterruptable"] == creates
    assert world.job(job)["money"]["spend"] == pytest.approx(
        world.emu.billing_total(pod_id), rel=0.02
    )


def _deploy(world: World, name: str, env: dict[str, str]) -> str:
    pod = world.client.deploy(
        DeployRequest(
            name=name,
            image_name=IMAGE,
            gpu_type_id=GPU,
            cloud_type="SECURE",
            env=tuple(env.items()),
        )
    )
    return pod.id


def test_orphan_pod_is_terminated_after_orphan_grace_and_foreign_pods_are_left_alone(
    world: World,
) -> None:
    orphan = _deploy(world, world.pod_name(999, 1), sim())
    notebook = _deploy(world, "my-notebook", sim(busy=0))  # idle from the start
    world.tick()

    world.run(4)  # 240 s < orphan_grace
    assert world.pod(orphan)["desiredStatus"] == "RUNNING"
    world.run(1)  # 300 s

    assert world.pod(orphan)["desiredStatus"] == "TERMINATED"
    assert world.reports[-1].applied.orphans == ["orphan"]
    world.run(30)  # half an hour idle: still nobody's business but its owner's
    assert world.pod(notebook)["desiredStatus"] == "RUNNING"
    assert world.emu.state()["requests"]["byField"].get("podStop", 0) == 0


def test_foreign_idle_rule_stops_only_matching_idle_pods(world: World) -> None:
    world.set_policy(foreign_idle=ForeignIdleRule(name_pattern="my-*", idle_timeout=600))
    busy_notebook = _deploy(world, "my-notebook", sim(busy=1200))  # busy, then idle
    other = _deploy(world, "someone-elses", sim(busy=0))  # idle, but not matched
    world.tick()

    world.run(20)  # 1200 s: busy all along
    assert world.pod(busy_notebook)["desiredStatus"] == "RUNNING"
    world.run(9)  # idle since ~1260 s, 480 s < 600 s
    assert world.pod(busy_notebook)["desiredStatus"] == "RUNNING"
    world.run_until(lambda: world.pod(busy_notebook)["desiredStatus"] != "RUNNING", limit=4)

    assert world.pod(busy_notebook)["desiredStatus"] == "EXITED"  # stopped, not terminated
    assert world.reports[-1].applied.orphans == ["foreign_idle"]
    assert world.pod(other)["desiredStatus"] == "RUNNING"


def test_adopted_pod_is_accounted_from_the_create_call(world: World) -> None:
    """The daemon made the create itself at a known moment (the intent row's created_at), so
    the ledger promises to be exact for it, as it is for an ordinary launch."""
    job = world.submit("lost-answer", env=sim())
    world.emu.inject_faults(FaultRule("timeout_after", match="podRentInterruptable", count=1))
    world.tick()
    world.run(1, every=30)  # adopted here
    world.run(9)

    (attempt,) = world.attempts(job)
    assert attempt["cost"] == pytest.approx(world.emu.billing_total(attempt["pod_id"]), rel=1e-3)
