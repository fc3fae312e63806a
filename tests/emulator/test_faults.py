"""Injected faults of every kind, with `match`, next-N and rates, in-process and over HTTP."""

from __future__ import annotations

import httpx
import pytest

from scheduler.emulator import Emulator, FaultRule
from scheduler.emulator.errors import HOST_FULL, INTERNAL, ON_DEMAND_CAPACITY, SPOT_CAPACITY
from scheduler.emulator.faults import FaultError

from .conftest import KEY, ON_DEMAND, SPOT, Gql, pod_input

PODS = "query ListPods { myself { pods { id name } } }"
CREATE = {"input": pod_input(name="faulty")}


def names(emu: Emulator) -> list[str]:
    return [p["name"] for p in emu.state()["pods"]]


@pytest.mark.parametrize(
    ("kind", "status"), [("http_500", 500), ("http_502", 502), ("http_503", 503)]
)
def test_http_errors_have_non_json_bodies(gql: Gql, emu, kind, status):
    emu.inject_faults(FaultRule(kind, count=1))
    response = gql.raw(PODS)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert str(status).encode() in response.content
    assert gql.raw(PODS).status_code == 200  # count=1: only the next request


def test_timeout_in_process_raises_without_executing(gql: Gql, emu):
    emu.inject_faults(FaultRule("timeout", count=1))
    with pytest.raises(httpx.ReadTimeout):
        gql.raw(ON_DEMAND, CREATE)
    assert names(emu) == []


def test_timeout_after_executes_then_times_out(gql: Gql, emu):
    emu.inject_faults(FaultRule("timeout_after", count=1, match="podFindAndDeployOnDemand"))
    with pytest.raises(httpx.ReadTimeout):
        gql.raw(ON_DEMAND, CREATE)
    assert names(emu) == ["faulty"]


def test_rate_limit(gql: Gql, emu):
    emu.inject_faults(FaultRule("rate_limit", count=1, seconds=7))
    response = gql.raw(PODS)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 429
    assert "errors" not in response.json()


def test_internal_error(gql: Gql, emu):
    emu.inject_faults(FaultRule("internal_error", count=1))
    response = gql.raw(ON_DEMAND, CREATE)
    assert response.status_code == 200
    assert response.json() == {
        "data": {"podFindAndDeployOnDemand": None},
        "errors": [
            {
                "message": INTERNAL,
                "path": ["podFindAndDeployOnDemand"],
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        ],
    }
    assert names(emu) == []


def test_capacity_fault_uses_the_right_message_and_skips_other_documents(gql: Gql, emu):
    emu.inject_faults(FaultRule("capacity", count=3))
    assert gql.raw(PODS).status_code == 200  # not a create: the rule does not apply
    assert gql.error(ON_DEMAND, CREATE)["message"] == ON_DEMAND_CAPACITY
    assert gql.error(SPOT, {"input": pod_input(bidPerGpu=9.0)})["message"] == SPOT_CAPACITY
    error = gql.error('mutation { podResume(input: {podId: "x"}) { id } }')
    assert error["message"] == HOST_FULL
    assert names(emu) == []
    assert gql(ON_DEMAND, CREATE)  # count exhausted


def test_unauthorized_fault(gql: Gql, emu):
    emu.inject_faults(FaultRule("unauthorized", count=1))
    response = gql.raw("{ gpuTypes { id } }")
    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": "Unauthorized"}]}


def test_match_and_next_n(gql: Gql, emu):
    emu.inject_faults(FaultRule("http_503", count=2, match="podRentInterruptable"))
    assert gql.raw(PODS).status_code == 200
    spot = {"input": pod_input(bidPerGpu=9.0)}
    assert gql.raw(SPOT, spot).status_code == 503
    assert gql.raw(PODS).status_code == 200
    assert gql.raw(SPOT, spot).status_code == 503
    assert gql.raw(SPOT, spot).status_code == 200
    assert emu.state()["requests"]["faults"] == {"http_503": 2}


def test_rates_are_seeded_and_persist_until_cleared(clock):
    def run(seed: int) -> list[int]:
        emu = Emulator(clock, seed=seed)
        emu.inject_faults(FaultRule("http_502", rate=0.3))
        with httpx.Client(
            transport=emu.transport(), base_url="https://x", headers={"Authorization": "Bearer k"}
        ) as c:
            out = [c.post("/graphql", json={"query": PODS}).status_code for _ in range(200)]
            emu.clear_faults()
            assert c.post("/graphql", json={"query": PODS}).status_code == 200
        return out

    first = run(1)
    assert first == run(1)
    assert 30 < first.count(502) < 90


def test_first_firing_rule_wins(gql: Gql, emu):
    emu.inject_faults(FaultRule("http_500", count=1), FaultRule("http_502", count=1))
    assert gql.raw(PODS).status_code == 500
    assert gql.raw(PODS).status_code == 502
    assert gql.raw(PODS).status_code == 200
    assert emu.faults.snapshot() == []  # exhausted rules are dropped


def test_delay_before_and_after(gql: Gql, emu, monkeypatch):
    emu.inject_faults(FaultRule("delay", count=1, seconds=0.05, phase="after"))
    response = gql.raw(ON_DEMAND, CREATE)
    assert response.status_code == 200
    assert names(emu) == ["faulty"]
    emu.inject_faults(FaultRule("delay", count=1, seconds=0.01))
    assert gql.raw(PODS).status_code == 200
    assert emu.state()["requests"]["faults"] == {"delay": 2}


def test_requests_are_counted_by_operation_and_field(gql: Gql, emu):
    gql(PODS)
    gql(PODS)
    gql("{ gpuTypes { id } countryCodes }")
    requests = emu.state()["requests"]
    assert requests["total"] == 3
    assert requests["inFlight"] == 0
    assert requests["byOperation"] == {"ListPods": 2, "<anonymous>": 1}
    assert requests["byField"] == {"myself": 2, "gpuTypes": 1, "countryCodes": 1}
    assert requests["byStatus"] == {"200": 3}


@pytest.mark.parametrize(
    "raw",
    [
        {"kind": "nope"},
        {"kind": "http_500", "rate": 2},
        {"kind": "http_500", "count": -1},
        {"kind": "delay", "phase": "during"},
        {"kind": "http_500", "color": "red"},
        {"rate": 0.5},
        "http_500",
    ],
)
def test_bad_rules_are_rejected(raw):
    with pytest.raises(FaultError):
        FaultRule.from_json(raw)


def test_rule_from_json():
    rule = FaultRule.from_json({"kind": "timeout", "count": 2, "match": "pod", "seconds": 1.5})
    assert rule == FaultRule("timeout", count=2, match="pod", seconds=1.5)


def test_timeout_over_http_holds_then_504(served, emu):
    emu.inject_faults(FaultRule("timeout", count=1, seconds=0.3))
    headers = {"Authorization": f"Bearer {KEY}"}
    with (
        httpx.Client(base_url=served.url, headers=headers, timeout=0.1) as c,
        pytest.raises(httpx.ReadTimeout),
    ):
        c.post("/graphql", json={"query": PODS})
    emu.inject_faults(FaultRule("timeout", count=1, seconds=0.05))
    with httpx.Client(base_url=served.url, headers=headers, timeout=5) as c:
        assert c.post("/graphql", json={"query": PODS}).status_code == 504
        assert c.post("/graphql", json={"query": PODS}).status_code == 200
