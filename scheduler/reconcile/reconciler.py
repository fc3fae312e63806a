"""`Reconciler.tick(now)`: the unit of work of the daemon, the demo, the tests and backtests.

Observe (one market request, one pod-list request, the store), decide (pure policy), apply
(intent row, RunPod call, result row), record (ledger, price samples, facts). The scheduler
only triggers ticks; everything that happens, happens inside one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog

from scheduler.domain.actions import Action
from scheduler.domain.clock import Clock
from scheduler.domain.views import (
    POD_NAME_PREFIX,
    JobView,
    MarketView,
    PodView,
    Snapshot,
    pod_installation,
)
from scheduler.policy import PolicyConfig, decide
from scheduler.reconcile.apply import Applier, ApplyResult
from scheduler.reconcile.observe import PodMemory, market_view
from scheduler.runpod.errors import AuthenticationError, DeadlineExceeded, RunPodError
from scheduler.runpod.models import Market, Pod
from scheduler.runpod.port import Provider
from scheduler.runpod.translate import error_kind
from scheduler.store import Observation, Store

log = structlog.get_logger("spotsched.reconcile")

TICK_ERRORS_FACT = "tick_errors"
"""The fact naming what failed in the latest tick: a JSON list of {operation, kind, message,
count}, empty after a clean tick. `spotsched status` reads it to name the cause of a problem
(a rejected key, RunPod unreachable). Messages are RunPod's, with the key redacted."""


@dataclass(frozen=True, slots=True)
class ReconcilerSettings:
    price_sample_interval: float = 300.0
    spot_recheck_after: float = 3600.0
    tick_budget: float | None = 120.0
    """Seconds from `now` after which no RunPod call starts or waits; None: no limit."""


@dataclass
class TickReport:
    now: datetime
    ok: bool = True
    seconds: float = 0.0
    market: Market | None = None
    market_view: MarketView | None = None
    pods: tuple[PodView, ...] = ()
    jobs: tuple[JobView, ...] = ()
    actions: list[Action] = field(default_factory=list)
    applied: ApplyResult = field(default_factory=ApplyResult)
    invalid: list[tuple[int, str]] = field(default_factory=list)
    held: list[tuple[int, str]] = field(default_factory=list)
    """Jobs with a live pod whose row cannot be read: the pod is kept, the row must be fixed."""
    accrued: float = 0.0
    errors: list[str] = field(default_factory=list)
    failures: list[dict[str, object]] = field(default_factory=list)
    """One entry per failing operation (see `TICK_ERRORS_FACT`)."""
    auth_failed: bool = False
    spot_capable: bool | None = None
    own_pods: frozenset[str] = frozenset()
    """Ids of the listed pods that are this installation's (`Snapshot.ours`, or a live
    attempt's): metrics count only these as the daemon's fleet."""


class Reconciler:
    def __init__(
        self,
        store: Store,
        client: Provider,
        policy: PolicyConfig,
        settings: ReconcilerSettings | None = None,
        *,
        clock: Clock | None = None,
        perf_counter: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.store = store
        self.client = client
        self.policy = policy
        self.settings = settings or ReconcilerSettings()
        self.applier = Applier(store, client, clock)
        self.memory = PodMemory()
        self._perf = perf_counter
        self._spot_rejected_at: datetime | None = None
        self._last_sample: datetime | None = None
        self._spot_listed = True
        self._last_poll_was_full = False

    def tick(self, now: datetime) -> TickReport:
        started = self._perf()
        report = TickReport(now=now)
        budget = self.settings.tick_budget
        try:
            with self.client.deadline(now + timedelta(seconds=budget) if budget else None):
                self._tick(now, report)
        except DeadlineExceeded as exc:
            # Ended early rather than outliving the watchdog; the next tick starts afresh.
            report.ok = False
            report.errors.append(f"tick budget: {exc.message}")
            log.warning(
                "tick_budget_exhausted",
                operation=exc.operation,
                budget_seconds=budget,
                error=exc.message,
            )
        finally:
            report.seconds = self._perf() - started
        return report

    # -- the four steps ------------------------------------------------------------------------
    def _tick(self, now: datetime, report: TickReport) -> None:
        report.invalid, report.held, jobs, money, history = self.store.begin_tick(now)
        for job_id, problem in report.invalid:
            log.warning("job_invalid", job_id=job_id, problem=problem)
        for job_id, problem in report.held:
            log.error("job_row_unreadable_pod_held", job_id=job_id, problem=problem)
        combos = self._combos(jobs)
        market = self._observe_market(combos, self._market_filter(jobs, now), report)
        pods = self._observe_pods(report)
        if pods is None:
            report.ok = False
            self.store.set_facts({TICK_ERRORS_FACT: json.dumps(report.failures)}, now)
            return
        owned = {j.live.pod_name: j for j in jobs if j.live is not None}
        strays = [
            p.name for p in pods if p.name.startswith(POD_NAME_PREFIX) and p.name not in owned
        ]
        kept = self.store.kept_pods(strays) if strays else frozenset()
        installation = self.store.installation(now)
        unmarked = [  # named like ours but not with our id: ours only if an attempt recorded it
            p.id
            for p in pods
            if p.name.startswith(POD_NAME_PREFIX) and pod_installation(p.name) != installation
        ]
        recorded = self.store.recorded_pods(unmarked) if unmarked else frozenset()
        pod_views = self.memory.views(pods, now, self._threshold(owned), set(owned) | kept)
        mview = None
        if market is not None:
            mview = market_view(market, combos, self._spot_capable(market, now))
        jobs = self._accrue(jobs, pod_views, mview, now, report)
        snapshot = Snapshot(
            now=now,
            jobs=tuple(jobs),
            pods=pod_views,
            market=mview,
            money=money,
            history=history,
            kept_pods=kept,
            installation=installation,
            recorded_pods=recorded,
        )

        report.actions = decide(snapshot, self.policy)
        report.applied = self.applier.apply(report.actions, {j.id: j for j in jobs}, now)
        if report.applied.spot_unsupported:
            self._spot_rejected_at = now
        report.auth_failed = report.auth_failed or report.applied.auth_failed
        report.errors.extend(report.applied.errors)
        if report.applied.errors:
            kind = "authentication" if report.applied.auth_failed else "action_failed"
            first = report.applied.errors[0]
            report.failures.append(_failure("actions", kind, first, len(report.applied.errors)))
        report.market, report.market_view, report.pods, report.jobs = (
            market,
            mview,
            pod_views,
            snapshot.jobs,
        )
        report.spot_capable = mview.spot_capable if mview is not None else None
        report.own_pods = frozenset(
            p.pod_id for p in pod_views if snapshot.ours(p) or p.name in owned
        )
        self._record(now, mview, report)

    def _combos(self, jobs: list[JobView]) -> list[tuple[int, bool]]:
        counts = sorted({1} | {j.spec.gpu_count for j in jobs})
        return [(c, s) for c in counts for s in (True, False)]

    def _sample_due(self, now: datetime) -> bool:
        interval = timedelta(seconds=self.settings.price_sample_interval)
        return self._last_sample is None or now - self._last_sample >= interval

    def _market_filter(self, jobs: list[JobView], now: datetime) -> list[str] | None:
        """GPU types the tick needs; None (the whole market) when a price sample is due."""
        if self._sample_due(now):
            return None
        ids = {c.gpu_type_id for j in jobs for c in j.spec.gpu_types}
        ids |= {j.live.gpu_type_id for j in jobs if j.live is not None}
        return sorted(ids)

    def _observe_market(
        self, combos: list[tuple[int, bool]], ids: list[str] | None, report: TickReport
    ) -> Market | None:
        self._last_poll_was_full = ids is None
        if ids is not None and not ids:
            return Market(gpus=())
        try:
            return self.client.market(tuple((c, s) for c, s in combos), gpu_type_ids=ids)
        except AuthenticationError as exc:
            report.auth_failed = True
            report.errors.append(f"market: {exc.message}")
            report.failures.append(_failure("market", error_kind(exc), exc.message))
            log.error("runpod_auth_failed", operation="market", error=exc.message)
        except RunPodError as exc:
            report.errors.append(f"market: {exc.message}")
            report.failures.append(_failure("market", error_kind(exc), exc.message))
            log.warning("market_poll_failed", error_class=type(exc).__name__, error=exc.message)
        return None

    def _observe_pods(self, report: TickReport) -> tuple[Pod, ...] | None:
        try:
            return self.client.list_pods()
        except AuthenticationError as exc:
            report.auth_failed = True
            report.errors.append(f"pods: {exc.message}")
            report.failures.append(_failure("list_pods", error_kind(exc), exc.message))
            log.error("runpod_auth_failed", operation="list_pods", error=exc.message)
        except RunPodError as exc:
            report.errors.append(f"pods: {exc.message}")
            report.failures.append(_failure("list_pods", error_kind(exc), exc.message))
            log.warning("pod_list_failed", error_class=type(exc).__name__, error=exc.message)
        return None

    def _threshold(self, owned: dict[str, JobView]) -> Callable[[Pod], float]:
        foreign = self.policy.foreign_idle.threshold if self.policy.foreign_idle else 5.0

        def threshold(pod: Pod) -> float:
            job = owned.get(pod.name)
            return job.spec.idle_threshold if job is not None else foreign

        return threshold

    def _spot_capable(self, market: Market, now: datetime) -> bool:
        """Spot is a detected capability: some GPU type in the whole market lists a spot price,
        and RunPod has not rejected a spot mutation as unsupported within `spot_recheck_after`.

        A filtered poll (only the jobs' GPU types) can confirm spot but never rule it out."""
        if market.spot_listed:
            self._spot_listed = True
        elif self._last_poll_was_full:
            self._spot_listed = False
        if self._spot_rejected_at is not None:
            recheck = timedelta(seconds=self.settings.spot_recheck_after)
            if now - self._spot_rejected_at < recheck:
                return False
        return self._spot_listed

    def _accrue(
        self,
        jobs: list[JobView],
        pods: tuple[PodView, ...],
        market: MarketView | None,
        now: datetime,
        report: TickReport,
    ) -> list[JobView]:
        by_name = {p.name: p for p in pods}
        observations: list[Observation] = []
        for job in jobs:
            a = job.live
            if a is None:
                continue
            pod = by_name.get(a.pod_name)
            if pod is not None and a.pod_id is not None and pod.pod_id != a.pod_id:
                pod = None
            od = None
            if market is not None and a.secure_cloud is not None:
                q = market.quote(a.gpu_type_id, a.gpu_count, a.secure_cloud)
                od = q.on_demand if q is not None else None
            idle = bool(pod is not None and pod.idle_since is not None)
            if pod is not None:  # RunPod's prose: whole seconds
                changed_at, within = pod.status_changed_at, 1.0
            else:  # gone: if the daemon asked, it stopped billing when the daemon asked
                ends = a.pending_call is not None and a.pending_call.ends_pod
                changed_at, within = (a.pending_at if ends else None), 0.0
            observations.append(
                Observation(
                    attempt_id=a.id,
                    billing=pod is not None and pod.desired_status == "RUNNING",
                    runtime_up=pod is not None and pod.runtime_up,
                    idle=idle,
                    cost_per_hr=pod.cost_per_hr if pod is not None else None,
                    on_demand_price_per_gpu=od,
                    speed=job.spec.speed_of(a.gpu_type_id),
                    changed_at=changed_at,
                    changed_within=within,
                )
            )
        if not observations:
            return jobs
        added = self.store.accrue(observations, now)
        report.accrued = sum(cost for cost, _ in added.values())
        return [
            replace(j, spend=j.spend + added[j.id][0], work_seconds=j.work_seconds + added[j.id][1])
            if j.id in added
            else j
            for j in jobs
        ]

    def _record(self, now: datetime, market: MarketView | None, report: TickReport) -> None:
        full = report.market is not None and self._last_poll_was_full
        if market is not None and full and self._sample_due(now):
            self.store.record_prices(market.quotes, now)
            self._last_sample = now
        facts = {"last_tick_at": now.isoformat(), TICK_ERRORS_FACT: json.dumps(report.failures)}
        if report.spot_capable is not None:
            facts["spot_capable"] = "yes" if report.spot_capable else "no"
        self.store.set_facts(facts, now)


def _failure(operation: str, kind: str, message: str, count: int = 1) -> dict[str, object]:
    return {"operation": operation, "kind": kind, "message": message[:300], "count": count}
