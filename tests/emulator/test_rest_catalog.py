"""REST v2 catalogue: GPU types with prices and stock per data center, data centers."""

from __future__ import annotations

from scheduler.emulator.catalogue import GPU_TYPES

A40 = "NVIDIA A40"
H100 = "NVIDIA H100 80GB HBM3"


def gpus(rest, **params):
    response = rest.get("/v2/catalog/gpus", params=params)
    assert response.status_code == 200, response.text
    return {g["id"]: g for g in response.json()["gpus"]}


def test_plain_list_has_list_prices_and_no_stock(rest, emu):
    listed = gpus(rest)
    assert list(listed) == [g.id for g in GPU_TYPES]
    a40 = listed[A40]
    assert a40["price"] == {"secure": 0.4, "community": 0.35}
    assert (a40["name"], a40["memory"], a40["manufacturer"]) == ("A40", 48, "NVIDIA")
    assert a40["maxCount"] == {"secure": 8, "community": 8}
    assert "availability" not in a40 and "dataCenters" not in a40
    h100 = listed[H100]
    assert (h100["secure"], h100["community"], h100["maxCount"]["community"]) == (True, False, 0)
    emu.set_market(A40, "SECURE", on_demand_price=0.55)
    assert gpus(rest)[A40]["price"]["secure"] == 0.55  # the same market GraphQL sells


def test_availability_follows_stock_count_and_cloud(rest, emu):
    emu.set_market(A40, "SECURE", stock=20)
    a40 = gpus(rest, include="AVAILABILITY", product="POD")[A40]
    assert a40["availability"] == "HIGH"
    assert {d["id"] for d in a40["dataCenters"]} >= {"EU-RO-1"}
    assert a40["cudaVersions"] == [{"version": "12.8", "available": True}]
    emu.set_market(A40, "SECURE", stock=3)
    assert gpus(rest, include="AVAILABILITY", product="POD")[A40]["availability"] == "LOW"
    big = gpus(rest, include="AVAILABILITY", product="POD", count=4)[A40]
    assert big["availability"] == "NONE"
    assert big["cudaVersions"] == [{"version": "12.8", "available": False}]
    emu.set_market(A40, "COMMUNITY", stock=0)
    community = gpus(rest, include="AVAILABILITY", product="POD", cloud="COMMUNITY")[A40]
    assert community["availability"] == "NONE"
    assert all(d["availability"] == "NONE" for d in community.get("dataCenters", []))


def test_per_data_center_stock_places_a_create(rest, emu):
    emu.set_market(A40, "SECURE", stock=8)
    a40 = gpus(rest, include="AVAILABILITY", product="POD")[A40]
    stocked = [d["id"] for d in a40["dataCenters"] if d["availability"] != "NONE"]
    body = {
        "name": "placed",
        "image": "img",
        "gpu": {"id": A40},
        "dataCenterIds": stocked[:1],
    }
    pod = rest.post("/v2/pods", json=body).json()
    assert pod["dataCenterId"] == stocked[0]


def test_country_filter(rest):
    japan = gpus(rest, include="AVAILABILITY", product="POD", countryCodes="JP")
    assert japan
    assert all({d["id"] for d in g["dataCenters"]} <= {"AP-JP-1"} for g in japan.values())
    assert rest.get("/v2/catalog/gpus", params={"countryCodes": "jp"}).status_code == 422


def test_parameter_rules_are_400_and_bad_values_422(rest):
    for params in (
        {"include": "AVAILABILITY"},
        {"product": "POD"},
        {"count": 2},
        {"cloud": "SECURE"},
    ):
        response = rest.get("/v2/catalog/gpus", params=params)
        assert response.status_code == 400, params
    response = rest.get("/v2/catalog/gpus", params={"include": "STOCK", "product": "POD"})
    assert response.status_code == 422
    assert response.json()["errors"] == ["include[0]: value must be one of 'AVAILABILITY'"]
    bad_count = {"include": "AVAILABILITY", "product": "POD", "count": 0}
    assert rest.get("/v2/catalog/gpus", params=bad_count).status_code == 422


def test_one_gpu_type(rest):
    a40 = rest.get(f"/v2/catalog/gpus/{A40}").json()
    assert a40["id"] == A40
    stocked = rest.get(
        f"/v2/catalog/gpus/{A40}", params={"include": "AVAILABILITY", "product": "POD"}
    ).json()
    assert stocked["availability"] in ("LOW", "MEDIUM", "HIGH")
    response = rest.get("/v2/catalog/gpus/NVIDIA GeForce GTX 480")
    assert (response.status_code, response.json()["detail"]) == (404, "gpu type not found")


def test_data_centers_with_stock_and_filters(rest, emu):
    emu.set_market(A40, "SECURE", stock=0)
    emu.set_market(A40, "COMMUNITY", stock=0)
    answer = rest.get("/v2/catalog/datacenters", params={"include": "GPU_AVAILABILITY"}).json()
    centers = {d["id"]: d for d in answer["dataCenters"]}
    assert len(centers) == 12
    ro = centers["EU-RO-1"]
    assert (ro["region"], ro["compliance"], ro["networkVolumeTypes"]) == (
        "EUROPE",
        ["GDPR"],
        ["STANDARD"],
    )
    stock = {g["id"]: g["availability"] for g in ro["gpuAvailability"]}
    assert stock[A40] == "NONE" and stock["NVIDIA RTX A4000"] != "NONE"
    plain = rest.get("/v2/catalog/datacenters").json()["dataCenters"]
    assert all("gpuAvailability" not in d for d in plain)
    europe = rest.get("/v2/catalog/datacenters", params={"regions": "EUROPE,ASIA"}).json()
    assert {d["region"] for d in europe["dataCenters"]} == {"EUROPE", "ASIA"}
    assert rest.get("/v2/catalog/datacenters", params={"regions": "MARS"}).status_code == 422
    gdpr = rest.get("/v2/catalog/datacenters", params={"compliance": "GDPR,HIPAA"}).json()
    assert gdpr["dataCenters"] == []
    one = rest.get("/v2/catalog/datacenters/US-TX-3").json()
    assert one["region"] == "NORTH_AMERICA"
    assert rest.get("/v2/catalog/datacenters/XX-1").status_code == 404
