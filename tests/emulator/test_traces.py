"""Replaying markets: price traces, the measured spot availability traces, file validation."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator, MarketFileError, load_market_file, market_from_json

from .conftest import POD, SPOT, START, gql_for, pod_input

TRACES = Path(__file__).resolve().parents[3] / "shared" / "data" / "spot-traces"
A40 = "NVIDIA A40"
LOW = (
    '{ gpuTypes(input: {id: "NVIDIA A40"}) { secureSpotPrice securePrice '
    "lowestPrice(input: {gpuCount: 1, secureCloud: true}) "
    "{ minimumBidPrice uninterruptablePrice } } }"
)


def low(g) -> dict:
    return g(LOW)["gpuTypes"][0]


def test_price_trace_replay_and_hold_last_value(tmp_path):
    path = tmp_path / "market.json"
    path.write_text(
        json.dumps(
            {
                "gap_seconds": 600,
                "series": [
                    {
                        "gpuTypeId": A40,
                        "cloudType": "SECURE",
                        "spot": [0.2, 0.25, None, 0.22],
                        "onDemand": [0.44, 0.45],
                    }
                ],
            }
        )
    )
    clock = VirtualClock(START)
    emu = Emulator(clock, market=load_market_file(path))
    g = gql_for(emu)
    seen = []
    for _ in range(6):
        item = low(g)
        seen.append((item["lowestPrice"]["minimumBidPrice"], item["securePrice"]))
        clock.advance(600)
    assert seen == [
        (0.2, 0.44),
        (0.25, 0.45),
        (None, 0.45),
        (0.22, 0.45),
        (0.22, 0.45),
        (0.22, 0.45),
    ]


def test_trace_with_start_time_and_preemption_when_spot_disappears():
    market = market_from_json(
        {
            "gap_seconds": 60,
            "start": (START + timedelta(minutes=5)).isoformat(),
            "series": [{"gpuTypeId": A40, "cloudType": "SECURE", "spot": [0.2, 0.2, 0.5, 0.2]}],
        }
    )
    clock = VirtualClock(START)
    emu = Emulator(clock, market=market)
    g = gql_for(emu)
    assert low(g)["secureSpotPrice"] == 0.2  # before start: the first value holds
    pod_id = g(SPOT, {"input": pod_input(bidPerGpu=0.3)})["podRentInterruptable"]["id"]
    clock.advance(5 * 60 + 119)
    assert g(POD, {"id": pod_id})["pod"]["desiredStatus"] == "RUNNING"
    clock.advance(1)
    assert g(POD, {"id": pod_id})["pod"]["desiredStatus"] == "EXITED"
    assert emu.billing_total(pod_id) == pytest.approx(0.3 * 420 / 3600, rel=1e-12)


def test_availability_trace_from_the_measured_data():
    path = TRACES / "us-west-2a_k80_1.json"
    data = json.loads(path.read_text())["data"]
    gap = 600
    market = load_market_file(
        path, gpu_type_id=A40, cloud_type="SECURE", spot_price=0.21, on_demand_price=0.44
    )
    clock = VirtualClock(START)
    emu = Emulator(clock, market=market)
    g = gql_for(emu)
    for step in range(12):
        item = low(g)
        expected = 0.21 if data[step] == 0 else None
        assert item["lowestPrice"]["minimumBidPrice"] == expected, step
        assert item["secureSpotPrice"] == expected
        assert item["lowestPrice"]["uninterruptablePrice"] == 0.44
        clock.advance(gap)
    # A spot pod launched in an available stretch is preempted when the trace turns unavailable.
    first_free = next(i for i in range(12, len(data) - 1) if data[i] == 0)
    clock.set(START + timedelta(seconds=first_free * gap))
    pod_id = g(SPOT, {"input": pod_input(bidPerGpu=0.25)})["podRentInterruptable"]["id"]
    end = next(i for i in range(first_free, len(data)) if data[i] != 0)
    clock.set(START + timedelta(seconds=end * gap - 1))
    assert g(POD, {"id": pod_id})["pod"]["desiredStatus"] == "RUNNING"
    clock.advance(1)
    assert g(POD, {"id": pod_id})["pod"]["desiredStatus"] == "EXITED"
    running = next(p for p in emu.state()["pods"])["runningSeconds"]
    assert running == (end - first_free) * gap
    error = g.error(SPOT, {"input": pod_input(bidPerGpu=5.0)})
    assert error["message"].startswith("There are no instances available")


def test_trace_runs_out_and_holds_its_last_value():
    market = market_from_json(
        {"metadata": {"gap_seconds": 600}, "data": [1, 0]}, gpu_type_id=A40, spot_price=0.2
    )
    clock = VirtualClock(START)
    emu = Emulator(clock, market=market)
    g = gql_for(emu)
    assert low(g)["secureSpotPrice"] is None
    clock.advance(600 * 1000)
    assert low(g)["secureSpotPrice"] == 0.2


def test_other_keys_follow_the_model():
    market = market_from_json(
        {"gap_seconds": 300, "series": [{"gpuTypeId": A40, "cloudType": "SECURE", "spot": 0.2}]}
    )
    emu = Emulator(VirtualClock(START), seed=4, market=market)
    assert emu.world.market[("NVIDIA L4", "SECURE")].spot() is not None
    assert emu.world.market[(A40, "SECURE")].spot() == 0.2
    assert emu.world.market[(A40, "COMMUNITY")].spot() != 0.2


def test_spot_absent_uses_the_catalogue_ratio_and_null_means_never():
    market = market_from_json(
        {
            "gap_seconds": 300,
            "series": [
                {"gpuTypeId": A40, "cloudType": "SECURE", "onDemand": 1.0},
                {"gpuTypeId": A40, "cloudType": "COMMUNITY", "spot": None},
            ],
        }
    )
    emu = Emulator(VirtualClock(START), market=market)
    assert emu.world.market[(A40, "SECURE")].spot() == pytest.approx(0.55)
    assert emu.world.market[(A40, "COMMUNITY")].spot() is None


@pytest.mark.parametrize(
    ("doc", "kwargs", "match"),
    [
        ([], {}, "JSON object"),
        ({"metadata": {"gap_seconds": 600}, "data": [0]}, {}, "GPU type"),
        ({"series": []}, {}, "gap_seconds"),
        ({"gap_seconds": 0, "series": []}, {}, "gap_seconds"),
        ({"gap_seconds": 60, "series": [{"cloudType": "SECURE"}]}, {}, "gpuTypeId"),
        ({"gap_seconds": 60, "series": [{"gpuTypeId": A40, "cloudType": "MOON"}]}, {}, "cloudType"),
        ({"gap_seconds": 60, "series": [{"gpuTypeId": A40, "spot": ["x"]}]}, {}, "spot"),
        (
            {"gap_seconds": 60, "series": [{"gpuTypeId": A40, "availability": []}]},
            {},
            "availability",
        ),
        ({"gap_seconds": 60, "start": "yesterday", "series": []}, {}, "ISO"),
        ({"gap_seconds": 60, "start": "2026-01-01T00:00:00", "series": []}, {}, "timezone"),
    ],
)
def test_bad_market_files(doc, kwargs, match):
    with pytest.raises(MarketFileError, match=match):
        market_from_json(doc, **kwargs)


def test_unknown_gpu_in_a_trace_is_rejected(tmp_path):
    market = market_from_json({"gap_seconds": 60, "series": [{"gpuTypeId": "NVIDIA GTX 480"}]})
    with pytest.raises(ValueError, match="catalogue lacks"):
        Emulator(VirtualClock(START), market=market)
    with pytest.raises(MarketFileError, match="cannot read"):
        load_market_file(tmp_path / "missing.json")
