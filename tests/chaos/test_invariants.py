"""The chaos checks are not vacuous: fed records with a known fault, each one reports it (and a
clean record passes). Records are built as the emulator and the database would show them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.chaos.invariants import _Index as Index
from tests.chaos.invariants import (
    budgets,
    check_all,
    duplicate_pods,
    false_successes,
    key_in_logs,
    ledger,
    lost_jobs,
    orphans,
    spend_rate,
    unknown_pods,
)
from tests.chaos.records import Records, RunStats
from tests.chaos.scenario import MAX_SPEND_RATE, make_scenario

START = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
KEY = "rpa_CHAOSKEY0123456789ABCDEF0123456789"


def _at(hours: float) -> str:
    return (START + timedelta(hours=hours)).isoformat()


def _pod(name: str, segs: list[tuple[float, float | None, float]], **kw: Any) -> dict[str, Any]:
    billed = sum(rate * ((end if end is not None else 10.0) - s) for s, end, rate in segs)
    pod = {
        "id": f"id-{name}",
        "name": name,
        "desiredStatus": "TERMINATED",
        "podType": "INTERRUPTABLE",
        "costPerHr": segs[-1][2] if segs else 0.0,
        "billed": billed,
        "preemptions": 0,
        "events": [{"at": _at(0), "event": "start"}, {"at": _at(1), "event": "work_done"}],
        "billingSegments": [
            {"start": _at(s), "end": None if e is None else _at(e), "costPerHr": r}
            for s, e, r in segs
        ],
        "jobId": None,
    }
    return pod | kw


def _records(
    pods: list[dict[str, Any]],
    jobs: list[dict[str, Any]],
    attempts: list[dict[str, Any]],
    texts: dict[str, bytes] | None = None,
) -> Records:
    stats = RunStats(simulated_seconds=10 * 3600.0)
    return Records(
        scenario=make_scenario(1, days=0.5, kills=1, step=60.0),
        stats=stats,
        start=START,
        kinds={j["name"]: j["name"].split("-")[0] for j in jobs},
        pods=pods,
        requests={"total": 0, "faults": {}},
        jobs=jobs,
        attempts=attempts,
        api_key=KEY,
        texts=texts or {"daemon log": b'{"event": "tick"}'},
        budget_enforce_running=True,
        foreign_pod_ids=[],
    )


def _job(job_id: int, name: str, state: str, **kw: Any) -> dict[str, Any]:
    row = {"id": job_id, "name": name, "state": state, "state_reason": "r", "max_cost": None}
    return row | {"on_idle": "terminate"} | kw


def _attempt(job_id: int, name: str, cost: float, **kw: Any) -> dict[str, Any]:
    row = {"job_id": job_id, "number": 1, "pod_name": name, "pod_id": f"id-{name}"}
    return row | {"state": "ended", "end_reason": "completed", "cost": cost} | kw


def _clean() -> Records:
    pod = _pod("spotsched-1-1", [(0.0, 2.0, 0.5)])
    return _records([pod], [_job(1, "finish-1", "succeeded")], [_attempt(1, "spotsched-1-1", 1.0)])


def test_a_clean_run_passes_every_check() -> None:
    assert [c.name for c in check_all(_clean()) if not c.ok] == []


def test_a_killed_job_recorded_as_succeeded_is_a_false_success() -> None:
    pod = _pod("spotsched-1-1", [(0.0, 2.0, 0.5)])
    pod["events"] = [{"at": _at(0), "event": "start"}, {"at": _at(2), "event": "terminated"}]
    records = _records(
        [pod], [_job(1, "max_cost-1", "succeeded")], [_attempt(1, "spotsched-1-1", 1.0)]
    )
    check = false_successes(records, Index(records))
    assert len(check.violations) == 1
    assert "never ends" in check.violations[0]


def test_two_pods_of_one_job_billing_together_are_duplicates() -> None:
    pods = [
        _pod("spotsched-1-1", [(0.0, 2.0, 0.5)], jobId="1"),
        _pod("spotsched-1-2", [(1.5, 3.0, 0.5)], jobId="1"),
    ]
    attempts = [_attempt(1, "spotsched-1-1", 1.0), _attempt(1, "spotsched-1-2", 0.75, number=2)]
    records = _records(pods, [_job(1, "finish-1", "succeeded")], attempts)
    assert len(duplicate_pods(records, Index(records)).violations) == 1


def test_a_pod_without_an_attempt_is_unknown_and_a_running_one_is_an_orphan() -> None:
    records = _clean()
    records.pods.append(_pod("spotsched-9-1", [(0.0, None, 0.3)], desiredStatus="RUNNING"))
    index = Index(records)
    assert len(unknown_pods(records, index).violations) == 1
    assert len(orphans(records, index).violations) == 1


def test_a_job_still_running_after_the_drain_is_lost() -> None:
    records = _clean()
    records.jobs[0]["state"] = "running"
    assert len(lost_jobs(records, Index(records)).violations) == 1


def test_spend_over_the_cap_for_a_moment_is_caught() -> None:
    half = MAX_SPEND_RATE / 2 + 0.01
    pods = [_pod("spotsched-1-1", [(0.0, 2.0, half)]), _pod("spotsched-2-1", [(1.0, 3.0, half)])]
    attempts = [_attempt(1, "spotsched-1-1", 2 * half), _attempt(2, "spotsched-2-1", 2 * half)]
    jobs = [_job(1, "finish-1", "succeeded"), _job(2, "finish-2", "succeeded")]
    records = _records(pods, jobs, attempts)
    assert len(spend_rate(records, Index(records)).violations) == 1


def test_a_job_billed_past_its_max_cost_breaks_the_budget() -> None:
    records = _clean()
    records.jobs[0]["max_cost"] = 0.2
    assert len(budgets(records, Index(records)).violations) == 1


def test_the_ledger_may_be_half_a_percent_off_and_no_more() -> None:
    records = _clean()  # billed $1.00
    records.attempts[0]["cost"] = 1.004
    assert ledger(records, Index(records)).ok
    records.attempts[0]["cost"] = 1.006
    assert not ledger(records, Index(records)).ok


def test_the_key_or_a_piece_of_it_in_any_text_is_caught() -> None:
    for leak in (KEY, KEY[8:24]):
        records = _clean()
        records.texts["daemon log"] = f'{{"error": "bad header {leak}"}}'.encode()
        (violation,) = key_in_logs(records, Index(records)).violations
        assert violation.startswith("daemon log: ")
