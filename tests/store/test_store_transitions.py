"""The state machine as the database enforces it: compare-and-set moves along the domain's
transition table, one event row per move in the same transaction, CHECK constraints and the
one-live-attempt index that refuse impossible rows even from raw SQL."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable
from contextlib import closing
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from scheduler.domain.actions import Launch
from scheduler.domain.clock import VirtualClock
from scheduler.domain.job import JobSpec
from scheduler.domain.states import (
    JOB_TRANSITIONS,
    AttemptKind,
    EndReason,
    IllegalTransition,
    JobOutcome,
    JobState,
)
from scheduler.domain.views import parse_pod_name
from scheduler.store import StaleState, Store
from scheduler.store.tables import JobEventRow, JobRow
from scheduler.store.transitions import move_job

Q, L, R, P = JobState.QUEUED, JobState.LAUNCHING, JobState.RUNNING, JobState.PREEMPTED


def job_state(sql: Any, job_id: int) -> str:
    [(state,)] = sql("SELECT state FROM jobs WHERE id = :i", i=job_id)
    return str(state)


def test_each_move_writes_one_event(
    store: Store, clock: VirtualClock, new_spec: Callable[..., JobSpec], events: Any, sql: Any
) -> None:
    job = store.submit(new_spec(), clock.now())
    clock.advance(30)
    store.move_job(job, Q, JobState.EXPIRED, "waited too long", clock.now())
    assert job_state(sql, job) == "expired"
    assert events(job) == [(None, "queued", "transition"), ("queued", "expired", "transition")]
    [(reason, finished)] = sql("SELECT state_reason, finished_at FROM jobs WHERE id = :i", i=job)
    assert reason == "waited too long" and finished is not None


def test_move_from_a_state_the_job_is_not_in_is_stale_and_writes_nothing(
    store: Store, clock: VirtualClock, new_spec: Callable[..., JobSpec], events: Any, sql: Any
) -> None:
    job = store.submit(new_spec(), clock.now())
    with pytest.raises(StaleState, match=f"job {job} is no longer running"):
        store.move_job(job, R, JobState.SUCCEEDED, "done", clock.now(), JobOutcome.COMPLETED)
    assert job_state(sql, job) == "queued"
    assert len(events(job)) == 1
    with pytest.raises(StaleState):
        store.move_job(job + 1000, Q, JobState.CANCELLED, "no such job", clock.now())


def test_an_edge_missing_from_the_table_is_illegal(
    store: Store, clock: VirtualClock, new_spec: Callable[..., JobSpec], events: Any, sql: Any
) -> None:
    job = store.submit(new_spec(), clock.now())
    with pytest.raises(IllegalTransition, match="job cannot go from queued to succeeded"):
        store.move_job(job, Q, JobState.SUCCEEDED, "skipping ahead", clock.now())
    store.move_job(job, Q, JobState.CANCELLED, "user", clock.now())
    for target in JobState:
        with pytest.raises(IllegalTransition):  # terminal states never change
            store.move_job(job, JobState.CANCELLED, target, "again", clock.now())
    assert job_state(sql, job) == "cancelled"
    assert len(events(job)) == 2


def test_a_failing_transaction_leaves_neither_state_nor_event(
    store: Store, clock: VirtualClock, new_spec: Callable[..., JobSpec], events: Any, sql: Any
) -> None:
    job = store.submit(new_spec(), clock.now())

    class Boom(Exception):
        pass

    def cancel_then_fail() -> None:
        with store.session() as s:
            move_job(s, job, Q, JobState.CANCELLED, "user", clock.now())
            s.flush()  # the UPDATE and the event INSERT have reached the database
            raise Boom

    with pytest.raises(Boom):
        cancel_then_fail()
    assert job_state(sql, job) == "queued"
    assert len(events(job)) == 1


def test_a_launch_that_fails_midway_leaves_no_attempt(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Launch],
    events: Any,
    sql: Any,
) -> None:
    """begin_attempt inserts the attempt, then moves the job; a stale move undoes both."""
    job = store.submit(new_spec(), clock.now())
    with pytest.raises(StaleState):
        store.begin_attempt(new_launch(job, from_state=P), clock.now())
    assert sql("SELECT count(*) FROM attempts") == [(0,)]
    assert job_state(sql, job) == "queued" and len(events(job)) == 1


def test_begin_attempt_names_and_numbers_pods(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Launch],
    events: Any,
) -> None:
    job = store.submit(new_spec(), clock.now())
    other = store.submit(new_spec("other"), clock.now())
    first = store.begin_attempt(new_launch(job, gpu_count=2, bid=0.25), clock.now())
    ours = store.installation(clock.now())  # the pod names carry this database's id
    assert (first.number, first.pod_name, first.state) == (
        1,
        f"spotsched-{ours}-{job}-1",
        "launching",
    )
    assert parse_pod_name(first.pod_name) == (job, 1)
    assert first.kind is AttemptKind.SPOT and first.cost_per_hr == pytest.approx(0.5)
    assert first.created_at == clock.now() and first.pod_id is None
    assert events(job)[-1] == ("queued", "launching", "transition")

    clock.advance(20)
    store.fail_launch(first.id, L, clock.now(), "no capacity")
    second = store.begin_attempt(new_launch(job, kind=AttemptKind.ON_DEMAND), clock.now())
    assert (second.number, second.pod_name) == (2, f"spotsched-{ours}-{job}-2")
    assert second.kind is AttemptKind.ON_DEMAND and second.bid_per_gpu is None
    third = store.begin_attempt(new_launch(other), clock.now())
    assert third.pod_name == f"spotsched-{ours}-{other}-1"

    [view] = [v for v in store.load(clock.now())[0] if v.id == job]
    assert view.state is L and view.live is not None and view.live.id == second.id


def test_attempt_lifecycle_moves_job_and_attempt_together(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Launch],
    events: Any,
    sql: Any,
) -> None:
    job = store.submit(new_spec(), clock.now())
    attempt = store.begin_attempt(new_launch(job), clock.now())
    assert store.set_pod(attempt.id, "pod-a", 0.3, "EU-RO-1", clock.now()) is False
    store.mark_running(attempt.id, L, clock.now())
    clock.advance(600)
    store.mark_preempted(attempt.id, R, clock.now())
    store.resume_started(attempt.id, P, 0.35, clock.now())
    store.mark_running(attempt.id, L, clock.now())
    clock.advance(600)
    store.end_attempt(attempt.id, EndReason.COMPLETED, R, JobState.SUCCEEDED, clock.now(), "exit 0")

    assert [e[:2] for e in events(job)] == [
        (None, "queued"),
        ("queued", "launching"),
        ("launching", "running"),
        ("running", "preempted"),
        ("preempted", "launching"),
        ("launching", "running"),
        ("running", "succeeded"),
    ]
    [(state, reason, pod, cost_per_hr)] = sql(
        "SELECT state, end_reason, pod_id, cost_per_hr FROM attempts WHERE id = :i", i=attempt.id
    )
    assert (state, reason, pod, cost_per_hr) == ("ended", "completed", "pod-a", 0.35)
    assert sql("SELECT preemptions FROM jobs WHERE id = :i", i=job) == [(1,)]
    with pytest.raises(IllegalTransition):
        store.mark_running(attempt.id, JobState.SUCCEEDED, clock.now())


def test_overbid_is_flagged_and_noted(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Launch],
    events: Any,
) -> None:
    job = store.submit(new_spec(), clock.now())
    attempt = store.begin_attempt(new_launch(job, bid=0.3), clock.now())
    assert store.set_pod(attempt.id, "pod-a", 0.42, None, clock.now()) is True
    assert events(job)[-1] == (None, None, "overbid")


def test_database_refuses_an_unknown_state_even_from_raw_sql(
    store: Store, clock: VirtualClock, new_spec: Callable[..., JobSpec], engine: Engine
) -> None:
    job = store.submit(new_spec(), clock.now())
    with pytest.raises(IntegrityError, match="ck_jobs_state_valid"), engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET state = 'bogus' WHERE id = :i"), {"i": job})
    if engine.dialect.name == "sqlite":  # and from a program that is not SQLAlchemy
        assert engine.url.database is not None
        with (
            closing(sqlite3.connect(engine.url.database)) as db,
            db,
            pytest.raises(sqlite3.IntegrityError, match="ck_jobs_state_valid"),
        ):
            db.execute("UPDATE jobs SET state = 'bogus' WHERE id = ?", (job,))


ATTEMPT_SQL = (
    "INSERT INTO attempts (job_id, number, kind, state, gpu_type_id, gpu_count, pod_name,"
    " created_at, resume_failures, overbid, billing, runtime_up, cost, counterfactual,"
    " running_seconds, segment_cost, waste)"
    " VALUES (:job, :n, 'spot', :state, 'NVIDIA A40', 1, :pod, :at,"
    " 0, false, false, false, 0, 0, 0, 0, 0)"
)


def test_database_allows_one_live_attempt_per_job(
    store: Store, clock: VirtualClock, new_spec: Callable[..., JobSpec], engine: Engine, sql: Any
) -> None:
    job = store.submit(new_spec(), clock.now())
    at = clock.now()
    sql(ATTEMPT_SQL, job=job, n=1, state="running", pod="p1", at=at)
    with pytest.raises(IntegrityError, match=r"ux_attempts_one_live_per_job|attempts\.job_id"):
        sql(ATTEMPT_SQL, job=job, n=2, state="launching", pod="p2", at=at)
    with pytest.raises(IntegrityError, match="ck_attempts_state_valid"):
        sql(ATTEMPT_SQL, job=job, n=2, state="zombie", pod="p2", at=at)

    sql("UPDATE attempts SET state = 'ended' WHERE job_id = :job", job=job)
    sql(ATTEMPT_SQL, job=job, n=2, state="launching", pod="p2", at=at)
    sql(ATTEMPT_SQL, job=job, n=3, state="ended", pod="p3", at=at)  # ended ones may pile up
    rows = sql("SELECT number, state FROM attempts WHERE job_id = :job ORDER BY number", job=job)
    assert [tuple(r) for r in rows] == [(1, "ended"), (2, "launching"), (3, "ended")]


def test_begin_attempt_while_one_is_live_is_refused(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Launch],
    events: Any,
) -> None:
    job = store.submit(new_spec(), clock.now())
    store.begin_attempt(new_launch(job), clock.now())
    with pytest.raises(IntegrityError):
        store.begin_attempt(new_launch(job, from_state=P), clock.now())
    assert len(events(job)) == 2


# -- property: the store is exactly the transition table, applied by compare-and-set ---------

ANY_STATE = st.sampled_from(JobState)
_EXAMPLES = itertools.count()


@pytest.mark.parametrize(
    "outcome", [None, *sorted(set(JobOutcome) - {JobOutcome.COMPLETED, JobOutcome.IDLE})]
)
def test_a_job_succeeds_only_with_an_outcome_that_says_its_work_finished(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    sql: Any,
    outcome: JobOutcome | None,
) -> None:
    job = store.submit(new_spec(), clock.now())
    store.move_job(job, Q, JobState.LAUNCHING, "launch", clock.now())
    with pytest.raises(IllegalTransition, match="succeeds only when its work finished"):
        store.move_job(job, JobState.LAUNCHING, JobState.SUCCEEDED, "?", clock.now(), outcome)
    store.move_job(job, JobState.LAUNCHING, JobState.FAILED, "max_cost", clock.now(), outcome)
    assert job_state(sql, job) == "failed"
    (recorded,) = sql("SELECT outcome FROM jobs WHERE id = :j", j=job)
    assert recorded[0] == (outcome.value if outcome is not None else None)


@settings(
    max_examples=25,
    deadline=None,
    # One database serves every example; each example works on a job of its own.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), steps=st.integers(min_value=0, max_value=12))
def test_any_sequence_of_moves_keeps_state_and_events_in_step(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    sql: Any,
    data: st.DataObject,
    steps: int,
) -> None:
    # one database serves every example: a fresh name each time (one live job per name)
    job = store.submit(new_spec(f"train-{next(_EXAMPLES)}"), clock.now())
    state, succeeded = Q, 0
    for _ in range(steps):
        # Half the attempts name the state the job is in (as a fresh snapshot would), half a
        # stale or arbitrary one; targets are drawn from the legal edges or from anywhere.
        old = data.draw(st.one_of(st.just(state), ANY_STATE), label="from")
        legal = sorted(JOB_TRANSITIONS[old])
        new = data.draw(st.one_of(st.sampled_from(legal), ANY_STATE) if legal else ANY_STATE)
        clock.advance(1)
        try:
            store.move_job(job, old, new, "property", clock.now(), JobOutcome.COMPLETED)
        except IllegalTransition:
            assert new not in JOB_TRANSITIONS[old]
        except StaleState:
            assert new in JOB_TRANSITIONS[old] and old is not state
        else:
            assert new in JOB_TRANSITIONS[old] and old is state
            state, succeeded = new, succeeded + 1
        assert job_state(sql, job) == state.value
    rows = sql("SELECT from_state, to_state FROM job_events WHERE job_id = :j ORDER BY id", j=job)
    assert len(rows) == 1 + succeeded
    chain = [r[1] for r in rows]
    assert all(r[0] == prev for r, prev in zip(rows[1:], chain, strict=False))
    assert chain[-1] == state.value


def test_moves_are_stamped_with_the_injected_time(
    store: Store, clock: VirtualClock, new_spec: Callable[..., JobSpec]
) -> None:
    submitted = clock.now()
    job = store.submit(new_spec(), submitted)
    later = clock.advance(3600)
    store.move_job(job, Q, JobState.CANCELLED, "user", later)
    with store.session() as s:
        row = s.get(JobRow, job)
        assert row is not None
        assert (row.submitted_at, row.updated_at, row.finished_at) == (submitted, later, later)
        assert row.finished_at is not None and row.finished_at.tzinfo is not None
        at = s.exec(select(JobEventRow.at).where(JobEventRow.job_id == job)).all()
        assert at == [submitted, later]


def test_a_failed_launch_does_not_restart_the_wait_for_spot(store, clock, new_spec, new_launch):
    """`fallback_after` counts from the first queueing: if spot creates keep failing (stock is
    advisory), the job must still reach its on-demand fallback in time."""
    submitted = clock.now()
    job_id = store.submit(new_spec(name="waits"), submitted)
    for _ in range(3):
        clock.advance(600)
        attempt = store.begin_attempt(new_launch(job_id), clock.now())
        store.fail_launch(attempt.id, JobState.LAUNCHING, clock.now(), "no instances available")
    clock.advance(600)
    attempt = store.begin_attempt(new_launch(job_id), clock.now())
    clock.advance(120)
    store.end_attempt(
        attempt.id,
        EndReason.LAUNCH_FAILED,
        JobState.LAUNCHING,
        JobState.QUEUED,
        clock.now(),
        "no pod appeared",
    )
    (job,) = store.load(clock.now())[0]
    assert job.state is JobState.QUEUED
    assert job.queued_since == submitted
