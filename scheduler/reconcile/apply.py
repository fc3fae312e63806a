"""Executing the policy's actions: intent row first, then the RunPod call, then the result row.

Every mutating pod call has its intent committed before it is made: a create has its attempt
row (`launching`), a stop, terminate or bid-resume has the attempt's `pending_*` columns. The
call's result clears the intent; a daemon killed in between finds it on restart and finishes
it (`policy.lifecycle`). Each action is applied on its own; one failure is recorded and the
rest go on. RunPod errors arrive already classified (`scheduler.runpod.errors`) and each class
has one answer here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from scheduler.domain.actions import (
    Action,
    AdoptPod,
    ConfirmResume,
    EndAttempt,
    Hold,
    Launch,
    MarkPreempted,
    MarkRunning,
    MissDeadline,
    MoveJob,
    ResumeLost,
    ResumeSpot,
    TerminateOrphan,
)
from scheduler.domain.clock import Clock
from scheduler.domain.job import JobSpec
from scheduler.domain.states import AttemptKind, JobState, PodCall
from scheduler.domain.views import AttemptView, JobView, pod_installation
from scheduler.runpod.errors import (
    AuthenticationError,
    CapacityError,
    InsufficientBalanceError,
    NotFoundError,
    RejectedError,
    RunPodError,
    SpotUnsupportedError,
    TransientError,
)
from scheduler.runpod.models import DeployRequest
from scheduler.runpod.port import Provider
from scheduler.store import StaleState, Store

log = structlog.get_logger("spotsched.apply")


@dataclass
class ApplyResult:
    """What applying one tick's actions did: counters for metrics, problems for logs."""

    launches: list[tuple[str, str, str]] = field(default_factory=list)  # kind, gpu, outcome
    ended: list[tuple[str, str]] = field(default_factory=list)  # kind, reason
    preemptions: list[str] = field(default_factory=list)  # gpu type
    resumes: list[str] = field(default_factory=list)  # outcome
    orphans: list[str] = field(default_factory=list)  # reason
    holds: dict[int, str] = field(default_factory=dict)
    moves: list[tuple[str, str]] = field(default_factory=list)
    overbids: int = 0
    deadlines_missed: int = 0
    errors: list[str] = field(default_factory=list)
    spot_unsupported: bool = False
    auth_failed: bool = False
    balance_exhausted: bool = False


def deploy_request(spec: JobSpec, attempt: AttemptView, launch: Launch) -> DeployRequest:
    env = dict(spec.env)
    env["SPOTSCHED_JOB_ID"] = str(launch.job_id)
    env["SPOTSCHED_ATTEMPT"] = str(attempt.number)
    installation = pod_installation(attempt.pod_name)
    if installation is not None:
        env["SPOTSCHED_INSTALLATION"] = installation
    return DeployRequest(
        name=attempt.pod_name,
        image_name=spec.image,
        gpu_type_id=launch.gpu_type_id,
        gpu_count=launch.gpu_count,
        cloud_type="SECURE" if launch.secure_cloud else "COMMUNITY",
        container_disk_gb=spec.container_disk_gb,
        volume_gb=spec.volume_gb,
        volume_mount_path=spec.volume_mount_path,
        ports=spec.ports,
        docker_args=spec.command,
        env=tuple(sorted(env.items())),
        network_volume_id=spec.network_volume_id,
        data_center_id=launch.data_center_id,
        bid_per_gpu=launch.bid_per_gpu if launch.kind is AttemptKind.SPOT else None,
    )


class Applier:
    """Applies actions. `clock`, when given, stamps the moments RunPod acknowledged a create,
    resume, stop or terminate, so the ledger starts and ends billing exactly there rather than
    at the tick's start (a tick can take a while when RunPod is slow)."""

    def __init__(self, store: Store, client: Provider, clock: Clock | None = None) -> None:
        self.store = store
        self.client = client
        self.clock = clock

    def _stamp(self, now: datetime) -> datetime:
        return max(now, self.clock.now()) if self.clock is not None else now

    def apply(
        self, actions: list[Action], jobs: Mapping[int, JobView], now: datetime
    ) -> ApplyResult:
        result = ApplyResult()
        failed: dict[tuple[str, str], list[str]] = {}  # (action, error class) -> messages
        for action in actions:
            if result.auth_failed and not isinstance(action, Hold | MoveJob):
                continue
            if result.balance_exhausted and isinstance(action, Launch):
                result.holds[action.job_id] = "RunPod balance too low to launch"
                continue
            try:
                self._one(action, jobs, now, result)
            except StaleState as exc:
                log.warning("action_stale", action=type(action).__name__, error=exc.message)
                result.errors.append(f"stale: {exc.message}")
            except AuthenticationError as exc:
                result.auth_failed = True
                log.error("runpod_auth_failed", operation=exc.operation, error=exc.message)
                result.errors.append(f"auth: {exc.message}")
            except RunPodError as exc:
                failed.setdefault((type(action).__name__, type(exc).__name__), []).append(
                    exc.message
                )
                result.errors.append(f"{type(exc).__name__}: {exc.message}")
        # One line per kind of failing action, not one per action: an outage fails them all.
        for (name, error_class), messages in failed.items():
            log.warning(
                "action_failed",
                action=name,
                error_class=error_class,
                error=messages[0],
                count=len(messages),
            )
        self.store.set_hold(result.holds, now)
        return result

    def _one(
        self, action: Action, jobs: Mapping[int, JobView], now: datetime, result: ApplyResult
    ) -> None:
        if isinstance(action, Hold):
            result.holds[action.job_id] = action.reason
        elif isinstance(action, MoveJob):
            self.store.move_job(
                action.job_id,
                action.from_state,
                action.to_state,
                action.reason,
                now,
                action.outcome,
            )
            result.moves.append((action.from_state.value, action.to_state.value))
            log.info(
                "job_moved", job_id=action.job_id, to=action.to_state.value, reason=action.reason
            )
        elif isinstance(action, Launch):
            self._launch(action, jobs[action.job_id], now, result)
        elif isinstance(action, AdoptPod):
            if self.store.set_pod(action.attempt_id, action.pod_id, action.cost_per_hr, None, now):
                result.overbids += 1
            log.info("pod_adopted", job_id=action.job_id, pod_id=action.pod_id)
        elif isinstance(action, MarkRunning):
            self.store.mark_running(action.attempt_id, action.job_from, now)
            log.info("job_running", job_id=action.job_id)
        elif isinstance(action, MarkPreempted):
            self.store.mark_preempted(action.attempt_id, action.job_from, now)
            live = jobs[action.job_id].live
            result.preemptions.append(live.gpu_type_id if live else "")
            log.warning("job_preempted", job_id=action.job_id)
        elif isinstance(action, ResumeSpot):
            self._resume(action, jobs[action.job_id], now, result)
        elif isinstance(action, ConfirmResume):
            self.store.confirm_resume(
                action.attempt_id, action.job_from, action.bid_per_gpu, action.since, now
            )
            log.info("pod_resume_confirmed", job_id=action.job_id, since=action.since.isoformat())
        elif isinstance(action, ResumeLost):
            self.store.resume_failed(
                action.attempt_id, now, "the bid-resume was not carried out: the pod is stopped"
            )
            log.info("resume_lost", job_id=action.job_id)
        elif isinstance(action, MissDeadline):
            if self.store.miss_deadline(action.job_id, now):
                result.deadlines_missed += 1
                log.warning("deadline_missed", job_id=action.job_id)
        elif isinstance(action, EndAttempt):
            self._end(action, jobs[action.job_id], now, result)
        else:
            self._orphan(action, result)

    def _launch(self, launch: Launch, job: JobView, now: datetime, result: ApplyResult) -> None:
        attempt = self.store.begin_attempt(launch, now)  # the intent row, committed
        kind, gpu = launch.kind.value, launch.gpu_type_id
        log.info(
            "pod_launching",
            job_id=launch.job_id,
            pod_name=attempt.pod_name,
            kind=kind,
            gpu_type=gpu,
            gpu_count=launch.gpu_count,
            bid_per_gpu=launch.bid_per_gpu,
            reason=launch.reason,
        )
        try:
            pod = self.client.deploy(deploy_request(job.spec, attempt, launch))
        except CapacityError as exc:
            self.store.fail_launch(attempt.id, JobState.LAUNCHING, now, exc.message)
            result.launches.append((kind, gpu, "capacity"))
            log.info("launch_no_capacity", job_id=launch.job_id, kind=kind, gpu_type=gpu)
            return
        except InsufficientBalanceError as exc:
            # REST v2's 402: no launch can succeed until the account is topped up.
            result.balance_exhausted = True
            self.store.fail_launch(attempt.id, JobState.LAUNCHING, now, exc.message)
            result.launches.append((kind, gpu, "insufficient_balance"))
            log.error("runpod_balance_insufficient", job_id=launch.job_id, error=exc.message)
            return
        except SpotUnsupportedError as exc:
            result.spot_unsupported = True
            self.store.fail_launch(attempt.id, JobState.LAUNCHING, now, exc.message)
            result.launches.append((kind, gpu, "spot_unsupported"))
            log.warning("spot_unsupported", error=exc.message)
            return
        except RejectedError as exc:
            self.store.fail_launch(
                attempt.id, JobState.LAUNCHING, now, exc.message, job_to=JobState.FAILED
            )
            result.launches.append((kind, gpu, "rejected"))
            log.error("launch_rejected", job_id=launch.job_id, error=exc.message)
            return
        except TransientError as exc:
            # The create may have happened: the next tick adopts the pod by name or gives up.
            result.launches.append((kind, gpu, "unknown"))
            log.warning("launch_outcome_unknown", job_id=launch.job_id, error=exc.message)
            return
        except AuthenticationError:
            self.store.fail_launch(attempt.id, JobState.LAUNCHING, now, "authentication failed")
            result.launches.append((kind, gpu, "auth"))
            raise
        over = self.store.set_pod(
            attempt.id, pod.id, pod.cost_per_hr, pod.data_center_id, self._stamp(now)
        )
        result.overbids += int(over)
        result.launches.append((kind, gpu, "ok"))
        log.info(
            "pod_launched",
            job_id=launch.job_id,
            pod_id=pod.id,
            kind=kind,
            gpu_type=gpu,
            cost_per_hr=pod.cost_per_hr,
            overbid=over,
        )

    def _resume(self, action: ResumeSpot, job: JobView, now: datetime, result: ApplyResult) -> None:
        self.store.record_intent(action.attempt_id, PodCall.BID_RESUME, now, bid=action.bid_per_gpu)
        try:
            self.client.bid_resume_pod(action.pod_id, action.bid_per_gpu, action.gpu_count)
        except SpotUnsupportedError as exc:
            result.spot_unsupported = True
            self.store.resume_failed(action.attempt_id, now, exc.message)
            result.resumes.append("spot_unsupported")
            return
        except (CapacityError, RejectedError, NotFoundError) as exc:
            self.store.resume_failed(action.attempt_id, now, exc.message)
            result.resumes.append("failed")
            log.info("resume_failed", job_id=action.job_id, error=exc.message)
            return
        except TransientError as exc:
            result.resumes.append("unknown")
            log.warning("resume_outcome_unknown", job_id=action.job_id, error=exc.message)
            return
        self.store.resume_started(
            action.attempt_id, job.state, action.bid_per_gpu, self._stamp(now)
        )
        result.resumes.append("ok")
        log.info(
            "pod_resumed",
            job_id=action.job_id,
            pod_id=action.pod_id,
            bid_per_gpu=action.bid_per_gpu,
        )

    def _end(self, action: EndAttempt, job: JobView, now: datetime, result: ApplyResult) -> None:
        call = action.pod_call if action.pod_id is not None else None
        if call is not None:
            assert action.pod_id is not None
            # the intent first: a crash after the call still ends the job this same way
            self.store.record_intent(
                action.attempt_id,
                call,
                now,
                reason=action.reason,
                job_to=action.job_to,
                detail=action.detail,
            )
            if call is PodCall.TERMINATE:
                self.client.terminate_pod(action.pod_id)  # already gone counts as success
            else:
                with contextlib.suppress(NotFoundError):
                    self.client.stop_pod(action.pod_id)
        if action.since is not None:
            ended = action.since
        else:
            ended = self._stamp(now) if call is not None else now
        self.store.end_attempt(
            action.attempt_id, action.reason, action.job_from, action.job_to, ended, action.detail
        )
        kind = job.live.kind.value if job.live else ""
        result.ended.append((kind, action.reason.value))
        log.info(
            "attempt_ended",
            job_id=action.job_id,
            reason=action.reason.value,
            job_state=action.job_to.value if action.job_to else None,
            pod_call=call.value if call is not None else None,
            detail=action.detail,
        )

    def _orphan(self, action: TerminateOrphan, result: ApplyResult) -> None:
        if action.stop_only:
            with contextlib.suppress(NotFoundError):
                self.client.stop_pod(action.pod_id)
        else:
            self.client.terminate_pod(action.pod_id)
        result.orphans.append(action.reason)
        log.warning(
            "stray_pod_stopped" if action.stop_only else "stray_pod_terminated",
            pod_id=action.pod_id,
            pod_name=action.name,
            reason=action.reason,
        )
