"""Scenarios 10 and 11: jobs inserted as raw SQL rows by other programs are validated on the
next tick (launched, or marked `invalid` with a readable reason, without disturbing the
others); and a tick costs a constant number of RunPod requests however many jobs wait."""

from __future__ import annotations

import pytest

from .conftest import FLOOR, GPU, IMAGE, World, expected_bid


def _insert(world: World, **values: object) -> int:
    columns = ", ".join(values)
    params = ", ".join(f":{k}" for k in values)
    world.sql(f"INSERT INTO jobs ({columns}) VALUES ({params})", **values)
    (row,) = world.sql("SELECT max(id) FROM jobs")
    return int(row[0])


def test_raw_sql_row_is_validated_and_launched_on_the_next_tick(world: World) -> None:
    job = _insert(world, name="from-sql", image=IMAGE, gpu_types=GPU, max_spot_price=0.3)
    assert world.sql("SELECT validated, state FROM jobs WHERE id = :i", i=job) == [
        (False, "queued")
    ]

    report = world.tick()

    assert report.invalid == []
    detail = world.job(job)
    assert detail["state"] == "launching"
    assert detail["source"] == "sql"
    assert detail["spec"]["cloud_type"] == "ALL" and detail["spec"]["idle_timeout"] == 600
    (attempt,) = detail["attempts"]
    assert attempt["bid_per_gpu"] == pytest.approx(expected_bid(FLOOR))
    (pod,) = world.pods()
    assert pod["name"] == world.pod_name(job, 1)
    assert pod["cloudType"] == "SECURE"  # the cheaper of the two clouds it accepts
    world.run(1)
    assert world.state(job) == "running"


def test_bad_raw_row_becomes_invalid_with_a_reason_and_others_still_run(world: World) -> None:
    good = world.submit("good")
    bad = _insert(world, name="bad name!", image=IMAGE, gpu_types="", max_spot_price=-1)
    also_good = _insert(world, name="also-good", image=IMAGE, gpu_types=GPU, max_spot_price=0.3)

    report = world.tick()

    assert [job for job, _ in report.invalid] == [bad]
    detail = world.job(bad)
    assert detail["state"] == "invalid"
    reason = detail["reason"]
    assert "name: use 1-63 letters, digits" in reason
    assert "gpu_types: name at least one GPU type" in reason
    assert "max_spot_price: " in reason and "greater than 0" in reason
    assert detail["attempts"] == []
    assert world.state(good) == "launching"
    assert world.state(also_good) == "launching"
    world.run(2)
    assert world.state(bad) == "invalid"  # terminal: checked once, never launched
    assert len(world.pods()) == 2


@pytest.mark.parametrize("queued", [1, 25])
def test_requests_per_tick_do_not_grow_with_the_queue(world: World, queued: int) -> None:
    world.emu.set_market(GPU, "SECURE", spot_price=0.50)  # nothing can launch
    for i in range(queued):
        world.submit(f"waiting-{i}")
    world.tick()

    per_tick = []
    for _ in range(6):  # 6 minutes: includes a full market sample (every 300 s)
        before = world.requests()
        world.run(1)
        per_tick.append(world.requests() - before)

    assert per_tick == [2] * 6  # one market poll, one pod list
    by_op = world.emu.state()["requests"]["byOperation"]
    assert set(by_op) == {"Market", "ListPods"}


def test_requests_per_tick_with_running_jobs_and_nothing_to_launch(world: World) -> None:
    for i in range(5):
        world.submit(f"busy-{i}")
    world.tick()
    world.run(1)
    assert len(world.running_pods()) == 5

    before = world.requests()
    world.run(5)

    assert world.requests() - before == 2 * 5
    assert len(world.running_pods()) == 5
