"""The catalogue and the market: prices per seed, movement, lowestPrice, stock, spot switch."""

from __future__ import annotations

import pytest

from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator, StochasticMarket
from scheduler.emulator.catalogue import GPU_TYPES

from .conftest import LOWEST, START, Gql

A40 = "NVIDIA A40"
CATALOGUE = (
    "{ gpuTypes { id displayName memoryInGb securePrice communityPrice "
    "secureSpotPrice communitySpotPrice } }"
)


def spot_path(seed: int, hours: int = 24) -> list[float]:
    emu = Emulator(VirtualClock(START), seed=seed)
    out = []
    for _ in range(hours * 12):
        emu.advance(300)
        out.append(emu.world.market[(A40, "SECURE")].spot())
    return out


def test_market_is_deterministic_per_seed_and_moves():
    a, b, c = spot_path(1), spot_path(1), spot_path(2)
    assert a == b
    assert a != c
    assert len(set(a)) > 20  # it moves
    list_price = 0.40
    assert all(0.25 * list_price <= p <= 0.98 * list_price for p in a)
    assert 0.35 * list_price < sum(a) / len(a) < 0.75 * list_price


def test_path_does_not_depend_on_request_pattern():
    one = Emulator(VirtualClock(START), seed=5)
    two = Emulator(VirtualClock(START), seed=5)
    for _ in range(288):
        one.advance(300)
    two.advance(288 * 300)
    assert one.state()["market"] == two.state()["market"]


def test_prices_step_at_the_fixed_interval(clock):
    emu = Emulator(clock, seed=3, market=StochasticMarket(3, step_seconds=600))
    start = emu.world.market[(A40, "SECURE")].spot()
    emu.advance(599)
    assert emu.world.market[(A40, "SECURE")].spot() == start
    seen = set()
    for _ in range(20):
        emu.advance(600)
        seen.add(emu.world.market[(A40, "SECURE")].spot())
    assert len(seen) > 1


def test_catalogue_has_real_ids_and_plausible_prices(gql: Gql):
    gpus = {g["id"]: g for g in gql(CATALOGUE)["gpuTypes"]}
    assert len(gpus) >= 12
    assert gpus["NVIDIA RTX A4000"]["displayName"] == "RTX A4000"
    assert gpus["NVIDIA RTX A4000"]["memoryInGb"] == 16
    assert gpus["NVIDIA A100 80GB PCIe"]["displayName"] == "A100 80GB"
    assert gpus["NVIDIA H100 80GB HBM3"]["memoryInGb"] == 80
    assert gpus["NVIDIA H100 80GB HBM3"]["communityPrice"] is None
    for g in gpus.values():
        assert g["securePrice"] > 0
        assert 0.2 * g["securePrice"] < g["secureSpotPrice"] < g["securePrice"]


def test_gpu_types_filters(gql: Gql):
    assert [g["id"] for g in gql('{ gpuTypes(input: {id: "NVIDIA A40"}) { id } }')["gpuTypes"]] == [
        A40
    ]
    ids = gql('{ gpuTypes(input: {ids: ["NVIDIA A40", "NVIDIA L4", "nope"]}) { id } }')["gpuTypes"]
    assert sorted(g["id"] for g in ids) == [A40, "NVIDIA L4"]
    assert gql('{ gpuTypes(input: {id: "NVIDIA GeForce GTX 480"}) { id } }') == {"gpuTypes": []}


def test_lowest_price_reflects_market_and_stock(gql: Gql, emu: Emulator):
    emu.set_market(A40, "SECURE", spot_price=0.2, on_demand_price=0.44, stock=8)
    emu.set_market(A40, "COMMUNITY", stock=0)
    [gpu] = gql(LOWEST, {"id": A40, "input": {"gpuCount": 1, "secureCloud": True}})["gpuTypes"]
    assert gpu["securePrice"] == 0.44
    assert gpu["secureSpotPrice"] == 0.2
    assert gpu["lowestPrice"]["minimumBidPrice"] == 0.2
    assert gpu["lowestPrice"]["uninterruptablePrice"] == 0.44
    assert gpu["lowestPrice"]["stockStatus"] == "Medium"
    community = gql(LOWEST, {"id": A40, "input": {"gpuCount": 1, "secureCloud": False}})
    low = community["gpuTypes"][0]["lowestPrice"]
    assert low["stockStatus"] is None
    assert low["minimumBidPrice"] is None  # no capacity, no spot offer
    assert low["maxUnreservedGpuCount"] == 0
    assert low["availableGpuCounts"] == []
    emu.set_market(A40, "SECURE", stock=40)
    low = gql(LOWEST, {"id": A40, "input": {"gpuCount": 2, "secureCloud": True}})
    assert low["gpuTypes"][0]["lowestPrice"]["stockStatus"] == "High"
    assert low["gpuTypes"][0]["lowestPrice"]["availableGpuCounts"] == [1, 2, 4, 8]
    emu.set_market(A40, "SECURE", stock=2)
    low = gql(LOWEST, {"id": A40, "input": {"gpuCount": 4, "secureCloud": True}})
    assert low["gpuTypes"][0]["lowestPrice"]["stockStatus"] is None
    assert low["gpuTypes"][0]["lowestPrice"]["minimumBidPrice"] is None
    emu.set_market(A40, "SECURE", spot_price=None)  # unpinned: back to the model
    assert emu.world.market[(A40, "SECURE")].pinned_spot is None


def test_lowest_price_filters_and_fields(gql: Gql):
    data = gql(
        '{ gpuTypes(input: {id: "NVIDIA RTX A4000"}) { id lowestPrice(input: {gpuCount: 1, '
        'dataCenterId: "EU-RO-1", minVcpuCount: 2, minMemoryInGb: 8}) { gpuName gpuTypeId minVcpu '
        "minMemory rentedCount totalCount rentalPercentage countryCode compliance } } }"
    )
    low = data["gpuTypes"][0]["lowestPrice"]
    assert low["gpuName"] == "RTX A4000"
    assert low["gpuTypeId"] == "NVIDIA RTX A4000"
    assert low["minVcpu"] >= 2
    assert low["totalCount"] >= low["rentedCount"] >= 0
    data = gql(
        '{ gpuTypes(input: {id: "NVIDIA RTX A4000"}) { lowestPrice(input: {gpuCount: 1, '
        'dataCenterId: "AP-XX-9"}) { minimumBidPrice stockStatus minVcpu } } }'
    )
    assert data["gpuTypes"][0]["lowestPrice"] == {
        "minimumBidPrice": None,
        "stockStatus": None,
        "minVcpu": None,
    }


def test_data_centers_and_gpu_availability(gql: Gql, emu: Emulator):
    emu.set_market(A40, "SECURE", stock=0)
    data = gql(
        "{ dataCenters { id name location listed storageSupport "
        "gpuAvailability(input: {gpuCount: 1, secureCloud: true}) "
        "{ gpuTypeId displayName stockStatus available } } }"
    )
    dcs = {d["id"]: d for d in data["dataCenters"]}
    for dc_id in ("EU-RO-1", "EU-SE-1", "EU-NL-1", "EUR-IS-1", "CA-MTL-1", "US-TX-3", "AP-JP-1"):
        assert dc_id in dcs
    ro = {g["gpuTypeId"]: g for g in dcs["EU-RO-1"]["gpuAvailability"]}
    assert ro[A40] == {
        "gpuTypeId": A40,
        "displayName": "A40",
        "stockStatus": None,
        "available": False,
    }
    assert ro["NVIDIA RTX A4000"]["available"] is True
    assert len(ro) == sum(1 for g in GPU_TYPES if g.secure_price is not None)
    plain = gql("{ dataCenters { id gpuAvailability { gpuTypeId stockStatus } } }")
    assert plain["dataCenters"]


def test_spot_switched_off(gql: Gql, emu: Emulator):
    emu.set_spot_enabled(False)
    [gpu] = gql(LOWEST, {"id": A40, "input": {"gpuCount": 1}})["gpuTypes"]
    assert gpu["secureSpotPrice"] is None
    assert gpu["communitySpotPrice"] is None
    assert gpu["lowestPrice"]["minimumBidPrice"] is None
    assert gpu["lowestPrice"]["uninterruptablePrice"] > 0
    assert emu.state()["spotEnabled"] is False
    emu.set_spot_enabled(True)
    [gpu] = gql(LOWEST, {"id": A40, "input": {"gpuCount": 1}})["gpuTypes"]
    assert gpu["lowestPrice"]["minimumBidPrice"] > 0


def test_set_market_rejects_unknown_keys(emu: Emulator):
    with pytest.raises(KeyError):
        emu.set_market("NVIDIA GeForce GTX 480", "SECURE", stock=1)
    with pytest.raises(KeyError):
        emu.set_market("NVIDIA H100 80GB HBM3", "COMMUNITY", stock=1)
    with pytest.raises(ValueError, match="stock"):
        emu.set_market(A40, "SECURE", stock=-1)


def test_cpu_flavors_and_country_codes(gql: Gql):
    data = gql(
        '{ countryCodes cpuFlavors(input: {id: "cpu3c"}) { id minVcpu '
        'specifics(input: {instanceId: "cpu3c-2-4", dataCenterId: "EU-RO-1"}) { stockStatus } } }'
    )
    assert "US" in data["countryCodes"]
    assert data["cpuFlavors"][0]["id"] == "cpu3c"
    assert data["cpuFlavors"][0]["specifics"]["stockStatus"] == "High"
