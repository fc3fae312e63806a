"""`Store`: the one object the reconciler and CLI use to read and write the database.

Each public method is one transaction. The engine is injected (`engine.open_engine`), so tests
run on real SQLite files and a real PostgreSQL server.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, or_, update
from sqlmodel import Session, col, select

from scheduler.domain.actions import Launch
from scheduler.domain.job import JobSpec
from scheduler.domain.states import (
    TERMINAL_JOB_STATES,
    EndReason,
    JobOutcome,
    JobState,
    PodCall,
)
from scheduler.domain.views import AttemptView, JobView, Money, Quote, SpotHistory
from scheduler.store import attempts, installation, jobs, ledger, prices, reports, row_checks, views
from scheduler.store.ledger import Observation
from scheduler.store.tables import JobEventRow, JobRow
from scheduler.store.transitions import miss_deadline, move_job

_IDS_PER_STATEMENT = 500
"""Bound parameters per `IN (...)`: far under SQLite's and PostgreSQL's limits."""


class TickStart(NamedTuple):
    """What a tick starts from: rows made invalid and rows held (job id, problem naming the
    column), then the open jobs, money and spot history."""

    invalid: list[tuple[int, str]]
    held: list[tuple[int, str]]
    jobs: list[JobView]
    money: Money
    history: SpotHistory


class JobNotFound(LookupError):
    """No job has that id."""


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._specs = views.SpecCache()  # open jobs' parsed specs, across ticks
        self._installation: str | None = None  # never changes once read
        self._held: set[int] = set()  # jobs held on the last tick (their row did not read)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    # -- submissions and intents -------------------------------------------------------------
    def submit(self, spec: JobSpec, now: datetime, source: str = "cli") -> int:
        """Queue a new job; `jobs.NameInUse` if a live job has its name."""
        with self.session() as s:
            return jobs.submit_job(s, spec, now, source)[0]

    def submit_replacing(self, spec: JobSpec, now: datetime, source: str) -> tuple[int, int | None]:
        """Queue a new job and ask the live job of that name, if any, to cancel (its id is
        returned beside the new one), in one transaction."""
        with self.session() as s:
            return jobs.submit_job(s, spec, now, source, replace=True)

    def upsert(self, specs: Iterable[JobSpec], now: datetime, source: str) -> list[tuple[int, str]]:
        """Upsert several jobs by name, all or nothing."""
        with self.session() as s:
            return [jobs.upsert_job(s, spec, now, source) for spec in specs]

    def request_cancel(self, job_id: int, now: datetime) -> JobState:
        with self.session() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                raise JobNotFound(f"no job {job_id}")
            state = JobState(row.state)
            if state not in TERMINAL_JOB_STATES and not row.cancel_requested:
                row.cancel_requested = True
                row.updated_at = now
                s.add(row)
                s.add(
                    JobEventRow(
                        job_id=job_id, at=now, kind="cancel_requested", reason="cancel requested"
                    )
                )
            return state

    def validate_pending(self, now: datetime) -> list[tuple[int, str]]:
        with self.session() as s:
            return row_checks.validate_pending(s, now)

    # -- the tick's reads --------------------------------------------------------------------
    def load(self, now: datetime) -> tuple[list[JobView], Money, SpotHistory]:
        with self.session() as s:
            return self._views(s, now)

    def _views(self, s: Session, now: datetime) -> tuple[list[JobView], Money, SpotHistory]:
        return views.load_jobs(s, self._specs)[0], views.money(s, now), views.spot_history(s)

    def begin_tick(self, now: datetime) -> TickStart:
        """`validate_pending` then `load`, in one transaction (a tick starts with both); rows
        that cannot be read become invalid, or are held while their pod lives."""
        with self.session() as s:
            invalid = row_checks.validate_pending(s, now)
            s.flush()  # the views read plain columns, past the ORM's autoflush
            loaded, unreadable, requeued = views.load_jobs(s, self._specs)
            for job_id, state in requeued:
                move_job(s, job_id, state, JobState.QUEUED, f"was {state} with no pod", now)
            held: list[tuple[int, str]] = []
            for bad in unreadable:
                outcome = row_checks.reject_row(
                    s, bad.job_id, bad.state, bad.live, bad.problem, now
                )
                (held if outcome == "held" else invalid).append((bad.job_id, bad.problem))
            row_checks.clear_holds(s, self._held - {job_id for job_id, _ in held}, now)
            self._held = {job_id for job_id, _ in held}
            return TickStart(invalid, held, loaded, views.money(s, now), views.spot_history(s))

    def kept_pods(self, names: list[str]) -> frozenset[str]:
        with self.session() as s:
            return views.kept_pods(s, names)

    def installation(self, now: datetime) -> str:
        """This database's installation id (created if missing): it names and owns our pods."""
        if self._installation is None:
            with self.session() as s:
                self._installation = installation.installation_id(s, now)
        return self._installation

    def recorded_pods(self, pod_ids: Iterable[str]) -> frozenset[str]:
        """Of these pod ids, those an attempt of this database recorded."""
        with self.session() as s:
            return installation.recorded_pods(s, pod_ids)

    # -- lifecycle writes --------------------------------------------------------------------
    def move_job(
        self,
        job_id: int,
        old: JobState,
        new: JobState,
        reason: str,
        now: datetime,
        outcome: JobOutcome | None = None,
    ) -> None:
        with self.session() as s:
            move_job(s, job_id, old, new, reason, now, outcome=outcome)

    def begin_attempt(self, launch: Launch, now: datetime) -> AttemptView:
        with self.session() as s:
            return attempts.begin_attempt(s, launch, now)

    def set_pod(
        self,
        attempt_id: int,
        pod_id: str,
        cost_per_hr: float,
        data_center_id: str | None,
        now: datetime,
    ) -> bool:
        with self.session() as s:
            return attempts.set_pod(s, attempt_id, pod_id, cost_per_hr, data_center_id, now)

    def fail_launch(
        self,
        attempt_id: int,
        job_from: JobState,
        now: datetime,
        detail: str,
        job_to: JobState = JobState.QUEUED,
    ) -> None:
        with self.session() as s:
            attempts.fail_launch(s, attempt_id, job_from, now, detail, job_to)

    def mark_running(self, attempt_id: int, job_from: JobState, now: datetime) -> None:
        with self.session() as s:
            attempts.mark_running(s, attempt_id, job_from, now)

    def mark_preempted(self, attempt_id: int, job_from: JobState, now: datetime) -> None:
        with self.session() as s:
            attempts.mark_preempted(s, attempt_id, job_from, now)

    def resume_started(
        self, attempt_id: int, job_from: JobState, bid: float, now: datetime
    ) -> None:
        with self.session() as s:
            attempts.resume_started(s, attempt_id, job_from, bid, now)

    def record_intent(
        self,
        attempt_id: int,
        call: PodCall,
        now: datetime,
        *,
        reason: EndReason | None = None,
        job_to: JobState | None = None,
        detail: str = "",
        bid: float | None = None,
    ) -> None:
        """Commit the intent of a pod call before it is made (see `attempts.record_intent`)."""
        with self.session() as s:
            attempts.record_intent(
                s, attempt_id, call, now, reason=reason, job_to=job_to, detail=detail, bid=bid
            )

    def confirm_resume(
        self, attempt_id: int, job_from: JobState, bid: float, since: datetime, now: datetime
    ) -> None:
        with self.session() as s:
            attempts.confirm_resume(s, attempt_id, job_from, bid, since, now)

    def miss_deadline(self, job_id: int, now: datetime) -> bool:
        with self.session() as s:
            return miss_deadline(s, job_id, now)

    def resume_failed(self, attempt_id: int, now: datetime, detail: str) -> None:
        with self.session() as s:
            attempts.resume_failed(s, attempt_id, now, detail)

    def end_attempt(
        self,
        attempt_id: int,
        reason: EndReason,
        job_from: JobState,
        job_to: JobState | None,
        now: datetime,
        detail: str = "",
    ) -> None:
        with self.session() as s:
            attempts.end_attempt(s, attempt_id, reason, job_from, job_to, now, detail)

    def note(self, job_id: int, kind: str, reason: str, now: datetime) -> None:
        with self.session() as s:
            s.add(JobEventRow(job_id=job_id, at=now, kind=kind, reason=reason))

    def set_hold(self, holds: dict[int, str], now: datetime) -> None:
        """Remember why queued jobs wait (shown by `spotsched jobs`); no event rows.

        A tick holds every job that waits, so this is one UPDATE per reason and chunk of ids,
        never one per job; rows already showing that reason are not written again."""
        if not holds:
            return
        by_reason: dict[str, list[int]] = {}
        for job_id, reason in holds.items():
            by_reason.setdefault(reason, []).append(job_id)
        with self.session() as s:
            for reason, ids in by_reason.items():
                for start in range(0, len(ids), _IDS_PER_STATEMENT):
                    s.exec(
                        update(JobRow)
                        .where(
                            col(JobRow.id).in_(ids[start : start + _IDS_PER_STATEMENT]),
                            col(JobRow.state) == JobState.QUEUED.value,
                            or_(
                                col(JobRow.state_reason).is_(None),
                                col(JobRow.state_reason) != reason,
                            ),
                        )
                        .values(state_reason=reason)
                        .execution_options(synchronize_session=False)
                    )

    # -- money and market --------------------------------------------------------------------
    def accrue(
        self, observations: Iterable[Observation], now: datetime
    ) -> dict[int, tuple[float, float]]:
        with self.session() as s:
            return ledger.accrue(s, observations, now)

    def record_prices(self, quotes: Iterable[Quote], now: datetime) -> int:
        with self.session() as s:
            return prices.record_prices(s, quotes, now)

    def prune_prices(self, before: datetime) -> int:
        with self.session() as s:
            return prices.prune_prices(s, before)

    def set_facts(self, facts: dict[str, str], now: datetime) -> None:
        with self.session() as s:
            prices.set_facts(s, facts, now)

    def facts(self) -> dict[str, tuple[str, datetime | None]]:
        with self.session() as s:
            return prices.get_facts(s)

    # -- reports for people ------------------------------------------------------------------
    def list_jobs(self, state: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        with self.session() as s:
            return reports.list_jobs(s, state, limit)

    def job_detail(self, job_id: int) -> dict[str, Any]:
        with self.session() as s:
            detail = reports.job_detail(s, job_id)
        if detail is None:
            raise JobNotFound(f"no job {job_id}")
        return detail

    def cost_report(self, since: datetime | None, by: str) -> list[dict[str, Any]]:
        with self.session() as s:
            return reports.cost_report(s, since, by)

    def events_since(self, after_id: int, limit: int = 500) -> list[dict[str, Any]]:
        with self.session() as s:
            return reports.events_since(s, after_id, limit)

    def job_ids_named(self, name: str) -> list[int]:
        with self.session() as s:
            return [
                int(i)
                for i in s.exec(select(JobRow.id).where(JobRow.name == name)).all()
                if i is not None
            ]
