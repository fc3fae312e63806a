"""One bad row never stops the fleet (issue 8, section 1): rows any program can write to the
`jobs` table, read as hostile. A row that cannot be read becomes `invalid` with a reason naming
its column, or, while its pod lives, is held with that pod still managed; every other job is
launched in the same tick. Checked over whole ticks against the emulator, with scenarios and a
Hypothesis property over arbitrary SQLite values in every column."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError

from scheduler.store import jobs as store_jobs
from scheduler.store.jobs import SPEC_COLUMNS

from .conftest import BOTH_BACKENDS, GPU, IMAGE, World, sim

GOOD = {"image": IMAGE, "gpu_types": GPU, "max_spot_price": 0.3, "cloud_type": "SECURE"}


def _insert(world: World, **values: Any) -> int:
    columns = ", ".join(values)
    params = ", ".join(f":{k}" for k in values)
    world.sql(f"INSERT INTO jobs ({columns}) VALUES ({params})", **values)
    (row,) = world.sql("SELECT max(id) FROM jobs")
    return int(row[0])


def _pod_env(world: World, job_id: int) -> dict[str, str]:
    (pod,) = world.job_pods(job_id)
    return dict(world.emu.world.pods[pod["id"]].env)


@BOTH_BACKENDS
def test_env_values_with_commas_newlines_and_secret_references_reach_the_pod(
    world: World,
) -> None:
    """Regression: `NCCL_IB_HCA = "mlx5_0,mlx5_1"` made every tick fail (`env: 'mlx5_1' is not
    KEY=VALUE`), so no job was launched, cancelled or stopped any more."""
    env = {
        "NCCL_IB_HCA": "mlx5_0,mlx5_1",
        "PROMPT": "line one\nline two, with B=c",
        "HF_TOKEN": "{{ RUNPOD_SECRET_hf_token }}",
        "PADDED": "  kept  ",
    }
    job = world.submit("nccl", env=env)
    other = world.submit("other")

    report = world.tick()

    assert report.ok and report.invalid == []
    assert world.state(job) == "launching" and world.state(other) == "launching"
    pod_env = _pod_env(world, job)
    assert {k: pod_env[k] for k in env} == env
    world.run(1)
    assert world.state(job) == "running", "later ticks read the row back too"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("max_spot_price", "cheap"),  # text in a REAL column
        ("deadline", 1767225600),  # a number in a timestamp column
        ("deadline", 1767225600.5),
        ("fallback_after", b"\x00\x01"),  # a blob in a duration column
        ("idle_timeout", "9" * 400),  # a number too large for a float
        ("max_cost", float("inf")),
        ("gpu_types", b"NVIDIA A40"),
        ("checkpoint", b"\x01"),
        ("env", '{"A": ["not", "text"]}'),
        ("env", "{not json"),
        ("priority", 2**62),
    ],
)
def test_a_bad_raw_row_is_invalid_naming_its_column_and_the_others_launch(
    world: World, column: str, value: Any
) -> None:
    good = world.submit("good")
    bad = _insert(world, name="bad", **{**GOOD, column: value})
    also_good = _insert(world, name="also-good", **GOOD)

    report = world.tick()

    assert report.ok, report.errors
    assert [job for job, _ in report.invalid] == [bad]
    detail = world.job(bad)
    assert detail["state"] == "invalid"
    assert detail["reason"].startswith(f"{column}: ")
    assert world.state(good) == "launching" and world.state(also_good) == "launching"
    assert world.store.list_jobs()  # the listing reads every row


@pytest.mark.parametrize(
    ("column", "value"),
    [("deadline", 12345), ("max_spot_price", "cheap"), ("env", "no pair here"), ("spend", "x")],
)
def test_a_queued_row_edited_after_validation_becomes_invalid_and_costs_nothing_else(
    world: World, column: str, value: Any
) -> None:
    world.emu.set_market(GPU, "SECURE", spot_price=0.50)  # nothing launches yet
    edited = world.submit("edited")
    neighbour = world.submit("neighbour")
    world.tick()
    world.sql(f"UPDATE jobs SET {column} = :v WHERE id = :i", v=value, i=edited)
    world.emu.set_market(GPU, "SECURE", spot_price=0.20)

    report = world.run(1)

    assert report.ok, report.errors
    assert [job for job, _ in report.invalid] == [edited]
    assert world.job(edited)["reason"].startswith(f"{column}: ")
    assert world.state(neighbour) == "launching"


def test_a_running_jobs_row_edited_into_garbage_is_held_and_its_pod_stays_managed(
    world: World,
) -> None:
    job = world.submit("edited", env=sim())
    world.tick()
    world.run(1)
    assert world.state(job) == "running"
    spend = world.job(job)["spend"]

    world.sql("UPDATE jobs SET max_spot_price = 'cheap' WHERE id = :i", i=job)
    newcomer = world.submit("newcomer")
    report = world.run(1)

    assert report.ok, report.errors
    assert report.invalid == []
    assert [j for j, _ in report.held] == [job]
    assert report.held[0][1].startswith("max_spot_price: ")
    detail = world.job(job)
    assert detail["state"] == "running"
    assert detail["reason"].startswith("held: row cannot be read: max_spot_price")
    assert [e["kind"] for e in detail["events"]].count("held") == 1
    assert world.state(newcomer) == "launching", "the tick went on for everyone else"

    world.run(8)  # past the orphan grace: the held job's pod is no orphan
    assert [p["desiredStatus"] for p in world.job_pods(job)] == ["RUNNING"]
    assert world.job(job)["spend"] > spend, "its pod is still accounted"
    assert [e["kind"] for e in world.job(job)["events"]].count("held") == 1, "once, not a tick"

    world.cancel(job)
    world.run(1)
    assert world.state(job) == "cancelled", "a held job can still be cancelled"
    assert world.job_pods(job) == []


@BOTH_BACKENDS
def test_held_on_either_database_when_a_running_jobs_env_no_longer_reads(world: World) -> None:
    job = world.submit("env-edit", env=sim())
    world.tick()
    world.run(1)
    world.sql("UPDATE jobs SET env = :e WHERE id = :i", e="no pair here", i=job)
    report = world.run(1)
    assert report.ok and [j for j, _ in report.held] == [job]
    assert world.job(job)["reason"] == "held: row cannot be read: env: item 1 is not KEY=VALUE"
    world.cancel(job)
    world.run(1)
    assert world.state(job) == "cancelled" and world.job_pods(job) == []


def test_after_a_restart_a_held_jobs_pod_is_kept_and_fixing_the_row_resumes_it(
    world: World,
) -> None:
    job = world.submit("edited", env=sim())
    world.tick()
    world.run(1)
    world.sql("UPDATE jobs SET deadline = 12345.5 WHERE id = :i", i=job)
    world.restart()  # no spec of this job in memory any more

    report = world.run(8)
    assert report.ok and [j for j, _ in report.held] == [job]
    assert [p["desiredStatus"] for p in world.job_pods(job)] == ["RUNNING"]
    assert world.state(job) == "running"
    spend = world.job(job)["spend"]

    world.sql("UPDATE jobs SET deadline = NULL WHERE id = :i", i=job)
    report = world.run(1)
    assert report.held == []
    assert world.job(job)["reason"] == "row readable again"
    assert world.job(job)["spend"] > spend, "the ledger catches up on the held time"
    world.cancel(job)
    world.run(1)
    assert world.state(job) == "cancelled"


def test_a_running_job_marked_unchecked_with_a_bad_column_is_held_not_invalid(
    world: World,
) -> None:
    job = world.submit("flipped", env=sim())
    world.tick()
    world.run(1)
    world.sql("UPDATE jobs SET validated = false, max_cost = 'lots' WHERE id = :i", i=job)

    report = world.run(1)

    assert report.ok and report.invalid == []
    assert [j for j, _ in report.held] == [job]
    assert world.state(job) == "running"
    assert world.job(job)["reason"].startswith("held: row cannot be read: max_cost")
    world.sql("UPDATE jobs SET max_cost = NULL, validated = false WHERE id = :i", i=job)
    report = world.run(1)
    assert report.held == [] and world.state(job) == "running"
    assert world.job(job)["events"][-1]["reason"] in ("row accepted", "row readable again")


@pytest.mark.parametrize("state", ["running", "launching", "preempted"])
def test_a_row_inserted_in_a_live_state_without_a_pod_is_queued_and_managed(
    world: World, state: str
) -> None:
    ghost = _insert(world, name="ghost", state=state, **GOOD)
    bad_ghost = _insert(world, name="bad-ghost", state=state, **{**GOOD, "max_spot_price": "x"})

    report = world.tick()

    assert report.ok
    assert world.state(ghost) == "launching", "validated like any other row, then launched"
    assert [j for j, _ in report.invalid] == [bad_ghost]
    assert world.job(bad_ghost)["reason"].startswith("max_spot_price: ")
    world.cancel(ghost)
    world.run(1)
    assert world.state(ghost) == "cancelled"


def test_a_checked_job_in_a_live_state_without_a_pod_is_queued_again(world: World) -> None:
    """A checked row left `running` with no live attempt (inserted so, or a crash between
    ending one pod and creating the next) was a ghost: nothing launched, ended or cancelled it."""
    ghost = _insert(world, name="ghost", state="running", validated=True, **GOOD)
    world.sql("UPDATE jobs SET submitted_at = :t WHERE id = :i", t=world.now, i=ghost)
    report = world.tick()
    assert report.ok and report.invalid == []
    assert world.state(ghost) == "launching"
    assert [(e["from"], e["to"]) for e in world.job(ghost)["events"]][:2] == [
        ("running", "queued"),
        ("queued", "launching"),
    ]


def test_a_gpu_type_the_market_does_not_list_is_held_naming_it(world: World) -> None:
    typo = _insert(world, name="typo", **{**GOOD, "gpu_types": "NVIDIA A4O"})
    display = _insert(world, name="display", **{**GOOD, "gpu_types": "a40"})
    good = world.submit("good")

    report = world.tick()

    assert report.ok and report.invalid == []
    detail = world.job(typo)
    assert detail["state"] == "queued", "held, not invalid: RunPod may list it later"
    assert "not listed by RunPod" in detail["reason"] and "'NVIDIA A4O'" in detail["reason"]
    assert world.state(good) == "launching"
    assert world.state(display) == "launching", "a display name resolves to RunPod's id"
    assert world.attempts(display)[0]["gpu_type_id"] == GPU


@BOTH_BACKENDS
def test_one_live_job_per_name_is_enforced_by_the_database(world: World) -> None:
    first = world.submit("nightly")
    with pytest.raises(store_jobs.NameInUse):
        world.submit("nightly")
    with pytest.raises(IntegrityError, match=r"UNIQUE|unique"):
        _insert(world, name="nightly", **GOOD)
    world.cancel(first)
    world.tick()
    assert world.state(first) == "cancelled"
    again = world.submit("nightly")  # a finished name can run again
    assert again != first and world.state(again) == "queued"


def test_replace_asks_the_live_job_to_cancel_and_queues_the_new_one(world: World) -> None:
    old = world.submit("serve", env=sim())
    world.tick()
    world.run(1)
    new, replaced = world.store.submit_replacing(_spec("serve"), world.now, "cli")
    assert replaced == old
    world.run(1)
    assert world.state(old) == "cancelled" and world.job_pods(old) == []
    assert world.state(new) in ("launching", "running")


def _spec(name: str) -> Any:
    from scheduler.domain.job import parse_job

    return parse_job({"name": name, **GOOD, "gpu_types": [GPU]})


# -- property: arbitrary values in every column ------------------------------------------------

SQLITE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=8),
    st.sampled_from(
        [
            "",
            "1h",
            "-5m",
            GPU,
            "A40",
            "NVIDIA A40:nan",
            "{}",
            '{"A": 1}',
            '{"A": {"b": 2}}',
            "A=1,2",
            "=x",
            "2026-01-01T00:00:00Z",
            "9999-12-31T23:59:59-14:00",
            "true",
            "SECURE",
            "stop",
            "[/bold]",
            "\x1b[31mred",
        ]
    ),
)
LIFECYCLE_COLUMNS = (
    "validated",
    "cancel_requested",
    "submitted_at",
    "queued_since",
    "preemptions",
    "spend",
    "work_seconds",
    "state_reason",
    "source",
)
STATES = st.sampled_from(["queued", "launching", "running", "preempted", "succeeded", "invalid"])
ROWS = st.lists(
    st.tuples(
        st.dictionaries(
            st.sampled_from(tuple(c for c in SPEC_COLUMNS if c != "name") + LIFECYCLE_COLUMNS),
            SQLITE_VALUES,
            max_size=6,
        ),
        STATES,
    ),
    min_size=1,
    max_size=3,
)
_NAMES = itertools.count()
_COLUMN = re.compile(r"^(\w+): ")


@pytest.mark.parametrize("backend", ["sqlite"])
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=ROWS)
def test_no_row_crashes_a_tick_or_keeps_a_good_job_from_launching(
    world: World, rows: list[tuple[dict[str, Any], str]]
) -> None:
    n = next(_NAMES)
    inserted: list[int] = []
    for i, (values, state) in enumerate(rows):
        row = {**GOOD, "name": f"hostile-{n}-{i}", "state": state, **values}
        try:
            inserted.append(_insert(world, **row))
        except IntegrityError:
            continue  # the database itself refused it (NOT NULL, CHECK): nothing to read
    good = world.submit(f"good-{n}")

    report = world.tick()

    assert report.ok, report.errors
    assert world.state(good) == "launching", "no row costs another job its launch"
    for _job, problem in report.invalid:
        match = _COLUMN.match(problem)
        assert match and match.group(1) in (*SPEC_COLUMNS, *LIFECYCLE_COLUMNS, "job", "state")
    for job_id in inserted:  # what `jobs` and `job N --json` read
        json.dumps(world.store.job_detail(job_id), default=str)
    assert world.store.list_jobs()

    world.sql("UPDATE jobs SET cancel_requested = true WHERE state NOT IN ('invalid')")
    assert world.run(2).ok  # cancel everything: hand back the capacity for the next example
    assert world.running_pods() == []


def test_a_deadline_at_the_end_of_time_is_refused_not_an_overflow() -> None:
    """The property's strings include a deadline near the end of time; parsing it must not
    overflow (a plain unit check beside the property)."""
    from scheduler.domain.job import JobInputError, parse_job

    with pytest.raises(JobInputError, match="deadline"):
        parse_job(
            {"name": "x", **GOOD, "deadline": "9999-12-31T23:59:59-14:00"},
        )
    ok = parse_job({"name": "x", **GOOD, "deadline": datetime(2030, 1, 1, tzinfo=UTC)})
    assert ok.deadline == datetime(2030, 1, 1, tzinfo=UTC)


EDITABLE = tuple(c for c in SPEC_COLUMNS if c != "name") + LIFECYCLE_COLUMNS


@pytest.mark.parametrize("backend", ["sqlite"])
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(edits=st.dictionaries(st.sampled_from(EDITABLE), SQLITE_VALUES, min_size=1, max_size=4))
def test_no_edit_of_a_running_jobs_row_loses_its_pod_or_a_tick(
    world: World, edits: dict[str, Any]
) -> None:
    n = next(_NAMES)
    job = world.submit(f"running-{n}", env=sim())
    world.run(2)
    assert world.state(job) == "running"
    (before,) = world.sql("SELECT * FROM jobs WHERE id = :i", i=job)
    for column, value in edits.items():
        try:
            world.sql(f"UPDATE jobs SET {column} = :v WHERE id = :i", v=value, i=job)
        except IntegrityError:
            continue
    newcomer = world.submit(f"newcomer-{n}")

    report = world.run(1)

    assert report.ok, report.errors
    assert world.state(newcomer) == "launching"
    assert [j for j, _ in report.invalid] == [], "a job with a live pod is never made invalid"
    for held, problem in report.held:
        assert held == job
        match = _COLUMN.match(problem)
        assert match and match.group(1) in (*EDITABLE, "job")
    pods = world.job_pods(job)
    if world.state(job) == "running":
        assert [p["desiredStatus"] for p in pods] == ["RUNNING"], "the pod was kept"

    # put the row back as it was, then end both jobs: the next example starts clean
    restore = {k: v for k, v in before._mapping.items() if k in edits}
    sets = ", ".join(f"{k} = :{k}" for k in restore)
    world.sql(f"UPDATE jobs SET {sets} WHERE id = :job_id", job_id=job, **restore)
    world.cancel(job)
    world.cancel(newcomer)
    assert world.run(2).ok
    assert world.running_pods() == []
