"""Whole backtest runs: the real daemon against the emulator, on markets with known answers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from scheduler.backtest.jobs import paper_job
from scheduler.backtest.markets import Market, Scenario, Series, synthetic_market
from scheduler.backtest.runner import RunSpec, run
from scheduler.backtest.study import ALL_POLICIES, Study, fold
from scheduler.backtest.sweep import run_tasks
from scheduler.policy.config import Strategy

T0 = datetime(2026, 1, 5, tzinfo=UTC)
HOUR = 3600.0
SPOT, OD = 1.0, 3.0
D = 180.0  # changeover: 3 minutes
WORK = 2 * HOUR


def flat_market(available: bool, steps: int = 6 * 30) -> Market:
    series = Series("TRACE-GPU", True, ((SPOT if available else None),) * steps, (OD,) * steps)
    return Market("flat", T0, 600.0, (series,))


def job(deadline_hours: float = 4.0) -> object:
    return paper_job(
        compute_hours=WORK / HOUR,
        deadline_hours=deadline_hours,
        gpu_type_id="TRACE-GPU",
        max_spot_price=SPOT,
        max_on_demand_price=OD,
    )


def study(market: Market, **kw: object) -> Study:
    return Study(market=market, jobs=(job(),), starts=(T0,), changeover=D, **kw)  # type: ignore[arg-type]


def summaries(market: Market) -> dict[str, dict[str, object]]:
    results, _ = run_tasks(study(market).tasks(), workers=1)
    return {name: s.as_dict() for name, s in fold(results).summaries.items()}


def test_always_available_spot_every_spot_policy_pays_spot_for_work_and_one_changeover() -> None:
    out = summaries(flat_market(available=True))
    for name in ("greedy", "uniform_progress", "default", "optimum"):
        assert out[name]["cost"] == pytest.approx(SPOT * (WORK + D) / HOUR), name
        assert out[name]["deadline_misses"] == 0
        assert out[name]["spot_hours"] == pytest.approx(WORK / HOUR)
        assert out[name]["score"] == pytest.approx(1.0)
    assert out["on_demand"]["cost"] == pytest.approx(OD * (WORK + D) / HOUR)
    assert out["on_demand"]["savings"] == 0


def test_never_available_spot_every_policy_pays_on_demand_for_its_starts() -> None:
    results, _ = run_tasks(study(flat_market(available=False)).tasks(), workers=1)
    for result in results:
        (o,) = result.jobs
        assert not o.missed, result.policy
        assert (o.spot_hours, o.on_demand_hours) == (0, pytest.approx(WORK / HOUR))
        # every start of a pod costs one changeover at the on-demand price
        assert o.cost == pytest.approx(OD * (WORK + o.attempts * D) / HOUR), result.policy
        if result.policy != Strategy.UNIFORM_PROGRESS:  # it idles once ahead by 2d (the paper)
            assert o.attempts == 1, result.policy


def volatile() -> Market:
    return synthetic_market(
        Scenario(
            gpu_type_id="TRACE-GPU",
            on_demand=OD,
            spot_ratio=SPOT / OD,
            volatility=0.0,
            mean_up_hours=0.7,
            mean_down_hours=0.6,
            hours=24,
            seed=5,
            start=T0,
        )
    )


@pytest.mark.parametrize("policy", list(ALL_POLICIES), ids=lambda p: p.value)
def test_leaving_out_quiet_ticks_changes_nothing(policy: Strategy) -> None:
    spec = RunSpec(
        policy=policy,
        market=volatile(),
        jobs=(
            replace(job(), runtime=6 * HOUR, spec=replace(job().spec, estimated_runtime=6 * HOUR)),
        ),
        start=T0,
        changeover=720.0,
    )
    skipping, every = run(spec), run(replace(spec, skip_quiet=False))
    assert every.skipped == 0 and skipping.skipped > 0
    assert skipping.ticks < every.ticks
    (a,), (b,) = skipping.jobs, every.jobs
    assert a.cost == pytest.approx(b.cost, rel=1e-9)
    assert a.ledger_cost == pytest.approx(b.ledger_cost, rel=1e-9)
    assert (a.state, a.finished_at, a.preemptions, a.switches, a.attempts) == (
        b.state,
        b.finished_at,
        b.preemptions,
        b.switches,
        b.attempts,
    )
    assert a.spot_hours == pytest.approx(b.spot_hours)


def test_the_ledger_agrees_with_what_the_emulator_billed() -> None:
    spec = RunSpec(
        policy=Strategy.GREEDY, market=volatile(), jobs=(job(),), start=T0, changeover=720.0
    )
    (outcome,) = run(spec).jobs
    assert outcome.preemptions > 0
    assert outcome.ledger_cost == pytest.approx(outcome.cost, rel=1e-6)


def test_results_do_not_depend_on_the_number_of_processes() -> None:
    tasks = Study(
        market=volatile(),
        jobs=(job(),),
        starts=(T0, T0 + timedelta(hours=3)),
        changeover=D,
        policies=(Strategy.GREEDY, Strategy.DEFAULT),
    ).tasks()
    alone, _ = run_tasks(tasks, workers=1)
    spread, stats = run_tasks(tasks, workers=2)
    assert stats.workers == 2
    assert [r.jobs for r in alone] == [r.jobs for r in spread]
