"""Replaying the daemon's own `price_samples`: record a market with the real daemon, then ask
what a job would have cost on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from scheduler.backtest.jobs import paper_job
from scheduler.backtest.markets import recorded_market
from scheduler.backtest.study import Study, fold
from scheduler.backtest.sweep import run_tasks
from scheduler.daemon.config import DatabaseSection, SchedulerSection, Settings
from scheduler.daemon.service import Service
from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator
from scheduler.policy.config import Strategy
from scheduler.store import open_engine

T0 = datetime(2026, 3, 2, tzinfo=UTC)
A40 = "NVIDIA A40"
HOUR = 3600.0


def record(path: Path) -> str:
    """Three hours of a daemon with no jobs sampling prices every 5 minutes: A40 spot at
    $0.20 for the first hour, then no spot stock; on-demand $0.40 throughout."""
    url = f"sqlite:///{path}"
    clock = VirtualClock(T0)
    emu = Emulator(clock, seed=1)
    emu.set_market(A40, "SECURE", spot_price=0.20, on_demand_price=0.40, stock=8)
    settings = Settings(
        state_dir=str(path.parent),
        database=DatabaseSection(url=url),
        scheduler=SchedulerSection(tick_interval=60, price_sample_interval=300),
    )
    engine = open_engine(url)
    with httpx.Client(transport=emu.transport(), base_url="https://api.runpod.io") as http:
        service = Service(settings, clock=clock, http=http, engine=engine, api_key="k")
        service.prepare()
        for minute in range(181):
            if minute == 60:
                emu.set_market(A40, "SECURE", stock=0)
            service.tick()
            clock.advance(60)
    engine.dispose()
    return url


def test_a_recorded_market_replays_what_the_daemon_saw(tmp_path: Path) -> None:
    url = record(tmp_path / "recorded.db")
    market = recorded_market(url, gpu_type_ids=[A40])
    assert market.gap_seconds == 300 and market.start == T0
    series = market.find(A40, True)
    assert series is not None
    assert series.spot[:12] == (0.2,) * 12
    assert set(series.spot[12:]) == {None}
    assert set(series.on_demand) == {0.4}

    # 30 minutes of work due in 2 hours, 60-second start-up: spot at the bid
    # min(limit $0.21, $0.20 x 1.05) from the start, done within the first hour.
    job = paper_job(
        compute_hours=0.5,
        deadline_hours=2,
        gpu_type_id=A40,
        max_spot_price=0.21,
        max_on_demand_price=0.40,
    )
    study = Study(
        market=market,
        jobs=(job,),
        starts=(T0,),
        changeover=60.0,
        policies=(Strategy.ON_DEMAND, Strategy.GREEDY, Strategy.DEFAULT),
    )
    results, _ = run_tasks(study.tasks(), workers=1)
    out = fold(results).summaries
    assert out["greedy"].cost == pytest.approx(0.21 * 1860 / HOUR)
    assert out["default"].cost == pytest.approx(0.21 * 1860 / HOUR)
    assert out["on_demand"].cost == pytest.approx(0.40 * 1860 / HOUR)
    assert out["optimum"].cost == pytest.approx(0.20 * 1860 / HOUR)
    assert all(s.deadline_misses == 0 for s in out.values())


def test_a_later_start_in_the_recording_finds_no_spot(tmp_path: Path) -> None:
    url = record(tmp_path / "recorded.db")
    market = recorded_market(url, since=T0 + timedelta(hours=1), gpu_type_ids=[A40])
    assert set(market.series[0].spot) == {None}
