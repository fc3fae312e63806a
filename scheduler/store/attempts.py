"""Attempt lifecycle writes: the intent row before every create, and every later change,
each with its job transition in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from scheduler.domain.actions import Launch
from scheduler.domain.states import (
    AttemptKind,
    AttemptState,
    EndReason,
    JobState,
    PodCall,
    ending_outcome,
)
from scheduler.domain.views import AttemptView, pod_name
from scheduler.store.installation import installation_id
from scheduler.store.ledger import add_waste, bill_until
from scheduler.store.tables import AttemptRow, JobRow
from scheduler.store.transitions import StaleState, move_attempt, move_job, note


def attempt_view(row: AttemptRow) -> AttemptView:
    assert row.id is not None and row.created_at is not None
    return AttemptView(
        id=row.id,
        job_id=row.job_id,
        number=row.number,
        kind=AttemptKind(row.kind),
        state=AttemptState(row.state),
        gpu_type_id=row.gpu_type_id,
        gpu_count=row.gpu_count,
        secure_cloud=row.secure_cloud,
        bid_per_gpu=row.bid_per_gpu,
        on_demand_price_per_gpu=row.on_demand_price_per_gpu,
        pod_name=row.pod_name,
        pod_id=row.pod_id,
        cost_per_hr=row.cost_per_hr,
        data_center_id=row.data_center_id,
        created_at=row.created_at,
        started_at=row.started_at,
        preempted_at=row.preempted_at,
        resume_failures=row.resume_failures,
        cost=row.cost,
        running_seconds=row.running_seconds,
        launched_at=row.launched_at,
        pending_call=PodCall(row.pending_call) if row.pending_call else None,
        pending_reason=EndReason(row.pending_reason) if row.pending_reason else None,
        pending_job_to=JobState(row.pending_job_to) if row.pending_job_to else None,
        pending_detail=row.pending_detail,
        pending_bid=row.pending_bid,
        pending_at=row.pending_at,
    )


_NO_INTENT: dict[str, Any] = {
    "pending_call": None,
    "pending_reason": None,
    "pending_job_to": None,
    "pending_detail": None,
    "pending_bid": None,
    "pending_at": None,
}
"""The values that clear an attempt's intent, written with the call's result."""


def begin_attempt(session: Session, launch: Launch, now: datetime) -> AttemptView:
    """Commit-ready intent: the attempt row (`launching`, deterministic pod name) and the job
    moved to `launching`. The caller commits this before it calls RunPod."""
    last = session.exec(
        select(func.max(AttemptRow.number)).where(AttemptRow.job_id == launch.job_id)
    ).one()
    number = int(last or 0) + 1
    row = AttemptRow(
        job_id=launch.job_id,
        number=number,
        kind=launch.kind.value,
        state=AttemptState.LAUNCHING.value,
        gpu_type_id=launch.gpu_type_id,
        gpu_count=launch.gpu_count,
        secure_cloud=launch.secure_cloud,
        bid_per_gpu=launch.bid_per_gpu,
        on_demand_price_per_gpu=launch.on_demand_price_per_gpu,
        pod_name=pod_name(launch.job_id, number, installation=installation_id(session, now)),
        cost_per_hr=launch.cost_per_hr,
        data_center_id=launch.data_center_id,
        created_at=now,
        accounted_until=now,
        launched_at=now,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    move_job(
        session,
        launch.job_id,
        launch.from_state,
        JobState.LAUNCHING,
        f"{launch.kind.value} launch: {launch.reason}",
        now,
        attempt_id=row.id,
    )
    return attempt_view(row)


def _row(session: Session, attempt_id: int) -> AttemptRow:
    row = session.get(AttemptRow, attempt_id)
    if row is None:
        raise StaleState(f"attempt {attempt_id} does not exist")
    return row


def record_intent(
    session: Session,
    attempt_id: int,
    call: PodCall,
    now: datetime,
    *,
    reason: EndReason | None = None,
    job_to: JobState | None = None,
    detail: str = "",
    bid: float | None = None,
) -> None:
    """Commit-ready intent of a pod call on a live attempt: what is asked, why, and where the
    job goes once it is done. The caller commits it before it calls RunPod; the call's result
    clears it, and a restarted daemon that finds it finishes the same call."""
    row = _row(session, attempt_id)
    if row.state == AttemptState.ENDED.value:
        raise StaleState(f"attempt {attempt_id} has ended")
    row.pending_call = call.value
    row.pending_reason = reason.value if reason is not None else None
    row.pending_job_to = job_to.value if job_to is not None else None
    row.pending_detail = detail[:1000] or None
    row.pending_bid = bid
    row.pending_at = now
    session.add(row)
    why = (detail or call.value)[:1000]
    note(session, row.job_id, f"intent_{call.value}", why, now, attempt_id)


def set_pod(
    session: Session,
    attempt_id: int,
    pod_id: str,
    cost_per_hr: float,
    data_center_id: str | None,
    now: datetime,
) -> bool:
    """Record the pod a create returned (or adoption found). True if RunPod charges more than
    we bid (an overbid), which is recorded as an event."""
    row = _row(session, attempt_id)
    row.pod_id = pod_id
    row.billing = True  # RunPod bills from the create call on
    row.accounted_until = now
    if data_center_id:
        row.data_center_id = data_center_id
    expected = row.cost_per_hr
    row.cost_per_hr = cost_per_hr
    over = expected is not None and cost_per_hr > expected * 1.0001 + 1e-9
    if over:
        row.overbid = True
        note(
            session,
            row.job_id,
            "overbid",
            f"pod costs ${cost_per_hr:.4f}/h, bid was ${expected:.4f}/h",
            now,
            attempt_id,
        )
    session.add(row)
    return over


def fail_launch(
    session: Session,
    attempt_id: int,
    job_from: JobState,
    now: datetime,
    detail: str,
    job_to: JobState = JobState.QUEUED,
) -> None:
    move_attempt(
        session,
        attempt_id,
        AttemptState.LAUNCHING,
        AttemptState.ENDED,
        ended_at=now,
        end_reason=EndReason.LAUNCH_FAILED.value,
        detail=detail[:1000],
    )
    row = _row(session, attempt_id)
    job = session.get(JobRow, row.job_id)
    assert job is not None
    # A failed create does not restart the wait: `fallback_after` counts from the first queueing,
    # so a job whose spot creates keep failing still reaches on-demand in time.
    move_job(
        session,
        row.job_id,
        job_from,
        job_to,
        f"launch failed: {detail}"[:1000],
        now,
        attempt_id=attempt_id,
        outcome=ending_outcome(job_to, EndReason.LAUNCH_FAILED),
        queued_since=job.queued_since or now,
    )


def mark_running(session: Session, attempt_id: int, job_from: JobState, now: datetime) -> None:
    row = _row(session, attempt_id)
    move_attempt(
        session,
        attempt_id,
        AttemptState(row.state),
        AttemptState.RUNNING,
        started_at=now,
        segment_cost=0.0,
    )
    move_job(
        session,
        row.job_id,
        job_from,
        JobState.RUNNING,
        "pod is running",
        now,
        attempt_id=attempt_id,
    )


def mark_preempted(session: Session, attempt_id: int, job_from: JobState, now: datetime) -> None:
    row = _row(session, attempt_id)
    job = session.get(JobRow, row.job_id)
    assert job is not None
    lost = 0.0 if job.checkpoint else row.segment_cost
    if lost:
        add_waste(session, row, lost, now)
    move_attempt(
        session,
        attempt_id,
        AttemptState(row.state),
        AttemptState.PREEMPTED,
        preempted_at=now,
        waste=row.waste + lost,
        segment_cost=0.0,
    )
    values: dict[str, Any] = {"preemptions": job.preemptions + 1}
    if not job.checkpoint:
        values["work_seconds"] = 0.0
    move_job(
        session,
        row.job_id,
        job_from,
        JobState.PREEMPTED,
        "spot pod was interrupted",
        now,
        attempt_id=attempt_id,
        **values,
    )


def resume_started(
    session: Session, attempt_id: int, job_from: JobState, bid: float, now: datetime
) -> None:
    row = _row(session, attempt_id)
    move_attempt(
        session,
        attempt_id,
        AttemptState.PREEMPTED,
        AttemptState.LAUNCHING,
        bid_per_gpu=bid,
        cost_per_hr=bid * row.gpu_count,
        billing=True,
        accounted_until=now,
        launched_at=now,
        **_NO_INTENT,
    )
    move_job(
        session,
        row.job_id,
        job_from,
        JobState.LAUNCHING,
        f"bid-resume at ${bid:.4f}/GPU/h",
        now,
        attempt_id=attempt_id,
    )


def confirm_resume(
    session: Session,
    attempt_id: int,
    job_from: JobState,
    bid: float,
    since: datetime,
    now: datetime,
) -> None:
    """A bid-resume whose intent was committed went through (its answer was never recorded):
    the attempt is launching again since `since`. The tick's accrual has already charged the
    pod's billing up to `now`, so the ledger's watermark stays where it is."""
    row = _row(session, attempt_id)
    move_attempt(
        session,
        attempt_id,
        AttemptState.PREEMPTED,
        AttemptState.LAUNCHING,
        bid_per_gpu=bid,
        launched_at=since,
        **_NO_INTENT,
    )
    move_job(
        session,
        row.job_id,
        job_from,
        JobState.LAUNCHING,
        f"bid-resume at ${bid:.4f}/GPU/h (confirmed after a restart)",
        now,
        attempt_id=attempt_id,
    )


def resume_failed(session: Session, attempt_id: int, now: datetime, detail: str) -> None:
    row = _row(session, attempt_id)
    row.resume_failures += 1
    for key, value in _NO_INTENT.items():
        setattr(row, key, value)
    session.add(row)
    note(session, row.job_id, "resume_failed", detail[:1000], now, attempt_id)


def end_attempt(
    session: Session,
    attempt_id: int,
    reason: EndReason,
    job_from: JobState,
    job_to: JobState | None,
    now: datetime,
    detail: str,
) -> None:
    row = _row(session, attempt_id)
    if row.billing and row.accounted_until is not None and now > row.accounted_until:
        # billed until our own stop/terminate call, which came after the tick's accrual
        bill_until(session, row, now)
    move_attempt(
        session,
        attempt_id,
        AttemptState(row.state),
        AttemptState.ENDED,
        ended_at=now,
        end_reason=reason.value,
        detail=detail[:1000],
        billing=False,
        **_NO_INTENT,
    )
    if job_to is not None:
        why = f"{reason.value}: {detail}" if detail else reason.value
        keep: dict[str, Any] = {}
        job = session.get(JobRow, row.job_id)
        if job is not None and job_to is JobState.QUEUED:
            if reason is EndReason.LAUNCH_FAILED and job.queued_since is not None:
                keep["queued_since"] = job.queued_since  # the wait goes on (see fail_launch)
            if not job.checkpoint:
                keep["work_seconds"] = 0.0  # a relaunch without a checkpoint starts afresh
        move_job(
            session,
            row.job_id,
            job_from,
            job_to,
            why[:1000],
            now,
            attempt_id=attempt_id,
            outcome=ending_outcome(job_to, reason),
            **keep,
        )
