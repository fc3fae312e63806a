"""REST v2 transport rules: Bearer auth, rate limits and their headers, problem+json, 413, 404/405,
fault injection, and real HTTP (DELETE/PUT/PATCH answer JSON, a dstack-style client)."""

from __future__ import annotations

import json

import httpx
import pytest

from scheduler.emulator import Emulator, FaultRule
from scheduler.emulator.errors import ON_DEMAND_CAPACITY
from scheduler.emulator.rest import RateLimits, RestConfig

from .conftest import KEY, Served, rest_client, v2_pod
from .openapi_check import Checked

PROBLEM = "application/problem+json"


def test_bearer_auth(emu, clock):
    with rest_client(emu, key="") as anonymous:
        response = anonymous.get("/v2/pods")
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.json() == {
            "title": "Unauthorized",
            "status": 401,
            "detail": "missing bearer token",
        }
        assert "ratelimit" not in response.headers
        assert anonymous.get("/v2/pods", params={"api_key": KEY}).status_code == 401
        basic = anonymous.get("/v2/pods", headers={"Authorization": f"Basic {KEY}"})
        assert basic.status_code == 401
    locked = Emulator(clock, api_key="the-key")
    with rest_client(locked, key="other-key") as wrong:
        response = wrong.get("/v2/pods")
        assert (response.status_code, response.json()["detail"]) == (401, "invalid api key")
    with rest_client(locked, key="the-key") as right:
        assert right.get("/v2/pods").status_code == 200


def test_read_only_key_is_403_on_mutations(clock):
    emu = Emulator(clock, rest=RestConfig(read_only_keys=frozenset({"viewer"})))
    with rest_client(emu, key="viewer") as viewer:
        assert viewer.get("/v2/pods").status_code == 200
        response = viewer.post("/v2/pods", json=v2_pod())
        assert response.status_code == 403
        assert response.json() == {"title": "Forbidden", "status": 403, "detail": "access denied"}
    assert emu.state()["pods"] == []


def test_rate_limit_headers_429_and_reset(clock):
    emu = Emulator(clock, rest=RestConfig(rate_limits=RateLimits(minute=3, hour=5, day=None)))
    with rest_client(emu) as rest:
        seen = [rest.get("/v2/pods").headers["ratelimit"] for _ in range(3)]
        assert seen == [
            '"minute";r=2;t=60, "hour";r=4;t=3600',
            '"minute";r=1;t=60, "hour";r=3;t=3600',
            '"minute";r=0;t=60, "hour";r=2;t=3600',
        ]
        emu.advance(15)
        refused = rest.post("/v2/pods", json=v2_pod())
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "45"
        assert refused.headers["ratelimit-policy"] == '"minute";q=3;w=60, "hour";q=5;w=3600'
        assert refused.json() == {
            "title": "Too Many Requests",
            "status": 429,
            "detail": "rate limit exceeded for the minute window",
        }
        assert emu.state()["pods"] == []  # refused before anything happened
        emu.advance(45)
        assert rest.get("/v2/pods").status_code == 200
        assert rest.get("/v2/pods").status_code == 200
        hour = rest.get("/v2/pods")
        assert hour.status_code == 429
        assert hour.json()["detail"] == "rate limit exceeded for the hour window"
        assert hour.headers["retry-after"] == str(3600 - 60)
    with rest_client(emu, key="someone-else") as other:  # per user
        assert other.get("/v2/pods").status_code == 200


def test_limits_off_sends_no_headers(clock):
    off = RateLimits(minute=None, hour=None, day=None)
    emu = Emulator(clock, rest=RestConfig(rate_limits=off))
    with httpx.Client(
        transport=emu.transport(),
        base_url="https://api.runpod.io",
        headers={"Authorization": f"Bearer {KEY}"},
    ) as rest:
        response = rest.get("/v2/pods")
    assert response.status_code == 200 and "ratelimit" not in response.headers


def test_unknown_paths_methods_and_big_bodies(rest):
    for path in ("/v2/networkvolumes", "/v2/pods/x/stop", "/v2"):
        response = rest.get(path)
        assert response.status_code == 404, path
        assert response.json()["detail"] == "resource not found"
    response = rest.put("/v2/pods", json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["detail"] == "The requested method is not allowed for this path."
    with rest_client(rest._transport._emulator, key="") as anonymous:  # 413 comes before auth
        huge = anonymous.post("/v2/pods", content=b"{" + b" " * 102_400 + b"}")
    assert huge.status_code == 413
    assert rest.post("/v2/pods", content=b"{not json").status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/pods"),
        ("PATCH", "/v2/pods/x"),
        ("POST", "/v2/pods/x/action"),
        ("POST", "/v2/network-volumes"),
        ("PATCH", "/v2/network-volumes/x"),
        ("POST", "/v2/templates"),
        ("PATCH", "/v2/templates/x"),
        ("PUT", "/v2/account/ssh-keys"),
        ("POST", "/v2/registries"),
    ],
)
def test_every_request_body_is_closed(rest, method, path):
    response = rest.request(method, path, json={"surprise": 1})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert "$: additional properties 'surprise' not allowed" in response.json()["errors"]


def test_injected_faults_on_rest(rest, emu):
    emu.inject_faults(FaultRule(kind="http_503", match="createPod", count=1))
    response = rest.post("/v2/pods", json=v2_pod())
    assert response.status_code == 503 and emu.state()["pods"] == []
    emu.inject_faults(FaultRule(kind="capacity", count=1))
    response = rest.post("/v2/pods", json=v2_pod())
    assert (response.status_code, response.json()["detail"]) == (400, ON_DEMAND_CAPACITY)
    emu.inject_faults(FaultRule(kind="timeout_after", match="POST /v2/pods ", count=1))
    with pytest.raises(httpx.ReadTimeout):
        rest.post("/v2/pods", json=v2_pod())
    [pod] = emu.state()["pods"]  # RunPod acted before the client gave up
    assert rest.get(f"/v2/pods/{pod['id']}").json()["status"] == "PROVISIONING"
    emu.inject_faults(FaultRule(kind="rate_limit", seconds=7, count=1))
    limited = rest.get("/v2/pods")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")
    counts = emu.state()["requests"]["byOperation"]
    assert counts["POST /v2/pods"] == 3 and counts["GET /v2/pods/{id}"] == 1


# ----------------------------------------------------------------- over real HTTP
@pytest.mark.slow
def test_delete_put_patch_get_json_over_http(served: Served):
    """Before: Python's `http.server` answered these methods with an HTML 501 page."""
    checked = Checked()
    with httpx.Client(
        base_url=served.url,
        headers={"Authorization": f"Bearer {KEY}"},
        event_hooks={"response": [checked]},
    ) as c:
        for method, path, status in (
            ("DELETE", "/v2/pods/nope", 404),
            ("PATCH", "/v2/pods/nope", 404),
            ("PUT", "/v2/account/ssh-keys", 422),
            ("OPTIONS", "/v2/pods", 405),
            ("DELETE", "/graphql", 400),
        ):
            response = c.request(method, path, content=b"{}")
            assert response.status_code == status, (method, path, response.text)
            assert response.headers["content-type"].startswith("application/")
            assert response.headers["content-type"].endswith("json")
            json.loads(response.text)


@pytest.mark.slow
def test_a_dstack_style_client_over_http(served: Served, emu):
    """What dstack 0.22.5 sends (reference §5.4): key check, create, poll, terminate."""
    checked = Checked()
    with httpx.Client(
        base_url=f"{served.url}/v2",
        headers={"Authorization": f"Bearer {KEY}", "User-Agent": "dstack/0.22.5"},
        event_hooks={"response": [checked]},
    ) as c:
        assert c.get("/account/ssh-keys").status_code == 200
        body = {
            "name": "dstack-run-1",
            "cloud": "SECURE",
            "dataCenterIds": ["EU-RO-1"],
            "gpu": {
                "id": "NVIDIA RTX A6000",
                "count": 2,
                "minCudaVersion": "12.1",
                "minVcpuCountPerGpu": 4,
                "minRamPerGpu": 48,
            },
            "image": "dstackai/base:0.10",
            "entrypoint": ["/bin/sh", "-c"],
            "cmd": ["sleep infinity"],
            "disk": 100,
            "ports": ["22/tcp", "10999/tcp"],
            "env": {"DSTACK_RUN": "1"},
        }
        created = c.post("/pods", json=body)
        assert created.status_code == 201, created.text
        pod = created.json()
        assert pod["entrypoint"] == ["/bin/sh", "-c"] and pod["cmd"] == ["sleep infinity"]
        assert pod["gpu"]["memory"] >= 96
        emu.advance(60)
        running = c.get(f"/pods/{pod['id']}").json()
        assert running["status"] == "RUNNING" and running["ssh"]["direct"] is not None
        assert c.delete(f"/pods/{pod['id']}").status_code == 204
        assert c.get(f"/pods/{pod['id']}").status_code == 404  # dstack reads 404 as gone
    assert [op for op, _status in checked.seen] == [
        "getSshKeys",
        "createPod",
        "getPod",
        "deletePod",
        "getPod",
    ]
