"""Jobs in: submit, upsert by name, cancel intents, and rows other programs insert with SQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from scheduler.domain.clock import VirtualClock
from scheduler.domain.job import GpuChoice, JobSpec
from scheduler.domain.states import CloudType, JobState, OnIdle
from scheduler.domain.views import JobView
from scheduler.store import JobNotFound, Store


def raw_insert(engine: Engine, **values: Any) -> None:
    """Queue a job as any other program would: plain SQL, outside SQLAlchemy for SQLite files."""
    columns = ", ".join(values)
    if engine.dialect.name == "sqlite":
        assert engine.url.database is not None
        marks = ", ".join("?" for _ in values)
        with closing(sqlite3.connect(engine.url.database)) as db, db:
            db.execute(f"INSERT INTO jobs ({columns}) VALUES ({marks})", tuple(values.values()))
        return
    marks = ", ".join(f":{k}" for k in values)
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO jobs ({columns}) VALUES ({marks})"), values)


def jobs_by_name(store: Store, now: datetime) -> dict[str, JobView]:
    views, _, _ = store.load(now)
    return {v.spec.name: v for v in views}


def test_submit_then_load_reads_back_the_same_spec(
    store: Store, clock: VirtualClock, new_spec: Callable[..., JobSpec], events: Any
) -> None:
    deadline = datetime(2026, 1, 6, 12, tzinfo=UTC)
    spec = new_spec(
        "finetune",
        gpu_count=2,
        cloud_type="secure",
        command="python train.py --epochs 3",
        env={"WANDB_MODE": "offline", "SEED": "7"},
        fallback_after="30m",
        max_preemptions=3,
        deadline=deadline,
        estimated_runtime="4h",
        priority=5,
        ports="8888/http",
        network_volume_id="vol-1",
        on_idle="stop",
        max_cost=25.0,
        checkpoint=True,
    )
    now = clock.now()
    job_id = store.submit(spec, now, source="cli")

    clock.advance(60)
    [view] = store.load(clock.now())[0]
    assert view.id == job_id
    assert view.spec == spec
    assert view.spec.deadline == deadline and view.spec.deadline.tzinfo is not None
    assert view.state is JobState.QUEUED
    assert view.submitted_at == now and view.queued_since == now
    assert not view.cancel_requested and view.live is None
    assert (view.spend, view.work_seconds, view.preemptions) == (0.0, 0.0, 0)
    assert events(job_id) == [(None, "queued", "transition")]


def test_load_leaves_out_finished_jobs(
    store: Store, clock: VirtualClock, new_spec: Callable[..., JobSpec]
) -> None:
    done = store.submit(new_spec("done"), clock.now())
    store.submit(new_spec("waiting"), clock.now())
    store.move_job(done, JobState.QUEUED, JobState.CANCELLED, "user", clock.now())
    assert set(jobs_by_name(store, clock.now())) == {"waiting"}


def test_upsert_creates_updates_or_keeps_by_name(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Any],
    events: Any,
) -> None:
    now = clock.now()
    [(a, created)] = store.upsert([new_spec("a")], now, "file")
    assert created == "created"
    assert store.upsert([new_spec("a")], now, "file") == [(a, "unchanged")]

    cheaper = new_spec("a", max_spot_price=0.35)
    clock.advance(10)
    assert store.upsert([cheaper], clock.now(), "file") == [(a, "updated")]
    assert jobs_by_name(store, clock.now())["a"].spec == cheaper
    assert events(a)[-1] == (None, None, "updated")

    store.begin_attempt(new_launch(a), clock.now())
    assert store.upsert([new_spec("a", max_spot_price=0.9)], clock.now(), "file") == [(a, "kept")]
    assert jobs_by_name(store, clock.now())["a"].spec == cheaper, "a started job keeps its spec"
    assert store.upsert([cheaper], clock.now(), "file") == [(a, "unchanged")]

    result = store.upsert([new_spec("b"), new_spec("a", priority=9)], clock.now(), "file")
    [(b, status_b), (a_again, status_a)] = result
    assert (status_b, a_again, status_a) == ("created", a, "kept")
    assert store.job_ids_named("b") == [b]


def test_upsert_is_all_or_nothing(
    store: Store, clock: VirtualClock, new_spec: Callable[..., JobSpec], sql: Any
) -> None:
    # A spec built around parse_job, so that only the database's CHECK refuses it.
    refused = JobSpec("zero-gpus", "img", (GpuChoice("NVIDIA A40"),), 0.4, gpu_count=0)
    with pytest.raises(IntegrityError, match="ck_jobs_gpu_count_positive"):
        store.upsert([new_spec("first"), refused], clock.now(), "file")
    assert sql("SELECT count(*) FROM jobs") == [(0,)]
    assert sql("SELECT count(*) FROM job_events") == [(0,)]


def test_request_cancel_records_intent_once(
    store: Store, clock: VirtualClock, new_spec: Callable[..., JobSpec], events: Any
) -> None:
    job = store.submit(new_spec(), clock.now())
    assert store.request_cancel(job, clock.now()) is JobState.QUEUED
    assert store.request_cancel(job, clock.now()) is JobState.QUEUED
    view = jobs_by_name(store, clock.now())["train"]
    assert view.cancel_requested and view.state is JobState.QUEUED, "intent, not a state"
    assert [e for e in events(job) if e[2] == "cancel_requested"] == [
        (None, None, "cancel_requested")
    ]

    finished = store.submit(new_spec("finished"), clock.now())
    store.move_job(finished, JobState.QUEUED, JobState.EXPIRED, "too late", clock.now())
    assert store.request_cancel(finished, clock.now()) is JobState.EXPIRED
    assert [e[2] for e in events(finished)] == ["transition", "transition"]

    with pytest.raises(JobNotFound):
        store.request_cancel(10_000, clock.now())


def test_minimal_raw_insert_is_validated_with_every_default(
    engine: Engine, store: Store, clock: VirtualClock, events: Any
) -> None:
    raw_insert(
        engine,
        name="raw-job",
        image="ghcr.io/acme/infer:2",
        gpu_types="NVIDIA A40:1.5, NVIDIA RTX A5000",
        max_spot_price=0.45,
    )
    assert store.load(clock.now())[0] == [], "an unchecked row is not scheduled"

    clock.advance(5)
    assert store.validate_pending(clock.now()) == []
    [view] = store.load(clock.now())[0]
    spec = view.spec
    assert spec.gpu_types == (GpuChoice("NVIDIA A40", 1.5), GpuChoice("NVIDIA RTX A5000"))
    assert spec.max_spot_price == 0.45
    assert spec == JobSpec(
        name="raw-job",
        image="ghcr.io/acme/infer:2",
        gpu_types=spec.gpu_types,
        max_spot_price=0.45,
    ), "every other column took the spec's default"
    assert (spec.gpu_count, spec.cloud_type, spec.on_idle) == (1, CloudType.ALL, OnIdle.TERMINATE)
    assert (spec.idle_timeout, spec.container_disk_gb, spec.checkpoint) == (600.0, 20, False)
    assert view.state is JobState.QUEUED and not view.cancel_requested
    assert view.submitted_at == clock.now() == view.queued_since
    assert events(view.id) == [(None, "queued", "transition")]
    assert store.validate_pending(clock.now()) == [], "a checked row is not checked again"


def test_raw_insert_with_optional_columns_as_text(
    engine: Engine, store: Store, clock: VirtualClock
) -> None:
    raw_insert(
        engine,
        name="nightly",
        image="img",
        gpu_types="NVIDIA A40",
        max_spot_price=0.4,
        max_on_demand_price=1.1,
        cloud_type="COMMUNITY",
        env="A=1\nB=two",
        fallback_after=1800,
        deadline=datetime(2026, 1, 7, tzinfo=UTC),
        on_idle="stop",
        checkpoint=True,
        source="airflow",
    )
    assert store.validate_pending(clock.now()) == []
    spec = jobs_by_name(store, clock.now())["nightly"].spec
    assert spec.env == (("A", "1"), ("B", "two"))
    assert spec.cloud_type is CloudType.COMMUNITY and spec.on_idle is OnIdle.STOP
    assert spec.deadline == datetime(2026, 1, 7, tzinfo=UTC)
    assert (spec.fallback_after, spec.max_on_demand_price, spec.checkpoint) == (1800.0, 1.1, True)


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("max_spot_price", 0, "greater than 0"),
        ("name", "has spaces!", "letters, digits"),
        ("gpu_types", " , ", "at least one GPU type"),
        ("env", "NOT_A_PAIR", "KEY=VALUE"),
        ("gpu_count", 64, "less than or equal to 16"),
    ],
)
def test_bad_raw_row_becomes_invalid_with_a_readable_reason(
    engine: Engine,
    store: Store,
    clock: VirtualClock,
    events: Any,
    sql: Any,
    column: str,
    value: Any,
    words: str,
) -> None:
    good = {"name": "good", "image": "img", "gpu_types": "NVIDIA A40", "max_spot_price": 0.4}
    raw_insert(engine, **good)
    raw_insert(engine, **{**good, "name": "bad", column: value})

    [(bad_id, problem)] = store.validate_pending(clock.now())
    assert problem.startswith(f"{column}: ") and words in problem
    [(state, reason, validated)] = sql(
        "SELECT state, state_reason, validated FROM jobs WHERE id = :i", i=bad_id
    )
    assert (state, reason, bool(validated)) == ("invalid", problem, True)
    assert events(bad_id) == [("queued", "invalid", "transition")]
    # the daemon's reads and the user's intents keep working around the bad row
    assert set(jobs_by_name(store, clock.now())) == {"good"}
    assert store.request_cancel(bad_id, clock.now()) is JobState.INVALID
    assert store.validate_pending(clock.now() + timedelta(seconds=5)) == []


@pytest.mark.parametrize("backend", ["sqlite"])
def test_unparseable_deadline_text_is_invalid_and_nulled(
    engine: Engine, store: Store, clock: VirtualClock, sql: Any
) -> None:
    """SQLite stores any text in a DATETIME column; that must not crash the daemon's reads."""
    raw_insert(
        engine,
        name="when",
        image="img",
        gpu_types="NVIDIA A40",
        max_spot_price=0.4,
        deadline="next tuesday",
    )
    [(job_id, problem)] = store.validate_pending(clock.now())
    assert problem.startswith("deadline: ") and "'next tuesday'" in problem
    assert sql("SELECT deadline, state FROM jobs WHERE id = :i", i=job_id) == [(None, "invalid")]
    assert store.load(clock.now())[0] == []
    assert store.request_cancel(job_id, clock.now()) is JobState.INVALID


def test_raw_row_with_an_impossible_enum_is_refused_by_the_database(engine: Engine) -> None:
    with pytest.raises((sqlite3.IntegrityError, IntegrityError), match="ck_jobs_on_idle_valid"):
        raw_insert(
            engine,
            name="x",
            image="img",
            gpu_types="NVIDIA A40",
            max_spot_price=0.4,
            on_idle="hibernate",
        )


@pytest.mark.parametrize("backend", ["sqlite"])
def test_junk_in_a_timestamp_column_does_not_poison_the_queue(
    engine: Engine, store: Store, clock: VirtualClock
) -> None:
    """Regression: SQLite kept 'yesterday' in submitted_at, and every ORM read of that row (so
    every validate_pending, hence every tick) failed, holding back all other raw rows."""
    good = {"image": "img", "gpu_types": "NVIDIA A40", "max_spot_price": 0.4}
    raw_insert(engine, name="junk-stamp", submitted_at="yesterday", **good)
    raw_insert(engine, name="neighbour", **good)
    [junk] = store.job_ids_named("junk-stamp")
    assert store.request_cancel(junk, clock.now()) is JobState.QUEUED
    assert store.validate_pending(clock.now()) == []
    views = jobs_by_name(store, clock.now())
    assert set(views) == {"junk-stamp", "neighbour"}
    assert views["junk-stamp"].submitted_at == clock.now(), "the junk was replaced"
    assert views["junk-stamp"].cancel_requested


def test_holds_are_shown_on_queued_jobs_without_events(
    engine: Engine,
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    events: Any,
    sql: Any,
) -> None:
    submitted = store.submit(new_spec("submitted"), clock.now())
    raw_insert(engine, name="raw", image="img", gpu_types="NVIDIA A40", max_spot_price=0.4)
    store.validate_pending(clock.now())
    [raw] = store.job_ids_named("raw")
    done = store.submit(new_spec("done"), clock.now())
    store.move_job(done, JobState.QUEUED, JobState.CANCELLED, "user", clock.now())
    before = {j: len(events(j)) for j in (submitted, raw, done)}

    hold = "waiting for spot under $0.50/GPU/h"
    store.set_hold({submitted: hold, raw: hold, done: hold}, clock.now())
    reasons = dict(sql("SELECT id, state_reason FROM jobs"))
    # a raw row's reason starts out NULL, which `!=` alone would never match
    assert reasons == {submitted: hold, raw: hold, done: "user"}
    assert {j: len(events(j)) for j in (submitted, raw, done)} == before


def test_upsert_over_an_invalid_row_creates_the_job_anew(
    engine: Engine, store: Store, clock: VirtualClock, new_spec: Callable[..., JobSpec]
) -> None:
    """Regression: upsert re-parsed the invalid row to compare specs and raised its error."""
    raw_insert(engine, name="fixme", image="img", gpu_types="NVIDIA A40", max_spot_price=0)
    [(bad, _)] = store.validate_pending(clock.now())
    fixed = new_spec("fixme")
    [(job, status)] = store.upsert([fixed], clock.now(), "file")
    assert status == "created" and job != bad
    assert jobs_by_name(store, clock.now())["fixme"].spec == fixed
    assert store.upsert([fixed], clock.now(), "file") == [(job, "unchanged")]
    assert store.job_ids_named("fixme") == [bad, job]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_upsert_over_a_row_edited_into_garbage_rewrites_it(
    store: Store, clock: VirtualClock, new_spec: Callable[..., JobSpec], sql: Any
) -> None:
    """A file sync (SIGHUP) compared the file's spec with the row's and raised the row's error,
    so one garbled row made every reload of the jobs file fail."""
    [(job, _)] = store.upsert([new_spec("synced")], clock.now(), "file")
    sql("UPDATE jobs SET max_spot_price = 'cheap', env = 'no pair' WHERE id = :i", i=job)
    assert store.upsert([new_spec("synced")], clock.now(), "file") == [(job, "updated")]
    assert jobs_by_name(store, clock.now())["synced"].spec == new_spec("synced")


def test_a_pending_row_takes_a_name_only_while_no_live_job_has_it(
    engine: Engine, store: Store, clock: VirtualClock, new_spec: Callable[..., JobSpec]
) -> None:
    """Names are compared as the daemon will store them: ' twin ' is 'twin'."""
    live = store.submit(new_spec("twin"), clock.now())
    raw_insert(engine, name=" twin ", image="img", gpu_types="NVIDIA A40", max_spot_price=0.4)
    [(bad, problem)] = store.validate_pending(clock.now())
    assert problem == f"name: job {live} is live with the name 'twin'"
    assert bad != live and store.job_detail(bad)["state"] == "invalid"
