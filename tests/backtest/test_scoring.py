"""Scoring: savings, the normalised score, switches and the two reference costs."""

from __future__ import annotations

import pytest

from scheduler.backtest.optimum import Slot
from scheduler.backtest.scoring import (
    JobOutcome,
    on_demand_reference,
    savings,
    score,
    spot_reference,
    summarise,
    switches,
)


def test_savings_and_score() -> None:
    assert savings(75.0, 100.0) == pytest.approx(0.25)
    assert score(100.0, 100.0, 30.0) == 0.0
    assert score(30.0, 100.0, 30.0) == 1.0
    assert score(65.0, 100.0, 30.0) == pytest.approx(0.5)
    assert score(50.0, 100.0, None) is None
    assert savings(1.0, 0.0) is None


def test_switches_count_changes_of_kind() -> None:
    assert switches([]) == 0
    assert switches(["spot", "spot", "spot"]) == 0
    assert switches(["spot", "on_demand", "spot", "spot", "on_demand"]) == 3


def test_on_demand_reference_follows_the_price_over_time() -> None:
    market = [Slot(600, None, 3.0), Slot(600, None, 6.0), Slot(600, None, 9.0)]
    assert on_demand_reference(market, 900) == pytest.approx(3.0 / 6 + 6.0 / 12)


def test_spot_reference_is_time_weighted_over_offered_slots() -> None:
    market = [Slot(600, 1.0, 3.0), Slot(1200, 2.0, 3.0), Slot(600, None, 3.0)]
    mean = (1.0 * 600 + 2.0 * 1200) / 1800
    assert spot_reference(market, 3600) == pytest.approx(mean)
    assert spot_reference([Slot(600, None, 3.0)], 3600) is None


def outcome(cost: float, missed: bool = False, spot_only: float | None = 10.0) -> JobOutcome:
    return JobOutcome(
        name="j",
        state="succeeded",
        deadline=None,
        finished_at=None,
        missed=missed,
        cost=cost,
        ledger_cost=cost,
        on_demand_cost=100.0,
        spot_only_cost=spot_only,
        spot_hours=1.0,
        on_demand_hours=2.0,
        preemptions=1,
        switches=2,
        attempts=3,
        waste=0.5,
    )


def test_summaries_are_ratios_of_sums() -> None:
    s = summarise("default", [outcome(40.0), outcome(80.0, missed=True)])
    assert s.savings == pytest.approx(1 - 120 / 200)
    assert s.score == pytest.approx((200 - 120) / (200 - 20))
    d = s.as_dict()
    assert (d["deadline_misses"], d["preemptions"], d["switches"], d["jobs"]) == (1, 2, 4, 2)
    assert (d["mean_spot_hours"], d["mean_on_demand_hours"]) == (1.0, 2.0)
    assert summarise("x", [outcome(40.0, spot_only=None)]).score is None
