"""Issue 8, section 3: a neighbour on the same RunPod account is not an orphan.

Two installations (two databases, two reconcilers) share one RunPod account (one emulator),
and a person has a pod of their own named `spotsched-1-1`. Each installation must manage its
own pods only: never sweep, stop or adopt the other's (or the person's), and never record a
job as succeeded because somebody else ended its pod. Pods created before installation ids
(named `spotsched-{job}-{attempt}`) keep working after the upgrade when an attempt of ours
recorded them, and are left alone when none did.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from scheduler.domain.actions import Launch
from scheduler.domain.states import AttemptKind, JobState
from scheduler.reconcile import Reconciler, ReconcilerSettings
from scheduler.runpod.client import RunPodClient
from scheduler.runpod.models import DeployRequest
from scheduler.store import Store, open_engine
from scheduler.store.migrate import upgrade

from .conftest import API_KEY, FLOOR, GPU, IMAGE, ON_DEMAND, World, expected_bid, sim

MINUTE = 60.0


@pytest.fixture
def neighbour(world: World, make_database: Any) -> Iterator[World]:
    """A second installation: its own freshly migrated database (so its own installation id)
    and its own reconciler, on the same RunPod account and clock as `world`."""
    engine = open_engine(make_database("sqlite", migrated=False))
    upgrade(engine)
    store = Store(engine)
    client = RunPodClient(world.http, API_KEY, clock=world.clock)
    reconciler = Reconciler(
        store, client, world.reconciler.policy, ReconcilerSettings(price_sample_interval=300.0)
    )
    yield World(
        world.clock, world.emu, world.transport, world.http, client, engine, store, reconciler
    )
    engine.dispose()


def _side_by_side(ours: World, theirs: World, minutes: int) -> None:
    """Both daemons tick once a minute, as two real daemons would."""
    for _ in range(minutes):
        ours.clock.advance(MINUTE)
        ours.tick()
        theirs.tick()


def _person_pod(world: World, name: str) -> str:
    """A pod someone made by hand in the RunPod console, busy forever."""
    request = DeployRequest(
        name=name,
        image_name=IMAGE,
        gpu_type_id=GPU,
        cloud_type="SECURE",
        env=tuple(sim().items()),
    )
    return world.client.deploy(request).id


def _events(world: World, pod_id: str) -> list[str]:
    return [e["event"] for e in world.pod(pod_id)["events"]]


def test_two_installations_on_one_account_leave_each_other_alone(
    world: World, neighbour: World
) -> None:
    person = _person_pod(world, "spotsched-1-1")
    short = sim(busy=10 * MINUTE, then="terminate")
    a_forever, a_short = world.submit("a-forever", env=sim()), world.submit("a-short", env=short)
    b_short = neighbour.submit("b-short", env=short)
    b_forever = [neighbour.submit(f"b-forever-{i}", env=sim()) for i in (1, 2, 3)]
    assert world.installation != neighbour.installation
    assert (a_forever, a_short) == (1, 2) and b_short == 1  # the same job ids in both

    _side_by_side(world, neighbour, 40)  # far past orphan_grace (5 min) and both short jobs

    # each records its own jobs, and a success only where the container ended itself
    assert [world.state(j) for j in (a_forever, a_short)] == ["running", "succeeded"]
    assert neighbour.state(b_short) == "succeeded"
    assert [neighbour.state(j) for j in b_forever] == ["running"] * 3
    for install, jobs in ((world, (a_forever, a_short)), (neighbour, (b_short, *b_forever))):
        for job in jobs:
            [attempt] = install.attempts(job)  # nobody's pod was taken away: no relaunch
            pod = install.pod(attempt["pod_id"])  # adopted nothing but its own pod
            assert pod["name"] == attempt["pod_name"] == install.pod_name(job, 1)
        assert not any(r.applied.orphans for r in install.reports)  # swept nothing
        # its fleet (what the metrics count) is its own live pods, nobody else's
        live = {install.attempts(j)[0]["pod_id"] for j in jobs if install.state(j) == "running"}
        assert install.reports[-1].own_pods == live
    for done in (world.attempts(a_short)[0], neighbour.attempts(b_short)[0]):
        assert _events(world, done["pod_id"])[-1] == "terminated_itself"

    # nothing was ever stopped or terminated through the API: not the neighbour's pods, not
    # the person's `spotsched-1-1`
    assert all("terminated" not in _events(world, p["id"]) for p in world.all_pods())
    assert world.emu.state()["requests"]["byField"].get("podStop", 0) == 0
    assert world.pod(person)["desiredStatus"] == "RUNNING"
    assert len(world.running_pods()) == 1 + 1 + 3  # the person's, a-forever, b-forever-*


def _launch(job: int) -> Launch:
    return Launch(
        job_id=job,
        from_state=JobState.QUEUED,
        kind=AttemptKind.SPOT,
        gpu_type_id=GPU,
        gpu_count=1,
        secure_cloud=True,
        bid_per_gpu=expected_bid(FLOOR),
        on_demand_price_per_gpu=ON_DEMAND,
        data_center_id=None,
        reason="spot_under_limit",
    )


def _before_upgrade(world: World, job: int, *, recorded: bool) -> str:
    """What the version before installation ids left behind: an attempt whose pod has the old
    name `spotsched-{job}-1`, the pod itself, and (if `recorded`) its pod id on the attempt."""
    attempt = world.store.begin_attempt(_launch(job), world.now)
    old_name = f"spotsched-{job}-1"
    world.sql("UPDATE attempts SET pod_name = :n WHERE id = :i", n=old_name, i=attempt.id)
    request = DeployRequest(
        name=old_name,
        image_name=IMAGE,
        gpu_type_id=GPU,
        cloud_type="SECURE",
        bid_per_gpu=expected_bid(FLOOR),
        env=tuple(sim().items()),
    )
    pod = world.client.deploy(request)
    if recorded:
        world.store.set_pod(attempt.id, pod.id, pod.cost_per_hr, None, world.now)
    return pod.id


def test_old_format_pods_of_live_attempts_keep_working_and_unowned_ones_are_left_alone(
    world: World,
) -> None:
    running = world.submit("running-before", env=sim())
    lost = world.submit("create-answer-lost", env=sim())
    ended = world.submit("ended-before", env=sim())
    running_pod = _before_upgrade(world, running, recorded=True)
    lost_pod = _before_upgrade(world, lost, recorded=False)
    leftover = _before_upgrade(world, ended, recorded=True)  # ours, but its attempt ended
    world.store.fail_launch(
        world.attempts(ended)[0]["id"], JobState.LAUNCHING, world.now, "gave up", JobState.FAILED
    )
    # old-format pods no attempt of ours recorded: a neighbour's (same name as ours, too) and
    # some other installation's
    twin = _person_pod(world, f"spotsched-{running}-1")
    stranger = _person_pod(world, "spotsched-77-1")

    world.run(20)  # well past launch_grace and orphan_grace

    for job, pod in ((running, running_pod), (lost, lost_pod)):
        assert world.state(job) == "running"
        [attempt] = world.attempts(job)  # managed as it was: no second pod launched
        assert (attempt["pod_id"], attempt["pod_name"]) == (pod, f"spotsched-{job}-1")
    assert world.pod(leftover)["desiredStatus"] == "TERMINATED"  # provably ours: swept
    assert [r.applied.orphans for r in world.reports if r.applied.orphans] == [["orphan"]]
    for theirs in (twin, stranger):
        assert world.pod(theirs)["desiredStatus"] == "RUNNING"

    world.cancel(running)  # and the daemon still acts on the old-format pod it owns
    world.run(2)
    assert world.state(running) == "cancelled"
    assert world.pod(running_pod)["desiredStatus"] == "TERMINATED"
    assert world.pod(twin)["desiredStatus"] == "RUNNING"
