"""The hindsight optimum: hand-computed cases and exhaustive search on small markets."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.backtest.optimum import IDLE, ON_DEMAND, SPOT, Slot, optimum

SPOT_PRICE, OD_PRICE = 1.0, 3.0


def slots(availability: str, seconds: float = 600.0) -> list[Slot]:
    """'SS..S' -> slots with spot ('S') or without ('.')."""
    return [Slot(seconds, SPOT_PRICE if c == "S" else None, OD_PRICE) for c in availability]


def test_always_available_spot_costs_the_spot_price_for_work_plus_one_changeover() -> None:
    plan = optimum(slots("S" * 12), work=3600, changeover=600)
    assert plan.cost == pytest.approx(SPOT_PRICE * (3600 + 600) / 3600)
    assert (plan.spot_seconds, plan.on_demand_seconds, plan.changeovers) == (3600, 0, 1)


def test_never_available_spot_costs_on_demand_for_work_plus_one_changeover() -> None:
    plan = optimum(slots("." * 12), work=3600, changeover=600)
    assert plan.cost == pytest.approx(OD_PRICE * (3600 + 600) / 3600)
    assert plan.on_demand_seconds == 3600 and plan.switches == 0


def test_hand_computed_waiting_for_the_late_spot_window() -> None:
    # 15 min of work, 5 min changeover, spot in slot 0 and in slots 4-5 (10-minute slots).
    # Slots 4-5 fit changeover + work exactly: $1/h x 20 min = $0.333. Using slot 0 as well
    # costs two changeovers ($0.417); on-demand from the start costs $3/h x 20 min = $1.
    plan = optimum(slots("S...SS"), work=900, changeover=300)
    assert plan.cost == pytest.approx(1 / 3)
    assert plan.modes == (IDLE, IDLE, IDLE, IDLE, SPOT, SPOT)


def test_hand_computed_switch_to_on_demand_when_spot_ends_too_soon() -> None:
    # 30 min of work in 40 min, d = 5 min. Spot only in the first 10 minutes. All on-demand:
    # 35 min x $3 = $1.75. Spot first (5 min changeover + 5 min work = $0.1667), then
    # on-demand: 5 min changeover + 25 min work = 30 min x $3 = $1.50 -> $1.667 in total.
    plan = optimum(slots("S..."), work=1800, changeover=300)
    assert plan.cost == pytest.approx(1 / 6 + 1.5)
    assert plan.modes[:1] == (SPOT,) and set(plan.modes[1:]) == {ON_DEMAND}
    assert (plan.switches, plan.changeovers) == (1, 2)


def test_billing_stops_when_the_work_is_done_mid_slot() -> None:
    plan = optimum(slots("SS"), work=600, changeover=300)
    assert plan.cost == pytest.approx(SPOT_PRICE * 900 / 3600)


def test_a_changeover_longer_than_a_slot_carries_over() -> None:
    plan = optimum(slots("..."), work=600, changeover=720)
    assert plan.cost == pytest.approx(OD_PRICE * 1320 / 3600)


def test_work_that_cannot_fit_is_infeasible() -> None:
    assert not optimum(slots("SSS"), work=1800, changeover=60).feasible


def brute_force(market: list[Slot], work: int, changeover: int) -> float:
    """Try every sequence of modes with the same rules, slot by slot."""
    best = math.inf
    for modes in itertools.product((IDLE, SPOT, ON_DEMAND), repeat=len(market)):
        cost, left, pending, prev = 0.0, work, 0, IDLE
        for slot, mode in zip(market, modes, strict=True):
            if mode == SPOT and slot.spot is None:
                break
            if mode == IDLE:
                prev, pending = IDLE, 0
                continue
            if mode != prev:
                pending = changeover
            price = slot.spot if mode == SPOT else slot.on_demand
            assert price is not None
            used = min(pending, slot.seconds)
            progress = min(slot.seconds - used, left)
            cost += price * (used + progress) / 3600
            pending, left, prev = pending - used, left - progress, mode
            if left == 0:
                best = min(best, cost)
                break
    return best


@settings(max_examples=60, deadline=None)
@given(
    availability=st.text(alphabet="S.", min_size=1, max_size=6),
    work=st.sampled_from([60, 300, 600, 900, 1500, 2400]),
    changeover=st.sampled_from([0, 60, 180, 300, 720]),
    spot_price=st.sampled_from([0.5, 1.0, 2.9]),
)
def test_the_programme_finds_what_exhaustive_search_finds(
    availability: str, work: int, changeover: int, spot_price: float
) -> None:
    market = [Slot(600, spot_price if c == "S" else None, OD_PRICE) for c in availability]
    expected = brute_force(market, work, changeover)
    plan = optimum(market, work, changeover)
    if math.isinf(expected):
        assert not plan.feasible
    else:
        assert plan.cost == pytest.approx(expected)
        assert sum(plan.slot_costs) == pytest.approx(plan.cost)
        assert plan.spot_seconds + plan.on_demand_seconds == pytest.approx(work)
