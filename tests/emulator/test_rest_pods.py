"""REST v2 pods: create/get/list/update/delete/action, statuses and actions, 409/404/400/402,
pagination, and pods shared with the GraphQL API."""

from __future__ import annotations

import pytest

from scheduler.emulator import Emulator
from scheduler.emulator.errors import ON_DEMAND_CAPACITY
from scheduler.emulator.rest import RestConfig

from .conftest import ON_DEMAND, POD, SPOT, Gql, pod_input, rest_client, v2_pod

A40 = "NVIDIA A40"
STOP = "mutation($id: String!) { podStop(input: {podId: $id}) { id desiredStatus } }"
TERMINATE = "mutation($id: String!) { podTerminate(input: {podId: $id}) }"
MY_PODS = "{ myself { pods { id desiredStatus } } }"


def create(rest, **overrides):
    response = rest.post("/v2/pods", json=v2_pod(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def test_create_answers_a_provisioning_pod_that_becomes_running(rest, emu):
    pod = create(rest, env={"JOB": "7"}, dataCenterIds=["EU-RO-1"], disk=50)
    assert pod["status"] == "PROVISIONING"
    assert pod["actions"] == ["stop", "terminate"]
    assert pod["runtime"] is None and pod["startedAt"] is None
    assert pod["ssh"]["direct"] is None and pod["ssh"]["proxy"]["host"] == "ssh.runpod.io"
    assert pod["gpu"]["id"] == A40 and pod["gpu"]["count"] == 1
    assert pod["env"] == {"JOB": "7"} and pod["disk"] == 50 and pod["ports"] == ["22/tcp"]
    assert pod["dataCenterId"] == "EU-RO-1" and pod["cloud"] == "SECURE"
    assert pod["cost"] == emu.state()["pods"][0]["costPerHr"] > 0

    emu.advance(12)  # past half the start-up delay (20 s)
    starting = rest.get(f"/v2/pods/{pod['id']}").json()
    assert starting["status"] == "STARTING" and starting["startedAt"] is not None
    emu.advance(10)
    running = rest.get(f"/v2/pods/{pod['id']}").json()
    assert running["status"] == "RUNNING"
    assert running["actions"] == ["stop", "restart", "terminate"]
    assert running["runtime"]["uptime"] == 2
    assert running["runtime"]["gpus"][0]["util"] >= 85
    direct = running["ssh"]["direct"]
    assert direct["username"] == "root" and direct["command"].startswith("ssh root@")
    [port] = running["runtime"]["ports"]
    assert (port["private"], port["public"], port["ip"]) == (22, direct["port"], direct["host"])


def test_no_direct_ssh_without_22_tcp(rest, emu):
    pod = create(rest, ports=["8888/http"])
    emu.advance(60)
    assert rest.get(f"/v2/pods/{pod['id']}").json()["ssh"]["direct"] is None


def test_stop_start_restart_terminate_and_illegal_actions(rest, emu):
    pod_id = create(rest)["id"]
    emu.advance(60)

    def act(action):
        return rest.post(f"/v2/pods/{pod_id}/action", json={"action": action})

    response = act("start")
    assert response.status_code == 409
    assert response.json()["detail"] == "action 'start' is not allowed for a pod in status RUNNING"
    stopped = act("stop").json()
    assert stopped["status"] == "EXITED" and stopped["actions"] == ["start", "terminate"]
    assert stopped["cost"] == 0 and stopped["runtime"] is None
    assert stopped["dataCenterId"] == "EU-RO-1" and stopped["cudaVersion"] == "12.8"
    for illegal in ("stop", "restart"):
        assert act(illegal).status_code == 409
    started = act("start").json()
    assert started["status"] == "PROVISIONING" and started["cost"] > 0
    emu.advance(60)
    restarted = act("restart").json()
    assert restarted["status"] == "PROVISIONING"
    assert emu.state()["pods"][0]["events"][-2:][0]["event"] == "restarted"
    assert act("terminate").status_code == 204
    assert rest.get(f"/v2/pods/{pod_id}").status_code == 404
    assert act("stop").status_code == 404
    assert rest.get("/v2/pods").json()["pods"] == []


def test_start_is_host_bound(rest, emu):
    pod_id = create(rest)["id"]
    rest.post(f"/v2/pods/{pod_id}/action", json={"action": "stop"})
    emu.set_market(A40, "SECURE", stock=0)  # its host's GPUs are rented by someone else
    response = rest.post(f"/v2/pods/{pod_id}/action", json={"action": "start"})
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "There are not enough free GPUs on the host machine to start this pod."
    )
    assert rest.get(f"/v2/pods/{pod_id}").json()["status"] == "EXITED"


def test_reset_is_422_naming_the_legal_actions(rest):
    pod_id = create(rest)["id"]
    response = rest.post(f"/v2/pods/{pod_id}/action", json={"action": "reset"})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        "$.action: value must be one of 'start', 'stop', 'restart', 'terminate'"
    ]


def test_locked_pod_cannot_be_stopped_but_can_be_terminated(rest, emu):
    pod_id = create(rest)["id"]
    emu.advance(60)
    patched = rest.patch(f"/v2/pods/{pod_id}", json={"locked": True}).json()
    assert patched["locked"] is True
    response = rest.post(f"/v2/pods/{pod_id}/action", json={"action": "stop"})
    assert response.status_code == 409 and response.json()["detail"] == "pod is locked"
    assert rest.delete(f"/v2/pods/{pod_id}").status_code == 204


def test_delete_then_404_and_unknown_pod_404(rest):
    pod_id = create(rest)["id"]
    assert rest.delete(f"/v2/pods/{pod_id}").status_code == 204
    for response in (rest.delete(f"/v2/pods/{pod_id}"), rest.get("/v2/pods/nope")):
        assert response.status_code == 404
        assert response.json() == {"title": "Not Found", "status": 404, "detail": "pod not found"}


def test_capacity_is_400_with_runpods_text(rest, emu):
    emu.set_market(A40, "SECURE", stock=0)
    response = rest.post("/v2/pods", json=v2_pod())
    assert response.status_code == 400
    assert response.json() == {"title": "Bad Request", "status": 400, "detail": ON_DEMAND_CAPACITY}
    # dataCenterIds are enforced: a data center without the GPU is the same capacity error
    emu.set_market(A40, "SECURE", stock=8)
    response = rest.post("/v2/pods", json=v2_pod(dataCenterIds=["AP-JP-1"]))
    assert (response.status_code, response.json()["detail"]) == (400, ON_DEMAND_CAPACITY)
    assert rest.get("/v2/pods").json()["pods"] == []


def test_cuda_constraints(rest):
    bad = v2_pod(gpu={"id": A40, "allowedCudaVersions": ["12.8"], "minCudaVersion": "12.0"})
    assert rest.post("/v2/pods", json=bad).status_code == 400
    too_new = v2_pod(gpu={"id": A40, "minCudaVersion": "13.0"})
    assert rest.post("/v2/pods", json=too_new).json()["detail"] == ON_DEMAND_CAPACITY
    assert rest.post("/v2/pods", json=v2_pod(gpu={"id": A40, "minCudaVersion": "12.4"})).is_success


def test_insufficient_balance_is_402(clock):
    emu = Emulator(clock, balance=0.1)
    with rest_client(emu) as rest:
        response = rest.post("/v2/pods", json=v2_pod())
    assert response.status_code == 402
    assert response.json()["detail"] == "Insufficient balance."


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({**v2_pod(), "gpuTypeId": A40}, "$: additional properties 'gpuTypeId' not allowed"),
        ({"image": "x", "gpu": {"id": A40}}, "$: missing property 'name'"),
        ({"name": "x", "image": "x"}, "$: missing property 'gpu'"),
        ({"name": "x", "gpu": {"id": A40}}, "$: missing property 'image'"),
        (v2_pod(cloud="ALL"), "$.cloud: value must be one of 'SECURE', 'COMMUNITY'"),
        (v2_pod(gpu={"id": A40, "count": 0}), "$.gpu.count: must be >= 1 but found 0"),
        (v2_pod(gpu={"id": A40, "bid": 1}), "$.gpu: additional properties 'bid' not allowed"),
        (v2_pod(ports="22/tcp"), "$.ports: expected array, but got string"),
        (v2_pod(env=[{"key": "A", "value": "1"}]), "$.env: expected object, but got array"),
    ],
)
def test_create_rejects_what_the_schema_forbids(rest, body, error):
    response = rest.post("/v2/pods", json=body)
    assert response.status_code == 422
    assert response.json()["detail"] == "Request validation failed."
    assert error in response.json()["errors"]


def test_patch_changes_the_stored_configuration(rest, emu):
    pod_id = create(rest, env={"A": "1"})["id"]
    patched = rest.patch(
        f"/v2/pods/{pod_id}",
        json={"name": "renamed", "env": {"B": "2"}, "ports": [], "image": "img:2", "disk": 30},
    ).json()
    assert (patched["name"], patched["env"], patched["ports"]) == ("renamed", {"B": "2"}, [])
    assert (patched["image"], patched["disk"]) == ("img:2", 30)
    assert rest.patch(f"/v2/pods/{pod_id}", json={"flavour": 1}).status_code == 422
    assert rest.patch("/v2/pods/nope", json={"name": "x"}).status_code == 404
    volume = emu.world.account.create_volume("v", 10, "EU-RO-1")
    mounts = {"network": [{"volumeId": volume.id, "path": "/w"}]}
    assert rest.patch(f"/v2/pods/{pod_id}", json={"mounts": mounts}).status_code == 400


def test_network_volume_places_the_pod_in_its_data_center(rest, emu):
    volume = rest.post(
        "/v2/network-volumes", json={"name": "data", "size": 50, "dataCenter": "CA-MTL-1"}
    ).json()
    mounts = {"network": [{"volumeId": volume["id"], "path": "/workspace"}]}
    pod = create(rest, mounts=mounts)
    assert pod["dataCenterId"] == "CA-MTL-1" and pod["mounts"] == mounts
    both = {**mounts, "persistent": {"size": 20, "path": "/data"}}
    assert rest.post("/v2/pods", json=v2_pod(mounts=both)).status_code == 400
    elsewhere = v2_pod(mounts=mounts, dataCenterIds=["EU-RO-1"])
    assert rest.post("/v2/pods", json=elsewhere).json()["detail"] == ON_DEMAND_CAPACITY


def test_list_is_paginated_by_cursor(rest, emu):
    ids = [create(rest, name=f"p{i}")["id"] for i in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = rest.get("/v2/pods", params=params).json()
        seen += [p["id"] for p in answer["pods"]]
        pages += 1
        if pages == 1:
            rest.delete(f"/v2/pods/{ids[0]}")  # removing a served pod shifts nothing
        if not answer["pagination"]["hasNextPage"]:
            assert answer["pagination"]["nextCursor"] is None
            break
        cursor = answer["pagination"]["nextCursor"]
    assert (seen, pages) == (ids, 3)
    for bad in ({"cursor": "garbage"}, {"cursor": cursor or "x", "limit": 3}, {"limit": 0}):
        response = rest.get("/v2/pods", params=bad)
        assert response.status_code == 422, bad
    first = rest.get("/v2/pods", params={"limit": 1}).json()["pagination"]["nextCursor"]
    foreign = rest.get("/v2/network-volumes", params={"cursor": first, "limit": 1})
    assert foreign.status_code == 422
    assert rest.get("/v2/pods", params={"desiredStatus": "RUNNING"}).is_success  # ignored


def test_pagination_off_answers_a_bare_list(clock):
    emu = Emulator(clock, rest=RestConfig(pagination=False))
    with rest_client(emu) as rest:
        rest.post("/v2/pods", json=v2_pod())
        answer = rest.get("/v2/pods").json()
    assert list(answer) == ["pods"] and len(answer["pods"]) == 1


# ----------------------------------------------------------------- shared with GraphQL
def test_graphql_pod_is_managed_over_rest(gql: Gql, rest, emu):
    made = gql(ON_DEMAND, {"input": pod_input(gpuCount=2)})["podFindAndDeployOnDemand"]
    emu.advance(60)
    seen = rest.get(f"/v2/pods/{made['id']}").json()
    assert seen["status"] == "RUNNING" and seen["cost"] == made["costPerHr"]
    assert seen["gpu"]["count"] == 2 and seen["name"] == "job"
    assert [p["id"] for p in rest.get("/v2/pods").json()["pods"]] == [made["id"]]
    assert rest.post(f"/v2/pods/{made['id']}/action", json={"action": "stop"}).is_success
    assert gql(POD, {"id": made["id"]})["pod"]["desiredStatus"] == "EXITED"
    assert rest.delete(f"/v2/pods/{made['id']}").status_code == 204
    assert gql(POD, {"id": made["id"]})["pod"] is None
    assert gql(MY_PODS)["myself"]["pods"] == []


def test_rest_pod_is_managed_over_graphql(gql: Gql, rest, emu):
    pod = create(rest, name="from-rest", gpu={"id": A40, "count": 2})
    emu.advance(3600)
    listed = gql(MY_PODS)["myself"]["pods"]
    assert [(p["id"], p["desiredStatus"]) for p in listed] == [(pod["id"], "RUNNING")]
    assert gql(STOP, {"id": pod["id"]})["podStop"]["desiredStatus"] == "EXITED"
    assert rest.get(f"/v2/pods/{pod['id']}").json()["status"] == "EXITED"
    assert gql(TERMINATE, {"id": pod["id"]}) == {"podTerminate": None}
    assert rest.get(f"/v2/pods/{pod['id']}").status_code == 404


def test_spot_pods_after_spot_removal(gql: Gql, rest, emu):
    emu.set_market(A40, "SECURE", spot_price=0.2)
    spot = gql(SPOT, {"input": pod_input(bidPerGpu=0.3)})["podRentInterruptable"]
    emu.advance(60)
    assert rest.get(f"/v2/pods/{spot['id']}").json()["status"] == "RUNNING"
    emu.set_spot_enabled(False)
    seen = rest.get(f"/v2/pods/{spot['id']}").json()
    assert (seen["status"], seen["actions"], seen["cost"]) == ("EXITED", ["start", "terminate"], 0)
    response = rest.post(f"/v2/pods/{spot['id']}/action", json={"action": "start"})
    assert response.status_code == 400
    assert response.json()["detail"] == "Cannot resume a spot pod as an on demand pod."
