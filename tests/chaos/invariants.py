"""The invariants of issue 8, checked against the emulator's own records (every pod it ever
created, its events, its billing segments) and the daemon's database: pure functions of a run's
`Records`, shared by `tests/chaos/` and `bench/chaos.py`.

Ground truth is the emulator's, never the daemon's word: a job "succeeded" only if the pod of
its last attempt finished its work (`work_done` in the emulator's history); money is what the
emulator billed; a pod is the daemon's if the harness did not create it.

Budgets are checked with the one allowance polling forces on any daemon: the spend of what it
cannot see, i.e. up to two ticks and the longest time it was down after a kill.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.chaos.records import Records
from tests.chaos.scenario import (
    DAILY_BUDGET,
    FINITE_KINDS,
    MAX_SPEND_RATE,
    MONTHLY_BUDGET,
    JobKind,
)

TERMINAL = frozenset({"succeeded", "failed", "cancelled", "expired", "invalid"})
LEDGER_TOLERANCE = 0.005
EPSILON = 1e-6


@dataclass(frozen=True)
class Check:
    name: str
    violations: list[str] = field(default_factory=list)
    measured: str = ""

    @property
    def ok(self) -> bool:
        return not self.violations


Segment = tuple[float, float, float]  # start, end (seconds from the run's start), $/h


def _t(records: Records, iso: str | None, default: float) -> float:
    if iso is None:
        return default
    return (datetime.fromisoformat(iso) - records.start).total_seconds()


def daemon_pods(records: Records) -> list[dict[str, Any]]:
    foreign = set(records.foreign_pod_ids)
    return [p for p in records.pods if p["id"] not in foreign]


def segments(records: Records, pods: Iterable[dict[str, Any]]) -> list[Segment]:
    end = records.stats.simulated_seconds
    return [
        (_t(records, s["start"], 0.0), _t(records, s["end"], end), float(s["costPerHr"]))
        for p in pods
        for s in p["billingSegments"]
    ]


def _billed_between(segs: Iterable[Segment], lo: float, hi: float) -> float:
    return sum(rate * max(0.0, min(e, hi) - max(s, lo)) / 3600 for s, e, rate in segs)


def _grace(records: Records) -> float:
    """Seconds of spend a daemon cannot see: two ticks and its longest downtime."""
    return 2 * records.scenario.step + max(records.stats.downtimes, default=0.0)


class _Index:
    def __init__(self, records: Records) -> None:
        self.jobs = {int(j["id"]): j for j in records.jobs}
        self.by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for j in records.jobs:
            self.by_name[j["name"]].append(j)
        self.attempts_by_pod_name = {a["pod_name"]: a for a in records.attempts}
        self.last_attempt: dict[int, dict[str, Any]] = {}
        for a in sorted(records.attempts, key=lambda a: a["number"]):
            self.last_attempt[int(a["job_id"])] = a
        self.pods = daemon_pods(records)
        self.pod_by_id = {p["id"]: p for p in self.pods}
        self.pods_by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for p in self.pods:
            self.pods_by_name[p["name"]].append(p)

    def job_of_pod(self, pod: dict[str, Any]) -> int | None:
        attempt = self.attempts_by_pod_name.get(pod["name"])
        if attempt is not None:
            return int(attempt["job_id"])
        job_id = pod.get("jobId")
        return int(job_id) if job_id is not None and str(job_id).isdigit() else None

    def pod_of(self, attempt: dict[str, Any]) -> dict[str, Any] | None:
        if attempt["pod_id"] is not None and attempt["pod_id"] in self.pod_by_id:
            return self.pod_by_id[attempt["pod_id"]]
        named = self.pods_by_name.get(attempt["pod_name"], [])
        return named[-1] if named else None


def lost_jobs(records: Records, ix: _Index) -> Check:
    """Every submitted job is in the database once and, after the drain, has come to an end."""
    bad = []
    for name, kind in sorted(records.kinds.items()):
        rows = ix.by_name.get(name, [])
        if len(rows) != 1:
            bad.append(f"{name} ({kind}): {len(rows)} rows in the database")
            continue
        job = rows[0]
        if job["state"] not in TERMINAL:
            live = ix.last_attempt.get(int(job["id"]))
            pod = ix.pod_of(live) if live is not None else None
            where = "no attempt" if live is None else f"attempt {live['number']} {live['state']}"
            seen = "no pod" if pod is None else f"pod {pod['desiredStatus']}"
            bad.append(
                f"{name} ({kind}): still {job['state']} after the drain "
                f"({job['state_reason']}; {where}; {seen})"
            )
    return Check("lost jobs", bad, f"{len(records.kinds)} jobs")


def duplicate_pods(records: Records, ix: _Index) -> Check:
    """No pod name twice; never two pods of one job billing at the same time."""
    bad = [f"{n}: created {len(ps)} times" for n, ps in ix.pods_by_name.items() if len(ps) > 1]
    by_job: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for pod in ix.pods:
        job_id = ix.job_of_pod(pod)
        if job_id is not None:
            by_job[job_id].append(pod)
    for job_id, pods in sorted(by_job.items()):
        spans = [(s, e, pod["name"]) for pod in pods for s, e, _ in segments(records, [pod])]
        for i, (s1, e1, n1) in enumerate(spans):
            for s2, e2, n2 in spans[i + 1 :]:
                both = min(e1, e2) - max(s1, s2)
                if n1 != n2 and both > EPSILON:
                    bad.append(f"job {job_id}: {n1} and {n2} billed together for {both:.0f} s")
    return Check("duplicate pods", bad, f"{len(ix.pods)} pods created")


def unknown_pods(records: Records, ix: _Index) -> Check:
    """Every pod the daemon created is an attempt it recorded."""
    bad = [
        f"{p['name']} ({p['id']}, {p['desiredStatus']}, billed ${p['billed']:.4f})"
        for p in ix.pods
        if p["name"] not in ix.attempts_by_pod_name
    ]
    return Check("unknown pods", bad)


def orphans(records: Records, ix: _Index) -> Check:
    """At the end, every pod still there belongs to a live attempt (or is a pod kept on
    purpose: stopped by `on_idle = "stop"`)."""
    bad = []
    for pod in ix.pods:
        if pod["desiredStatus"] == "TERMINATED":
            continue
        attempt = ix.attempts_by_pod_name.get(pod["name"])
        job = ix.jobs.get(int(attempt["job_id"])) if attempt is not None else None
        if attempt is not None and job is not None:
            if attempt["state"] != "ended" and attempt["pod_id"] in (None, pod["id"]):
                continue
            kept = job["on_idle"] == "stop" and attempt["end_reason"] == "idle"
            if kept and pod["desiredStatus"] == "EXITED":
                continue
        owner = "no attempt" if attempt is None else f"attempt {attempt['state']}"
        bad.append(f"{pod['name']} ({pod['desiredStatus']}, {owner})")
    return Check("orphans", bad)


def false_successes(records: Records, ix: _Index) -> Check:
    """`succeeded` only when the work finished: the last attempt's pod did its work (its
    history shows `work_done`), and the job was one whose work ends at all."""
    bad = []
    for job in records.jobs:
        if job["state"] != "succeeded":
            continue
        kind = records.kinds.get(job["name"], "?")
        attempt = ix.last_attempt.get(int(job["id"]))
        pod = ix.pod_of(attempt) if attempt is not None else None
        events = [e["event"] for e in pod["events"]] if pod is not None else []
        if kind not in {k.value for k in FINITE_KINDS}:
            why = f"a {kind} job's work never ends"
        elif pod is None:
            why = "its last attempt has no pod"
        elif "work_done" not in events:
            why = f"its pod never finished the work (pod events: {', '.join(events)})"
        else:
            continue
        bad.append(f"{job['name']}: {why}; recorded as '{job['state_reason']}'")
    return Check("false successes", bad)


def spend_rate(records: Records, ix: _Index) -> Check:
    """What all the daemon's pods bill per hour, at every instant, stays under the cap."""
    points: list[tuple[float, float, str]] = []
    for pod in ix.pods:
        for s, e, rate in segments(records, [pod]):
            points += [(s, rate, pod["name"]), (e, -rate, pod["name"])]
    points.sort(key=lambda p: (p[0], p[1]))  # ends before starts at the same instant
    active: defaultdict[str, float] = defaultdict(float)
    peak = 0.0
    bad: list[str] = []
    over = False
    for t, delta, name in points:
        active[name] += delta
        level = sum(active.values())
        peak = max(peak, level)
        if level > MAX_SPEND_RATE + EPSILON and not over:
            pods = ", ".join(f"{n} ${r:.3f}" for n, r in sorted(active.items()) if r > EPSILON)
            bad.append(f"${level:.3f}/h at {t / 3600:.2f} h ({pods})")
        over = level > MAX_SPEND_RATE + EPSILON
    return Check("spend-rate cap", bad, f"peak ${peak:.3f}/h of ${MAX_SPEND_RATE:.2f}/h")


def budgets(records: Records, ix: _Index) -> Check:
    """Daily and monthly budgets and each job's `max_cost` (plus the unseen-spend allowance)."""
    grace = _grace(records)
    segs = segments(records, ix.pods)
    bad: list[str] = []
    day0 = records.start.replace(hour=0, minute=0, second=0, microsecond=0)
    offset = (records.start - day0).total_seconds()
    days = int((offset + records.stats.simulated_seconds) // 86400) + 1
    worst = 0.0
    for d in range(days):
        lo, hi = d * 86400 - offset, (d + 1) * 86400 - offset
        spent = _billed_between(segs, lo, hi)
        worst = max(worst, spent)
        limit = DAILY_BUDGET + MAX_SPEND_RATE * grace / 3600
        if spent > limit + EPSILON:
            bad.append(f"day {d}: ${spent:.2f} against a daily budget of ${DAILY_BUDGET:.2f}")
    month_spend = _billed_between(segs, -offset, records.stats.simulated_seconds)
    if month_spend > MONTHLY_BUDGET + MAX_SPEND_RATE * grace / 3600 + EPSILON:
        bad.append(f"${month_spend:.2f} against a monthly budget of ${MONTHLY_BUDGET:.2f}")
    by_job: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for pod in ix.pods:
        job_id = ix.job_of_pod(pod)
        if job_id is not None:
            by_job[job_id].append(pod)
    for job in records.jobs:
        if job["max_cost"] is None:
            continue
        pods = by_job.get(int(job["id"]), [])
        billed = sum(float(p["billed"]) for p in pods)
        rate = max((float(p["costPerHr"]) for p in pods), default=0.0)
        if billed > job["max_cost"] + rate * grace / 3600 + EPSILON:
            bad.append(f"{job['name']}: billed ${billed:.4f} against max_cost ${job['max_cost']}")
    how = "enforce = running" if records.budget_enforce_running else "launch gating only"
    return Check("budgets", bad, f"worst day ${worst:.2f} of ${DAILY_BUDGET:.2f} ({how})")


def ledger(records: Records, ix: _Index) -> Check:
    """The daemon's ledger agrees with the emulator's billing within 0.5%."""
    billed = sum(float(p["billed"]) for p in ix.pods)
    booked = sum(float(a["cost"] or 0.0) for a in records.attempts)
    gap = abs(booked - billed) / billed if billed > 0 else 0.0
    bad = []
    if gap > LEDGER_TOLERANCE:
        bad.append(f"ledger ${booked:.4f} vs billed ${billed:.4f}: {gap:.2%} apart")
    return Check("ledger vs billing", bad, f"{gap:.3%} (${booked:.2f} vs ${billed:.2f})")


def key_in_logs(records: Records, ix: _Index) -> Check:
    """The API key (or any 16 characters of it) appears in no log, file, scrape or argv."""
    key = records.api_key.encode()
    pieces = {key} | {key[i : i + 16] for i in range(0, len(key) - 15, 8)}
    bad = []
    for source, text in sorted(records.texts.items()):
        if key in text:
            bad.append(f"{source}: the key, {text.count(key)} time(s)")
        elif any(piece in text for piece in pieces):
            bad.append(f"{source}: 16 characters of the key")
    return Check("key in no log", bad, f"{len(records.texts)} sources searched")


def foreign_pods(records: Records, ix: _Index) -> Check:
    """A person's pods on the same account (one named `spotsched-...`) are never touched."""
    bad = []
    for pod in records.pods:
        if pod["id"] in records.foreign_pod_ids:
            events = [e["event"] for e in pod["events"] if e["event"] != "start"]
            if events or pod["desiredStatus"] != "RUNNING":
                bad.append(f"{pod['name']}: {pod['desiredStatus']} ({', '.join(events)})")
    return Check("neighbours' pods untouched", bad)


CHECKS = (
    lost_jobs,
    duplicate_pods,
    unknown_pods,
    orphans,
    false_successes,
    spend_rate,
    budgets,
    ledger,
    key_in_logs,
    foreign_pods,
)


def check_all(records: Records) -> list[Check]:
    ix = _Index(records)
    return [check(records, ix) for check in CHECKS]


def outcomes(records: Records) -> dict[str, Counter[str]]:
    """Final state per job kind (not an invariant: context for the report)."""
    states: dict[str, Counter[str]] = defaultdict(Counter)
    for job in records.jobs:
        states[records.kinds.get(job["name"], "?")][job["state"]] += 1
    return dict(states)


def unexpected_outcomes(records: Records) -> list[str]:
    """Jobs whose ending differs from the one their construction implies (context)."""
    expected = {
        JobKind.MAX_COST.value: {"failed"},
        JobKind.CANCEL.value: {"cancelled"},
    }
    out = []
    for job in records.jobs:
        kind = records.kinds.get(job["name"], "?")
        want = expected.get(kind, {"succeeded"})
        if job["state"] not in want:
            out.append(f"{job['name']}: {job['state']} ({job['state_reason']})")
    return out
