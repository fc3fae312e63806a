"""Metrics fed by real ticks: the Service against the emulator in-process, on a virtual clock.

Each test changes the world (a launch, a preemption, spot disappearing, RunPod failing) and
asserts that the series that should move, moved, and by how much.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduler.daemon.config import BudgetSection
from scheduler.emulator.faults import FaultRule
from scheduler.runpod.models import DeployRequest
from tests.metrics.conftest import GPU, START, Rig


def _running(rig: Rig, ticks: int = 6) -> None:
    for _ in range(ticks):
        rig.tick()
        if rig.value("spotsched_jobs", state="running") == 1:
            return
    raise AssertionError("the job never ran")


def test_a_spot_launch_moves_launch_bid_fleet_and_queue_series(rig: Rig) -> None:
    rig.pin(spot=0.20)
    rig.submit()
    assert rig.value("spotsched_launches_total", kind="spot", outcome="ok") == 0
    assert rig.value("spotsched_bids_total", gpu_type=GPU) is None

    rig.tick()
    assert rig.value("spotsched_launches_total", kind="spot", outcome="ok") == 1
    assert rig.value("spotsched_bids_total", gpu_type=GPU) == 1
    assert rig.value("spotsched_fallbacks_total", reason="spot_unavailable") is None
    # the snapshot this tick decided on still had the job queued, waiting 30 s
    assert rig.value("spotsched_jobs", state="queued") == 1

    rig.tick()
    assert rig.value("spotsched_jobs", state="queued") == 0
    assert rig.value("spotsched_pods", kind="spot", state="running") == 1
    assert rig.value("spotsched_burn_rate_dollars_per_hour", kind="spot") == pytest.approx(0.21)
    assert rig.value("spotsched_bid_dollars_per_gpu_hour", gpu_type=GPU) == pytest.approx(0.21)
    # the queue wait is observed once, when the new attempt first shows up
    assert rig.value("spotsched_queue_wait_seconds_count", kind="spot") == 1
    assert rig.value("spotsched_queue_wait_seconds_sum", kind="spot") == pytest.approx(30.0)
    rig.tick()
    assert rig.value("spotsched_queue_wait_seconds_count", kind="spot") == 1
    assert rig.value("spotsched_launches_total", kind="spot", outcome="ok") == 1


def test_market_series_follow_the_emulated_market(rig: Rig) -> None:
    rig.pin(spot=0.20, on_demand=0.40, stock=1)
    rig.tick()
    labels = {"gpu_type": GPU, "cloud_type": "SECURE"}
    assert rig.value("spotsched_spot_min_bid_dollars_per_gpu_hour", **labels) == 0.20
    assert rig.value("spotsched_on_demand_price_dollars_per_gpu_hour", **labels) == 0.40
    assert rig.value("spotsched_stock_level", **labels) == 1  # "Low"
    assert rig.value("spotsched_spot_available") == 1
    assert rig.value("spotsched_market_last_poll_timestamp_seconds") == (START.timestamp() + 30)
    rig.pin(spot=0.33, on_demand=0.45, stock=20)
    rig.tick(400)  # past price_sample_interval: a full poll
    assert rig.value("spotsched_spot_min_bid_dollars_per_gpu_hour", **labels) == 0.33
    assert rig.value("spotsched_stock_level", **labels) == 3  # "High"
    # every GPU type of the catalogue is listed, not just those the jobs want
    assert (
        rig.value(
            "spotsched_on_demand_price_dollars_per_gpu_hour",
            gpu_type="NVIDIA H200",
            cloud_type="SECURE",
        )
        == 3.99
    )


def test_spend_counters_are_the_ledger_and_only_grow(rig: Rig) -> None:
    rig.pin(spot=0.20, on_demand=0.40)
    rig.submit()
    _running(rig)
    seen = []
    for _ in range(5):
        rig.tick(600)
        seen.append(rig.value("spotsched_spend_dollars_total", kind="spot"))
    assert seen == sorted(seen) and seen[0] < seen[-1]
    ledger = {r["kind"]: r for r in rig.service.store.cost_report(None, "kind")}
    spot = ledger["spot"]
    assert rig.value("spotsched_spend_dollars_total", kind="spot") == pytest.approx(spot["spend"])
    assert rig.value("spotsched_on_demand_cost_dollars_total", kind="spot") == pytest.approx(
        spot["on_demand_cost"]
    )
    assert rig.value("spotsched_savings_dollars", kind="spot") == pytest.approx(spot["savings"])
    assert rig.value("spotsched_gpu_seconds_total", kind="spot") == pytest.approx(
        spot["gpu_hours"] * 3600
    )
    assert rig.value("spotsched_spend_dollars_total", kind="on_demand") == 0
    # 0.21 $/h bid against 0.40 $/h on-demand: savings are real and positive
    assert rig.value("spotsched_savings_dollars", kind="spot") > 0
    assert rig.value("spotsched_period_spend_dollars", period="day") == pytest.approx(spot["spend"])


def test_budget_series_exist_only_when_configured(make_rig) -> None:
    plain = make_rig()
    plain.tick()
    assert plain.value("spotsched_budget_remaining_dollars", period="day") is None
    assert plain.value("spotsched_spend_rate_cap_dollars_per_hour") is None

    rig = make_rig(budget=BudgetSection(daily=5.0, monthly=50.0, max_spend_rate=2.0))
    rig.pin(spot=0.20)
    rig.submit()
    _running(rig)
    for _ in range(4):
        rig.tick(900)
    spent = rig.value("spotsched_period_spend_dollars", period="day")
    assert spent > 0
    assert rig.value("spotsched_budget_dollars", period="day") == 5.0
    assert rig.value("spotsched_budget_remaining_dollars", period="day") == pytest.approx(5 - spent)
    assert rig.value("spotsched_budget_remaining_dollars", period="month") == pytest.approx(
        50 - rig.value("spotsched_period_spend_dollars", period="month")
    )
    assert rig.value("spotsched_spend_rate_cap_dollars_per_hour") == 2.0


def test_a_preemption_is_counted_and_the_resume_too(rig: Rig) -> None:
    rig.pin(spot=0.20)
    rig.submit()
    _running(rig)
    assert rig.value("spotsched_preemptions_total", gpu_type=GPU) is None
    [pod] = rig.live_pods()
    rig.emu.preempt(pod["id"])
    rig.tick()
    assert rig.value("spotsched_preemptions_total", gpu_type=GPU) == 1
    resumed = 0.0
    for _ in range(6):
        rig.tick()
        resumed = sum(
            rig.value("spotsched_resumes_total", outcome=o) or 0
            for o in ("ok", "failed", "spot_unsupported", "unknown")
        )
        if resumed:
            break
    assert resumed >= 1
    assert rig.value("spotsched_bids_total", gpu_type=GPU) >= 2  # the launch and the resume


def test_without_spot_the_job_falls_back_to_on_demand_and_says_why(rig: Rig) -> None:
    rig.pin(spot=0.20, on_demand=0.40)
    rig.emu.set_spot_enabled(False)
    rig.submit(max_on_demand_price=0.45)
    rig.tick()
    assert rig.value("spotsched_spot_available") == 0
    assert rig.value("spotsched_fallbacks_total", reason="spot_unavailable") == 1
    assert rig.value("spotsched_launches_total", kind="on_demand", outcome="ok") == 1
    assert rig.value("spotsched_launches_total", kind="spot", outcome="ok") == 0
    rig.tick()
    assert rig.value("spotsched_burn_rate_dollars_per_hour", kind="on_demand") == pytest.approx(
        0.40
    )
    labels = {"gpu_type": GPU, "cloud_type": "SECURE"}
    assert rig.value("spotsched_spot_min_bid_dollars_per_gpu_hour", **labels) is None
    assert (
        rig.value("spotsched_job_price_limit_dollars_per_gpu_hour", gpu_type=GPU, kind="on_demand")
        == 0.45
    )


def test_an_idle_pod_is_stopped_and_counted(rig: Rig) -> None:
    rig.pin(spot=0.20)
    rig.submit(
        env={"SPOTSCHED_SIM_BUSY_SECONDS": "30", "SPOTSCHED_SIM_THEN": "idle"},
        idle_timeout="60s",
        idle_grace=0,
    )
    for _ in range(12):
        rig.tick()
        if rig.value("spotsched_idle_stops_total", kind="spot"):
            break
    assert rig.value("spotsched_idle_stops_total", kind="spot") == 1
    assert rig.value("spotsched_attempts_ended_total", kind="spot", reason="idle") == 1


def test_an_orphan_pod_is_terminated_and_counted(rig: Rig) -> None:
    rig.pin(on_demand=0.40)
    ours = rig.service.store.installation(rig.clock.now())
    name = f"spotsched-{ours}-99-1"  # this installation's name, no job owns it
    rig.service.client.deploy(
        DeployRequest(name=name, image_name="img", gpu_type_id=GPU, cloud_type="SECURE")
    )
    rig.tick()
    assert rig.value("spotsched_stray_pods_ended_total", reason="orphan") is None
    rig.tick(90)  # past orphan_grace
    assert rig.value("spotsched_stray_pods_ended_total", reason="orphan") == 1


def test_failing_pod_listings_fail_ticks_and_go_unhealthy(rig: Rig) -> None:
    rig.tick()
    assert rig.value("spotsched_up") == 1
    last = rig.value("spotsched_last_successful_tick_timestamp_seconds")
    rig.emu.inject_faults(FaultRule(kind="http_503", match="ListPods"))
    rig.tick()
    assert rig.value("spotsched_ticks_total", outcome="failed") == 1
    assert (
        rig.value("spotsched_runpod_requests_total", operation="list_pods", outcome="transient")
        >= 1
    )
    assert rig.value("spotsched_last_successful_tick_timestamp_seconds") == last
    assert rig.value("spotsched_up") == 1  # 30 s + retries, within stale_after (120 s)
    rig.tick(120)
    assert rig.value("spotsched_up") == 0
    assert rig.metrics.health() is not None and "ago" in rig.metrics.health()
    rig.emu.clear_faults()
    rig.tick()
    assert rig.value("spotsched_up") == 1
    assert rig.value("spotsched_last_successful_tick_timestamp_seconds") > last


def test_a_failing_market_poll_is_counted_and_keeps_its_timestamp(rig: Rig) -> None:
    rig.tick()
    polled = rig.value("spotsched_market_last_poll_timestamp_seconds")
    rig.emu.inject_faults(FaultRule(kind="http_503", match="gpuTypes"))
    rig.tick(400)
    assert rig.value("spotsched_market_poll_errors_total", reason="transient") == 1
    assert rig.value("spotsched_market_last_poll_timestamp_seconds") == polled
    # prices stay from the last poll (within the market's max age)
    assert (
        rig.value(
            "spotsched_on_demand_price_dollars_per_gpu_hour",
            gpu_type="NVIDIA H200",
            cloud_type="SECURE",
        )
        == 3.99
    )


def test_a_refused_api_key_raises_the_auth_flag(make_rig) -> None:
    rig = make_rig(api_key="not-the-key")
    rig.tick()
    assert rig.value("spotsched_runpod_auth_failing") == 1
    assert rig.value("spotsched_ticks_total", outcome="failed") == 1
    assert (
        rig.value(
            "spotsched_runpod_requests_total", operation="list_pods", outcome="authentication"
        )
        == 1
    )


def test_before_the_first_tick_the_daemon_is_not_up_and_says_why(rig: Rig) -> None:
    assert rig.value("spotsched_build_info", version="9.9.9-test") == 1
    assert rig.value("spotsched_up") == 0
    assert rig.metrics.health() == "no successful tick yet"
    assert rig.value("spotsched_last_successful_tick_timestamp_seconds") is None
    rig.tick()
    assert rig.value("spotsched_up") == 1
    assert rig.metrics.health() is None


def test_a_missed_deadline_is_counted_once(rig: Rig) -> None:
    rig.pin(spot=0.20)
    rig.submit("late", deadline=START + timedelta(minutes=2))
    rig.submit("on-time")  # no deadline: never counted
    assert rig.value("spotsched_deadlines_missed_total") == 0
    for _ in range(3):
        rig.tick()
    assert rig.value("spotsched_deadlines_missed_total") == 0  # 90 s: not yet

    for _ in range(10):
        rig.tick()

    assert rig.value("spotsched_deadlines_missed_total") == 1
