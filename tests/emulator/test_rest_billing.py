"""REST v2 billing history: the same dollars the world bills (and GraphQL's balance shows)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator

from .conftest import START, Gql, rest_client, v2_pod


def test_pod_billing_matches_the_worlds_bill_and_graphqls_balance(rest, emu, gql: Gql):
    pod = rest.post("/v2/pods", json=v2_pod(gpu={"id": "NVIDIA A40", "count": 2})).json()
    emu.advance(5400)  # 10:00 -> 11:30
    rest.post(f"/v2/pods/{pod['id']}/action", json={"action": "stop"})
    emu.advance(3600)
    answer = rest.get(
        "/v2/billing/pods", params={"podId": pod["id"], "bucketSize": "hour", "lastN": 3}
    ).json()
    records = answer["records"]
    assert [(r["startTime"], round(r["gpuAmount"], 9)) for r in records] == [
        ("2026-11-20T10:00:00Z", round(pod["cost"], 9)),
        ("2026-11-20T11:00:00Z", round(pod["cost"] / 2, 9)),
    ]
    billed = emu.billing_total(pod["id"])
    assert answer["metadata"]["totals"]["totalAmount"] == pytest.approx(billed, rel=1e-12)
    assert answer["metadata"]["query"] == {
        "startTime": "2026-11-20T10:00:00Z",
        "endTime": "2026-11-20T13:00:00Z",
        "bucketSize": "hour",
        "podId": pod["id"],
    }
    assert answer["metadata"]["uniquePodCount"] == 1
    balance = gql("{ myself { clientBalance } }")["myself"]["clientBalance"]
    assert balance == pytest.approx(1000 - billed, abs=1e-6)
    day = rest.get("/v2/billing", params={"lastN": 1}).json()
    [record] = day["records"]
    assert record["podGpuAmount"] == pytest.approx(billed, rel=1e-12)
    assert record["startTime"] == "2026-11-20T00:00:00Z"


def test_terminated_and_graphql_pods_are_billed_too(rest, emu, gql: Gql):
    from .conftest import ON_DEMAND, pod_input

    made = gql(ON_DEMAND, {"input": pod_input()})["podFindAndDeployOnDemand"]
    emu.advance(1800)
    rest.delete(f"/v2/pods/{made['id']}")
    answer = rest.get("/v2/billing/pods", params={"bucketSize": "day", "lastN": 1}).json()
    [record] = answer["records"]
    assert record["podId"] == made["id"]
    assert record["totalAmount"] == pytest.approx(made["costPerHr"] / 2, rel=1e-12)


def test_default_range_and_rules(rest, emu):
    answer = rest.get("/v2/billing").json()
    assert answer["metadata"]["query"] == {
        "startTime": "2026-10-21T00:00:00Z",
        "endTime": "2026-11-21T00:00:00Z",
        "bucketSize": "day",
    }
    assert answer["metadata"]["recordCount"] == len(answer["records"]) == 31
    both = rest.get("/v2/billing", params={"lastN": 2, "startTime": "2026-11-01T00:00:00Z"})
    assert both.status_code == 400
    assert rest.get("/v2/billing", params={"bucketSize": "minute"}).status_code == 422
    assert rest.get("/v2/billing", params={"startTime": "yesterday"}).status_code == 422
    weeks = rest.get("/v2/billing", params={"bucketSize": "week", "lastN": 2}).json()
    assert [r["startTime"] for r in weeks["records"]] == [
        "2026-11-09T00:00:00Z",  # Mondays
        "2026-11-16T00:00:00Z",
    ]
    months = rest.get("/v2/billing", params={"bucketSize": "month", "lastN": 2}).json()
    assert [r["startTime"] for r in months["records"]] == [
        "2026-10-01T00:00:00Z",
        "2026-11-01T00:00:00Z",
    ]
    volumes = rest.get("/v2/billing/network-volumes").json()
    assert volumes["records"] == [] and volumes["metadata"]["totals"]["totalAmount"] == 0


@settings(max_examples=30, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["stop", "start", "wait"]), st.integers(1, 20_000)),
        max_size=8,
    ),
    size=st.sampled_from(["hour", "day"]),
)
def test_buckets_always_add_up_to_the_bill(steps, size):
    """Whatever a pod did, its billing records sum to what the world billed it."""
    emu = Emulator(VirtualClock(START), seed=3)
    with rest_client(emu) as rest:
        pod_id = rest.post("/v2/pods", json=v2_pod()).json()["id"]
        for action, seconds in steps:
            if action != "wait":
                rest.post(f"/v2/pods/{pod_id}/action", json={"action": action})
            emu.advance(seconds)
        answer = rest.get(
            "/v2/billing/pods",
            params={"bucketSize": size, "startTime": "2026-11-20T00:00:00Z"},
        ).json()
    total = sum(r["totalAmount"] for r in answer["records"])
    assert total == pytest.approx(emu.billing_total(pod_id), rel=1e-9, abs=1e-12)
