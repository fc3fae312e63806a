"""Markets: traces (0 = available), recorded samples on a grid, seeded synthetic scenarios."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.backtest.markets import (
    MarketError,
    Sample,
    Scenario,
    market_from_samples,
    synthetic_market,
    trace_market,
)

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def write_trace(tmp_path: Path, data: list[int], gap: int = 600) -> Path:
    path = tmp_path / "trace.json"
    path.write_text(json.dumps({"metadata": {"gap_seconds": gap}, "data": data}))
    return path


def test_a_zero_in_a_trace_means_spot_is_available(tmp_path: Path) -> None:
    market = trace_market(
        write_trace(tmp_path, [0, 1, 0, 2]),
        gpu_type_id="X",
        spot_price=1.0,
        on_demand_price=3.0,
        start=T0,
    )
    (series,) = market.series
    assert series.spot == (1.0, None, 1.0, None)
    assert series.on_demand == (3.0,) * 4
    assert (market.steps, market.end) == (4, T0 + timedelta(minutes=40))


def test_a_window_keeps_only_the_steps_a_run_needs(tmp_path: Path) -> None:
    market = trace_market(
        write_trace(tmp_path, [0, 1, 0, 2, 0]),
        gpu_type_id="X",
        spot_price=1.0,
        on_demand_price=3.0,
        start=T0,
    )
    part = market.window(T0 + timedelta(minutes=15), T0 + timedelta(minutes=35))
    assert part.start == T0 + timedelta(minutes=10)
    assert part.series[0].spot == (None, 1.0, None)


def test_slots_cut_at_steps_and_the_job_window(tmp_path: Path) -> None:
    market = trace_market(
        write_trace(tmp_path, [0, 1]),
        gpu_type_id="X",
        spot_price=1.0,
        on_demand_price=3.0,
        start=T0,
    )
    cut = market.slots(market.series, T0 + timedelta(minutes=5), T0 + timedelta(minutes=25))
    assert [(s.seconds, s.spot) for s in cut] == [(300, 1.0), (600, None), (300, None)]


def test_recorded_samples_are_resampled_onto_their_median_interval() -> None:
    def sample(minutes: int, spot: float | None, stock: str | None = "High") -> Sample:
        return Sample(T0 + timedelta(minutes=minutes), "A40", True, spot, 0.4, stock)

    rows = [sample(0, 0.2), sample(5, 0.25), sample(10, None), sample(20, 0.3, stock=None)]
    market = market_from_samples(rows)
    assert market.gap_seconds == 300
    (series,) = market.series
    # minute 15 repeats minute 10; listed without stock is no spot offer
    assert series.spot == (0.2, 0.25, None, None, None)
    assert series.on_demand == (0.4,) * 5


def test_no_samples_for_the_jobs_types_is_an_error() -> None:
    with pytest.raises(MarketError):
        market_from_samples([], gpu_type_ids=["A40"])


def test_synthetic_markets_are_seeded() -> None:
    a = synthetic_market(Scenario(seed=3, hours=48))
    b = synthetic_market(Scenario(seed=3, hours=48))
    c = synthetic_market(Scenario(seed=4, hours=48))
    assert a == b and a != c
    spots = a.series[0].spot
    assert len(spots) == 48 * 6
    assert any(p is None for p in spots) and any(p is not None for p in spots)
    assert all(p is None or 0 < p < 3.06 for p in spots)
