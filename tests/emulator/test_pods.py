"""Pod lifecycle: on-demand and spot creates, capacity, stop/resume/bid-resume, terminate,
preemption, network volumes, templates."""

from __future__ import annotations

import pytest

from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator
from scheduler.emulator.errors import (
    HOST_FULL,
    ON_DEMAND_CAPACITY,
    SPOT_CAPACITY,
    SPOT_RESUME_AS_ON_DEMAND,
    SPOT_UNSUPPORTED,
)

from .conftest import ON_DEMAND, POD, SPOT, START, Gql, gql_for, pod_input

A40 = "NVIDIA A40"
STOP = (
    "mutation($id: String!) { podStop(input: {podId: $id}) { id desiredStatus lastStatusChange } }"
)
RESUME = (
    "mutation($id: String!, $n: Int) { podResume(input: {podId: $id, gpuCount: $n}) "
    "{ id desiredStatus costPerHr } }"
)
BID_RESUME = (
    "mutation($id: String!, $bid: Float!, $n: Int!) { podBidResume(input: "
    "{podId: $id, bidPerGpu: $bid, gpuCount: $n}) { id desiredStatus costPerHr } }"
)
TERMINATE = "mutation($id: String!) { podTerminate(input: {podId: $id}) }"
MY_PODS = "{ myself { pods { id desiredStatus } } }"


@pytest.fixture
def market(emu: Emulator) -> Emulator:
    emu.set_market(A40, "SECURE", spot_price=0.20, on_demand_price=0.40, stock=8)
    emu.set_market(A40, "COMMUNITY", spot_price=0.18, on_demand_price=0.35, stock=0)
    return emu


def spot(gql: Gql, bid: float = 0.25, **kw) -> dict:
    return gql(SPOT, {"input": pod_input(bidPerGpu=bid, **kw)})["podRentInterruptable"]


def on_demand(gql: Gql, **kw) -> dict:
    return gql(ON_DEMAND, {"input": pod_input(**kw)})["podFindAndDeployOnDemand"]


def get(gql: Gql, pod_id: str) -> dict | None:
    return gql(POD, {"id": pod_id})["pod"]


def test_on_demand_create(gql, market, emu):
    pod = on_demand(gql, gpuCount=2, env=[{"key": "A", "value": "1"}], ports="8888/http,22/tcp")
    assert pod["desiredStatus"] == "RUNNING"
    assert pod["podType"] == "RESERVED"
    assert pod["costPerHr"] == pytest.approx(0.80)
    assert pod["gpuCount"] == 2
    assert pod["env"] == ["A=1"]
    assert pod["ports"] == "8888/http,22/tcp"
    assert pod["runtime"] is None  # the container is still starting
    assert pod["machine"]["gpuTypeId"] == A40
    assert pod["machine"]["gpuDisplayName"] == "A40"
    assert pod["machine"]["secureCloud"] is True
    assert pod["lastStatusChange"] == (
        "Rented by User: Fri Nov 20 2026 10:00:00 GMT+0000 (Coordinated Universal Time)"
    )
    free = next(
        m for m in emu.state()["market"] if m["gpuTypeId"] == A40 and m["cloudType"] == "SECURE"
    )
    assert free["freeGpus"] == 6


def test_cloud_all_picks_the_cheaper_cloud_with_capacity(gql, market, emu):
    pod = on_demand(gql, cloudType="ALL")
    assert pod["machine"]["secureCloud"] is True  # community has no stock
    emu.set_market(A40, "COMMUNITY", stock=4)
    pod = on_demand(gql, cloudType="ALL")
    assert pod["machine"]["secureCloud"] is False
    assert pod["costPerHr"] == pytest.approx(0.35)


def test_on_demand_capacity_errors(gql, market, emu):
    emu.set_market(A40, "SECURE", stock=1)
    error = gql.error(ON_DEMAND, {"input": pod_input(gpuCount=2)})
    assert error["message"] == ON_DEMAND_CAPACITY
    assert error["path"] == ["podFindAndDeployOnDemand"]
    assert (
        gql.error(ON_DEMAND, {"input": pod_input(gpuTypeId="NVIDIA GeForce GTX 480")})["message"]
        == ON_DEMAND_CAPACITY
    )
    assert gql.error(ON_DEMAND, {"input": pod_input(dataCenterId="AP-JP-1")})["message"] == (
        ON_DEMAND_CAPACITY
    )
    on_demand(gql)  # the last free GPU
    assert gql.error(ON_DEMAND, {"input": pod_input()})["message"] == ON_DEMAND_CAPACITY


def test_data_center_and_country_filters(gql, market, emu):
    pod = on_demand(gql, dataCenterId="EU-RO-1")
    assert pod["machine"]["dataCenterId"] == "EU-RO-1"
    [host] = emu.world.capacity.hosts_for("NVIDIA RTX A4000", "COMMUNITY")[:1]
    country = emu.world.catalogue.data_center(host.spec.data_center_id).country_code
    pod = on_demand(gql, gpuTypeId="NVIDIA RTX A4000", cloudType="COMMUNITY", countryCode=country)
    dc = emu.world.catalogue.data_center(pod["machine"]["dataCenterId"])
    assert dc.country_code == country
    assert (
        gql.error(ON_DEMAND, {"input": pod_input(countryCode="ZZ")})["message"]
        == ON_DEMAND_CAPACITY
    )


def test_gpu_type_id_list_takes_the_first_with_capacity(gql, market, emu):
    emu.set_market(A40, "SECURE", stock=0)
    pod = gql(ON_DEMAND, {"input": pod_input(gpuTypeId=None, gpuTypeIdList=[A40, "NVIDIA L4"])})[
        "podFindAndDeployOnDemand"
    ]
    assert pod["machine"]["gpuTypeId"] == "NVIDIA L4"


def test_stock_is_advisory(clock):
    emu = Emulator(clock, create_failure_rate=1.0)
    g = gql_for(emu)
    query = (
        '{ gpuTypes(input: {id: "NVIDIA A40"}) '
        "{ lowestPrice(input: {gpuCount: 1, secureCloud: true}) { stockStatus } } }"
    )
    assert g(query)["gpuTypes"][0]["lowestPrice"]["stockStatus"] is not None
    assert g.error(ON_DEMAND, {"input": pod_input()})["message"] == ON_DEMAND_CAPACITY
    assert g.error(SPOT, {"input": pod_input(bidPerGpu=5.0)})["message"] == SPOT_CAPACITY


def test_spot_create_pays_its_bid(gql, market):
    pod = spot(gql, 0.25, gpuCount=4)
    assert pod["podType"] == "INTERRUPTABLE"
    assert pod["costPerHr"] == pytest.approx(1.0)
    assert pod["desiredStatus"] == "RUNNING"


def test_spot_bid_under_floor_or_no_capacity(gql, market, emu):
    error = gql.error(SPOT, {"input": pod_input(bidPerGpu=0.19)})
    assert error["message"] == SPOT_CAPACITY
    assert error["extensions"]["code"] == "RUNPOD"
    emu.set_market(A40, "SECURE", stock=0)
    assert gql.error(SPOT, {"input": pod_input(bidPerGpu=9.0)})["message"] == SPOT_CAPACITY
    assert gql.error(SPOT, {"input": pod_input()})["message"] == SPOT_CAPACITY  # no bid at all


def test_spot_switched_off_is_unsupported(gql, market, emu):
    running = spot(gql)
    emu.set_spot_enabled(False)
    error = gql.error(SPOT, {"input": pod_input(bidPerGpu=1.0)})
    assert error == {
        "message": SPOT_UNSUPPORTED,
        "locations": error["locations"],
        "path": ["podRentInterruptable"],
        "extensions": {"code": "UNSUPPORTED"},
    }
    error = gql.error(BID_RESUME, {"id": running["id"], "bid": 1.0, "n": 1})
    assert error["extensions"]["code"] == "UNSUPPORTED"
    # running spot pods were interrupted when spot went away, and cannot come back as spot
    assert get(gql, running["id"])["desiredStatus"] == "EXITED"
    assert emu.state()["pods"][0]["preemptions"] == 1


def test_stop_resume_terminate(gql, market, emu, clock):
    pod = on_demand(gql)
    clock.advance(3600)
    stopped = gql(STOP, {"id": pod["id"]})["podStop"]
    assert stopped["desiredStatus"] == "EXITED"
    assert stopped["lastStatusChange"].startswith(
        "Exited by User: Fri Nov 20 2026 11:00:00 GMT+0000"
    )
    assert get(gql, pod["id"])["runtime"] is None
    assert gql(STOP, {"id": pod["id"]})["podStop"]["desiredStatus"] == "EXITED"  # idempotent
    emu.set_market(A40, "SECURE", on_demand_price=0.5)
    resumed = gql(RESUME, {"id": pod["id"], "n": 1})["podResume"]
    assert resumed == {"id": pod["id"], "desiredStatus": "RUNNING", "costPerHr": 0.5}
    assert gql(TERMINATE, {"id": pod["id"]}) == {"podTerminate": None}
    assert get(gql, pod["id"]) is None
    assert gql(MY_PODS)["myself"]["pods"] == []
    assert gql.error(TERMINATE, {"id": pod["id"]})["message"] == "pod not found to terminate"
    assert gql.error(STOP, {"id": pod["id"]})["message"] == "pod not found"


def test_resume_needs_free_gpus_on_the_same_host(gql, market, emu):
    pod = on_demand(gql, gpuCount=2)
    gql(STOP, {"id": pod["id"]})
    emu.set_market(A40, "SECURE", stock=0)
    assert gql.error(RESUME, {"id": pod["id"], "n": 2})["message"] == HOST_FULL
    emu.set_market(A40, "SECURE", stock=16)
    assert gql(RESUME, {"id": pod["id"], "n": 2})["podResume"]["desiredStatus"] == "RUNNING"
    after = gql("query($id: String!) { pod(input: {podId: $id}) { machineId } }", {"id": pod["id"]})
    assert after["pod"]["machineId"] == pod["machineId"]


def test_resume_of_a_spot_pod_is_refused(gql, market):
    pod = spot(gql)
    gql(STOP, {"id": pod["id"]})
    assert gql.error(RESUME, {"id": pod["id"], "n": 1})["message"] == SPOT_RESUME_AS_ON_DEMAND


def test_bid_resume(gql, market, emu):
    pod = spot(gql, 0.25)
    emu.preempt(pod["id"])
    assert gql.error(BID_RESUME, {"id": pod["id"], "bid": 0.1, "n": 1})["message"] == SPOT_CAPACITY
    resumed = gql(BID_RESUME, {"id": pod["id"], "bid": 0.3, "n": 1})["podBidResume"]
    assert resumed == {"id": pod["id"], "desiredStatus": "RUNNING", "costPerHr": 0.3}
    emu.preempt(pod["id"])
    emu.set_market(A40, "SECURE", stock=0)
    assert gql.error(BID_RESUME, {"id": pod["id"], "bid": 0.3, "n": 1})["message"] == HOST_FULL


def test_bid_resume_on_a_running_pod_rebids(gql, market, emu, clock):
    pod = spot(gql, 0.25)
    clock.advance(1800)
    rebid = gql(BID_RESUME, {"id": pod["id"], "bid": 0.35, "n": 1})["podBidResume"]
    assert rebid["costPerHr"] == 0.35
    clock.advance(1800)
    assert emu.billing_total(pod["id"]) == pytest.approx(0.25 / 2 + 0.35 / 2, rel=1e-12)


def test_bid_resume_of_an_on_demand_pod_is_refused(gql, market):
    pod = on_demand(gql)
    error = gql.error(BID_RESUME, {"id": pod["id"], "bid": 1.0, "n": 1})
    assert error["message"] == "Cannot resume an on demand pod as a spot pod."


def test_preemption_when_the_floor_rises_above_the_bid(gql, market, emu, clock):
    pod = spot(gql, 0.25)
    clock.advance(600)
    emu.set_market(A40, "SECURE", spot_price=0.25)  # equal to the bid: keeps running
    assert get(gql, pod["id"])["desiredStatus"] == "RUNNING"
    emu.set_market(A40, "SECURE", spot_price=0.26)
    seen = get(gql, pod["id"])
    assert seen["desiredStatus"] == "EXITED"
    assert seen["runtime"] is None
    assert seen["lastStatusChange"].startswith(
        "Spot instance interrupted: Fri Nov 20 2026 10:10:00"
    )
    billed = emu.billing_total(pod["id"])
    assert billed == pytest.approx(0.25 * 600 / 3600, rel=1e-12)
    clock.advance(3600)
    assert emu.billing_total(pod["id"]) == billed  # billing stopped
    state = next(p for p in emu.state()["pods"] if p["id"] == pod["id"])
    assert state["preemptions"] == 1
    free = next(
        m for m in emu.state()["market"] if m["gpuTypeId"] == A40 and m["cloudType"] == "SECURE"
    )
    assert free["freeGpus"] == 8  # GPUs released
    assert [p["id"] for p in gql(MY_PODS)["myself"]["pods"]] == [pod["id"]]  # stopped, not gone


def test_preemption_by_the_model_at_a_market_step(clock):
    emu = Emulator(clock, seed=11)
    entry = emu.world.market[(A40, "SECURE")]
    assert entry.model_spot is not None
    bid = entry.model_spot  # exactly the floor: the first rise preempts
    g = gql_for(emu)
    pod = g(SPOT, {"input": pod_input(bidPerGpu=bid)})["podRentInterruptable"]
    for _ in range(2000):
        emu.advance(300)
        if g(POD, {"id": pod["id"]})["pod"]["desiredStatus"] == "EXITED":
            break
    floor = emu.world.market[(A40, "SECURE")].model_spot
    assert floor is not None
    assert floor > bid
    seconds = next(p for p in emu.state()["pods"])["runningSeconds"]
    assert seconds > 0
    assert seconds % 300 == 0  # preempted exactly at a market step


def test_admin_preempt_of_unknown_or_stopped_pod(gql, market, emu):
    with pytest.raises(KeyError):
        emu.preempt("nosuchpod00000")
    pod = on_demand(gql)
    gql(STOP, {"id": pod["id"]})
    with pytest.raises(KeyError):
        emu.preempt(pod["id"])


def test_network_volume_pins_the_data_center(gql, market, emu):
    volume = gql(
        'mutation { createNetworkVolume(input: {name: "v", size: 10, dataCenterId: "eu-ro-1"}) '
        "{ id name size dataCenterId } }"
    )["createNetworkVolume"]
    assert volume["dataCenterId"] == "EU-RO-1"
    pod = on_demand(gql, networkVolumeId=volume["id"])
    assert pod["machine"]["dataCenterId"] == "EU-RO-1"
    detail = gql(
        "query($id: String!) { pod(input: {podId: $id}) "
        "{ networkVolumeId networkVolume { id dataCenterId } } }",
        {"id": pod["id"]},
    )["pod"]
    assert detail == {
        "networkVolumeId": volume["id"],
        "networkVolume": {"id": volume["id"], "dataCenterId": "EU-RO-1"},
    }
    error = gql.error(
        ON_DEMAND, {"input": pod_input(networkVolumeId=volume["id"], dataCenterId="US-TX-3")}
    )
    assert error["message"] == ON_DEMAND_CAPACITY
    assert gql.error(ON_DEMAND, {"input": pod_input(networkVolumeId="nope")})["message"] == (
        "Network volume not found."
    )
    listed = gql("{ myself { networkVolumes { id name size dataCenterId } } }")["myself"]
    assert listed["networkVolumes"] == [volume]
    update = (
        "mutation($id: String!) "
        '{ updateNetworkVolume(input: {id: $id, name: "w", size: 20}) { size } }'
    )
    assert gql(update, {"id": volume["id"]}) == {"updateNetworkVolume": {"size": 20}}
    delete = "mutation($id: String!) { deleteNetworkVolume(input: {id: $id}) }"
    assert gql(delete, {"id": volume["id"]}) == {"deleteNetworkVolume": None}
    error = gql.error(delete, {"id": volume["id"]})
    assert "Tried to delete nonexistent network volume" in error["message"]
    create = (
        "mutation($dc: String) "
        '{ createNetworkVolume(input: {name: "v", dataCenterId: $dc}) { id } }'
    )
    assert gql.error(create, {"dc": "MARS-1"})["message"] == "Invalid data center id."


def test_templates(gql, market):
    template = gql(
        'mutation { saveTemplate(input: {name: "t", imageName: "img:2", containerDiskInGb: 10, '
        'volumeInGb: 0, dockerArgs: "bash -c \\"x\\"", env: [{key: "T", value: "1"}], '
        'ports: "", isServerless: false, containerRegistryAuthId: "", startSsh: true, '
        'isPublic: false, readme: ""}) { id name imageName dockerArgs env { key value } } }'
    )["saveTemplate"]
    assert template["dockerArgs"] == 'bash -c "x"'
    assert template["env"] == [{"key": "T", "value": "1"}]
    error = gql.error('mutation { saveTemplate(input: {name: "t", imageName: "other"}) { id } }')
    assert error["message"] == "Template name must be unique."
    updated = gql(
        "mutation($id: String) "
        '{ saveTemplate(input: {id: $id, name: "t", imageName: "img:3"}) { id imageName } }',
        {"id": template["id"]},
    )["saveTemplate"]
    assert updated == {"id": template["id"], "imageName": "img:3"}
    pod = gql(
        "mutation($input: PodFindAndDeployOnDemandInput!) "
        "{ podFindAndDeployOnDemand(input: $input) { imageName env templateId } }",
        {
            "input": pod_input(
                imageName=None, templateId=template["id"], env=[{"key": "U", "value": "2"}]
            )
        },
    )["podFindAndDeployOnDemand"]
    assert pod == {"imageName": "img:3", "env": ["T=1", "U=2"], "templateId": template["id"]}
    assert gql("{ myself { podTemplates { name } } }")["myself"]["podTemplates"] == [{"name": "t"}]
    assert gql('mutation { deleteTemplate(templateName: "t") }') == {"deleteTemplate": None}
    assert (
        gql.error('mutation { deleteTemplate(templateName: "t") }')["message"]
        == "Template not found"
    )


def test_pod_ids_are_deterministic_per_seed():
    def first_id(seed: int) -> str:
        g = gql_for(Emulator(VirtualClock(START), seed=seed))
        return g(ON_DEMAND, {"input": pod_input()})["podFindAndDeployOnDemand"]["id"]

    assert first_id(1) == first_id(1)
    assert first_id(1) != first_id(2)


def test_account_fields(gql, market, clock):
    on_demand(gql, gpuCount=2)
    clock.advance(3600)
    me = gql("{ myself { id email clientBalance currentSpendPerHr spendLimit pubKey } }")["myself"]
    assert me["clientBalance"] == pytest.approx(1000.0 - 0.8)
    assert me["currentSpendPerHr"] == pytest.approx(0.8)
    assert me["spendLimit"] == 80
    gql('mutation { updateUserSettings(input: {pubKey: "ssh-ed25519 AAA"}) { id pubKey } }')
    assert gql("{ myself { pubKey } }")["myself"]["pubKey"] == "ssh-ed25519 AAA"
