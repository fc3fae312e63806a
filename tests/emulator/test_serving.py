"""Serving over HTTP: the admin API, the official `runpod` SDK 1.12.0 against `serve()`, and the
`spotsched emulator` command as a process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from scheduler.domain.clock import SystemClock, VirtualClock
from scheduler.emulator import Emulator
from scheduler.emulator.errors import ON_DEMAND_CAPACITY, SPOT_CAPACITY

from .conftest import KEY, START, Served

ROOT = Path(__file__).resolve().parents[2]
A40 = "NVIDIA A40"


@pytest.fixture
def admin(served):
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {KEY}"}) as c:
        yield c


def gql(c: httpx.Client, query: str) -> dict:
    response = c.post("/graphql", json={"query": query})
    assert response.status_code == 200, response.text
    return response.json()


def test_admin_api_over_http(admin, emu):
    assert (
        admin.post(
            "/_emulator/market",
            json={
                "gpuTypeId": A40,
                "cloudType": "SECURE",
                "spotPrice": 0.2,
                "onDemandPrice": 0.4,
                "stock": 8,
            },
        ).json()["spotPrice"]
        == 0.2
    )
    created = gql(
        admin,
        'mutation { podRentInterruptable(input: {gpuTypeId: "NVIDIA A40", bidPerGpu: 0.3, '
        'cloudType: SECURE, imageName: "img"}) { id } }',
    )
    pod_id = created["data"]["podRentInterruptable"]["id"]
    assert admin.post("/_emulator/advance", json={"seconds": 3600}).status_code == 200
    state = admin.get("/_emulator/state").json()
    assert state["now"] == "2026-11-20T11:00:00+00:00"
    [pod] = state["pods"]
    assert pod["billed"] == pytest.approx(0.3)
    assert state["totals"]["billed"] == pytest.approx(0.3)
    assert state["requests"]["byField"] == {"podRentInterruptable": 1}
    market = next(
        m for m in state["market"] if m["gpuTypeId"] == A40 and m["cloudType"] == "SECURE"
    )
    assert market["freeGpus"] == 7
    assert admin.post("/_emulator/preempt", json={"podId": pod_id}).status_code == 200
    assert admin.post("/_emulator/preempt", json={"podId": pod_id}).status_code == 404
    assert admin.post("/_emulator/spot", json={"enabled": False}).json() == {"spotEnabled": False}
    assert emu.state()["spotEnabled"] is False
    rule = {"kind": "http_503", "count": 1, "match": "myself"}
    assert admin.post("/_emulator/faults", json=rule).json()["faults"][0]["kind"] == "http_503"
    assert admin.post("/graphql", json={"query": "{ myself { id } }"}).status_code == 503
    admin.post("/_emulator/faults", json={"faults": [rule]})
    assert admin.post("/_emulator/faults", json={"clear": True}).json() == {"faults": []}
    assert admin.post("/graphql", json={"query": "{ myself { id } }"}).status_code == 200
    assert (
        admin.post("/_emulator/market", json={"gpuTypeId": A40, "spotPrice": None}).status_code
        == 200
    )
    assert emu.world.market[(A40, "SECURE")].pinned_spot is None


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/_emulator/market", {"gpuTypeId": "nope", "cloudType": "SECURE"}, 404),
        ("POST", "/_emulator/market", {"gpuTypeId": A40, "spotPrice": "cheap"}, 400),
        ("POST", "/_emulator/market", {"gpuTypeId": A40, "stock": -1}, 400),
        ("POST", "/_emulator/spot", {"enabled": "no"}, 400),
        ("POST", "/_emulator/faults", {"kind": "nope"}, 400),
        ("POST", "/_emulator/advance", {"seconds": -1}, 400),
        ("POST", "/_emulator/nothing", {}, 404),
        ("GET", "/_emulator/market", None, 405),
        ("POST", "/_emulator/state", {}, 405),
    ],
)
def test_admin_errors(admin, method, path, body, status):
    response = admin.request(method, path, json=body)
    assert response.status_code == status
    assert "error" in response.json()


def test_admin_body_must_be_a_json_object(admin):
    assert admin.post("/_emulator/spot", content=b"[1]").status_code == 400
    assert admin.post("/_emulator/spot", content=b"{nope").status_code == 400


def test_advance_needs_a_virtual_clock():
    emu = Emulator(SystemClock())
    server = Served(emu)
    try:
        with httpx.Client(base_url=server.url) as c:
            response = c.post("/_emulator/advance", json={"seconds": 5})
            assert response.status_code == 409
            assert c.get("/_emulator/state").status_code == 200
    finally:
        server.close()
    with pytest.raises(TypeError):
        emu.advance(1)


def test_in_process_admin_matches_http(client):
    assert client.get("/_emulator/state").json()["now"] == START.isoformat()
    assert client.post("/_emulator/advance", json={"seconds": 60}).json() == {
        "now": "2026-11-20T10:01:00+00:00"
    }


@pytest.fixture
def sdk(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    import runpod  # HOME must point to an empty folder before the import

    monkeypatch.setattr(runpod, "api_key", KEY)
    return runpod


def use(sdk, monkeypatch, url: str) -> None:
    monkeypatch.setenv("RUNPOD_API_BASE_URL", url)


def test_official_sdk_against_the_server(sdk, monkeypatch, clock):
    emu = Emulator(clock, seed=9, api_key=KEY)
    emu.set_market(A40, "SECURE", spot_price=0.2, on_demand_price=0.4, stock=8)
    emu.set_market(A40, "COMMUNITY", spot_price=0.22, on_demand_price=0.45, stock=8)
    server = Served(emu)
    try:
        use(sdk, monkeypatch, server.url)
        gpus = sdk.get_gpus()
        assert {"id": A40, "displayName": "A40", "memoryInGb": 48} in gpus
        gpu = sdk.get_gpu(A40, 2)
        assert gpu["id"] == A40
        assert gpu["lowestPrice"] == {"minimumBidPrice": 0.2, "uninterruptablePrice": 0.4}
        with pytest.raises(ValueError, match="No GPU found"):
            sdk.get_gpu("NVIDIA GeForce GTX 480")
        pod = sdk.create_pod(
            "sdk-pod",
            "runpod/pytorch:2.4",
            A40,
            cloud_type="SECURE",
            gpu_count=1,
            volume_in_gb=20,
            container_disk_in_gb=10,
            ports="22/tcp, 8888/http",
            env={"SPOTSCHED_JOB_ID": "j1"},
            data_center_id="EU-RO-1",
        )
        assert pod["env"] == ["SPOTSCHED_JOB_ID=j1"]
        assert pod["machine"]["podHostId"].startswith(pod["id"])
        [listed] = sdk.get_pods()
        assert listed["id"] == pod["id"]
        assert listed["desiredStatus"] == "RUNNING"
        assert listed["ports"] == "22/tcp,8888/http"
        assert listed["machine"] == {"gpuDisplayName": "A40"}
        assert listed["runtime"] is None
        emu.advance(30)
        detail = sdk.get_pod(pod["id"])
        assert {p["privatePort"] for p in detail["runtime"]["ports"]} == {22, 8888}
        assert detail["costPerHr"] == 0.4
        assert sdk.get_pod("nosuchpod00000") is None
        assert sdk.stop_pod(pod["id"]) == {"id": pod["id"], "desiredStatus": "EXITED"}
        assert sdk.resume_pod(pod["id"], 1)["desiredStatus"] == "RUNNING"
        assert sdk.terminate_pod(pod["id"]) is None
        assert sdk.get_pods() == []
        with pytest.raises(sdk.error.QueryError, match="pod not found to terminate"):
            sdk.terminate_pod(pod["id"])

        from runpod.api.graphql import run_graphql_query

        spot = run_graphql_query(
            'mutation { podRentInterruptable(input: { name: "s", imageName: "img", '
            'gpuTypeId: "NVIDIA A40", bidPerGpu: 0.25, volumeMountPath: "/runpod-volume", '
            "cloudType: SECURE, startSsh: true, supportPublicIp: true, gpuCount: 2 }) "
            "{ id desiredStatus imageName env machineId machine { podHostId } } }"
        )
        assert spot["data"]["podRentInterruptable"]["desiredStatus"] == "RUNNING"
        assert "errors" not in spot
        volume = run_graphql_query(
            "mutation { createNetworkVolume("
            'input: {name: "v", size: 10, dataCenterId: "EU-RO-1"}) { id } }'
        )
        volume_id = volume["data"]["createNetworkVolume"]["id"]
        assert sdk.get_user()["networkVolumes"] == [
            {"id": volume_id, "name": "v", "size": 10, "dataCenterId": "EU-RO-1"}
        ]
        with pytest.raises(sdk.error.QueryError) as info:
            run_graphql_query(
                'mutation { podRentInterruptable(input: {gpuTypeId: "NVIDIA A40", bidPerGpu: 0.01, '
                'imageName: "img", cloudType: SECURE}) { id } }'
            )
        assert str(info.value) == SPOT_CAPACITY
        emu.set_market(A40, "SECURE", stock=0)
        with pytest.raises(sdk.error.QueryError) as info:
            sdk.create_pod("n", "img", A40, cloud_type="SECURE")
        assert str(info.value) == ON_DEMAND_CAPACITY
        monkeypatch.setattr(sdk, "api_key", "wrong-key")
        with pytest.raises(sdk.error.AuthenticationError):
            sdk.get_pods()
    finally:
        server.close()


@pytest.mark.slow
def test_cli_serves_until_sigterm(tmp_path):
    secret = "cli-secret-key"
    market = tmp_path / "m.json"
    market.write_text(
        json.dumps({"gap_seconds": 60, "series": [{"gpuTypeId": A40, "spot": 0.123}]})
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost"}
    command = [sys.executable, "-m", "scheduler", "emulator", "--port", "0", "--seed", "3"]
    command += ["--api-key", secret, "--virtual-clock", "--market", str(market)]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        prefix = "spotsched emulator listening on http://127.0.0.1:"
        assert line.startswith(prefix), line
        url = line.removeprefix("spotsched emulator listening on ")
        assert int(url.rsplit(":", 1)[1]) > 0
        with httpx.Client(base_url=url) as c:
            assert c.post("/graphql", json={"query": "{ myself { id } }"}).status_code == 401
            ok = c.post(
                "/graphql",
                json={"query": "{ myself { id } }"},
                headers={"Authorization": f"Bearer {secret}"},
            )
            assert ok.status_code == 200
            prices = c.post(
                "/graphql",
                json={"query": '{ gpuTypes(input: {id: "NVIDIA A40"}) { secureSpotPrice } }'},
            )
            assert prices.json() == {"data": {"gpuTypes": [{"secureSpotPrice": 0.123}]}}
            # the admin API needs the key too
            assert c.post("/_emulator/advance", json={"seconds": 60}).status_code == 401
            auth = {"Authorization": f"Bearer {secret}"}
            advanced = c.post("/_emulator/advance", json={"seconds": 60}, headers=auth)
            assert advanced.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert secret not in out + err
    assert out == ""  # exactly one line, already read


def test_cli_rejects_a_bad_market_file(tmp_path):
    import typer
    from typer.testing import CliRunner

    from scheduler.cli import emulator_cmd

    app = typer.Typer()
    app.callback()(lambda: None)  # keep "emulator" a sub-command
    emulator_cmd.register(app)
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    result = CliRunner().invoke(app, ["emulator", "--port", "0", "--market", str(bad)])
    assert result.exit_code == 2
    assert "market" in result.output


def test_virtual_clock_fixture_is_virtual(clock):
    assert isinstance(clock, VirtualClock)


def test_concurrent_creates_over_http_respect_capacity(served, emu):
    emu.set_market(A40, "SECURE", stock=20)
    emu.set_market(A40, "COMMUNITY", stock=0)
    query = (
        'mutation { podFindAndDeployOnDemand(input: {gpuTypeId: "NVIDIA A40", imageName: "img", '
        "cloudType: ALL}) { id } }"
    )
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        headers = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=served.url, headers=headers) as c:
            for _ in range(4):
                body = c.post("/graphql", json={"query": query}).json()
                with lock:
                    results.append(0 if "errors" in body else 1)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 20  # 24 attempts, 20 GPUs
    state = emu.state()
    assert len({p["id"] for p in state["pods"]}) == 20
    assert state["requests"]["inFlight"] == 0
    market = next(
        m for m in state["market"] if m["gpuTypeId"] == A40 and m["cloudType"] == "SECURE"
    )
    assert market["freeGpus"] == 0
