"""Simulated containers (start-up delay, busy -> idle/stop/terminate at the exact time,
checkpoints) and per-second billing as an exact integral on a virtual clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator

from .conftest import ON_DEMAND, POD, SPOT, START, env, gql_for, pod_input

A40 = "NVIDIA A40"
STOP = "mutation($id: String!) { podStop(input: {podId: $id}) { id } }"
RESUME = "mutation($id: String!) { podResume(input: {podId: $id, gpuCount: 1}) { id } }"
BID_RESUME = (
    "mutation($id: String!) "
    "{ podBidResume(input: {podId: $id, bidPerGpu: 0.3, gpuCount: 1}) { id } }"
)
TERMINATE = "mutation($id: String!) { podTerminate(input: {podId: $id}) }"


@pytest.fixture
def world(clock):
    emu = Emulator(clock, seed=1, startup_delay=20.0)
    emu.set_market(A40, "SECURE", spot_price=0.2, on_demand_price=0.4, stock=8)
    return emu, gql_for(emu), clock


def create(g, spot: bool = False, **env_values: str) -> str:
    extra = {"env": env(**env_values)} if env_values else {}
    if spot:
        data = g(SPOT, {"input": pod_input(bidPerGpu=0.3, **extra)})
        return data["podRentInterruptable"]["id"]
    return g(ON_DEMAND, {"input": pod_input(**extra)})["podFindAndDeployOnDemand"]["id"]


def pod(g, pod_id: str):
    return g(POD, {"id": pod_id})["pod"]


def test_runtime_appears_after_the_startup_delay(world):
    _, g, clock = world
    pod_id = create(g)
    clock.advance(19.999)
    assert pod(g, pod_id)["runtime"] is None
    clock.advance(0.001)
    runtime = pod(g, pod_id)["runtime"]
    assert runtime["uptimeInSeconds"] == 0
    clock.advance(100)
    runtime = pod(g, pod_id)["runtime"]
    assert runtime["uptimeInSeconds"] == 100
    assert pod(g, pod_id)["uptimeSeconds"] == 100
    [gpu] = runtime["gpus"]
    assert gpu["id"].startswith("GPU-")
    assert 85 <= gpu["gpuUtilPercent"] <= 100  # no SIM env: busy forever
    g(STOP, {"id": pod_id})
    g(RESUME, {"id": pod_id})
    assert pod(g, pod_id)["runtime"] is None  # restarting
    clock.advance(20)
    assert pod(g, pod_id)["runtime"]["uptimeInSeconds"] == 0


def test_ports_in_runtime(world):
    _, g, clock = world
    pod_id = g(ON_DEMAND, {"input": pod_input(ports="8888/http,22/tcp")})[
        "podFindAndDeployOnDemand"
    ]["id"]
    clock.advance(30)
    ports = g(
        "query($id: String!) { pod(input: {podId: $id}) "
        "{ runtime { ports { ip isIpPublic privatePort publicPort type } } } }",
        {"id": pod_id},
    )["pod"]["runtime"]["ports"]
    assert [(p["privatePort"], p["type"], p["isIpPublic"]) for p in ports] == [
        (8888, "http", False),
        (22, "tcp", True),
    ]
    assert ports[0]["ip"].startswith("100.65.")


def test_busy_then_idle(world):
    emu, g, clock = world
    pod_id = create(g, SPOTSCHED_SIM_BUSY_SECONDS="600", SPOTSCHED_SIM_THEN="idle")
    clock.advance(20 + 599)
    assert pod(g, pod_id)["runtime"]["gpus"][0]["gpuUtilPercent"] >= 85
    clock.advance(1)
    runtime = pod(g, pod_id)["runtime"]
    assert runtime["gpus"][0]["gpuUtilPercent"] == 0
    clock.advance(7200)
    assert pod(g, pod_id)["desiredStatus"] == "RUNNING"
    assert pod(g, pod_id)["runtime"]["gpus"][0]["gpuUtilPercent"] == 0
    assert emu.billing_total(pod_id) == pytest.approx(0.4 * (620 + 7200) / 3600, rel=1e-12)


@pytest.mark.parametrize("spot", [False, True])
def test_busy_then_stop_at_the_exact_time(world, spot):
    emu, g, clock = world
    pod_id = create(g, spot, SPOTSCHED_SIM_BUSY_SECONDS="600", SPOTSCHED_SIM_THEN="stop")
    clock.advance(86400)  # one request long after: the stop still happened at 620 s
    seen = pod(g, pod_id)
    assert seen["desiredStatus"] == "EXITED"
    assert seen["runtime"] is None
    assert seen["lastStatusChange"].startswith("Exited by User: Fri Nov 20 2026 10:10:20")
    cost = 0.3 if spot else 0.4
    assert emu.billing_total(pod_id) == pytest.approx(cost * 620 / 3600, rel=1e-12)


def test_busy_then_terminate(world):
    emu, g, clock = world
    pod_id = create(g, SPOTSCHED_SIM_BUSY_SECONDS="60", SPOTSCHED_SIM_THEN="terminate")
    clock.advance(79.5)
    assert pod(g, pod_id) is not None
    clock.advance(0.5)
    assert pod(g, pod_id) is None
    assert g("{ myself { pods { id } } }")["myself"]["pods"] == []
    assert emu.billing_total(pod_id) == pytest.approx(0.4 * 80 / 3600, rel=1e-12)
    [state] = emu.state()["pods"]
    assert state["desiredStatus"] == "TERMINATED"
    assert [e["event"] for e in state["events"]] == ["start", "work_done", "terminated_itself"]
    assert g.error(TERMINATE, {"id": pod_id})["message"] == "pod not found to terminate"


def test_work_starts_over_without_checkpoint(world):
    emu, g, clock = world
    pod_id = create(g, True, SPOTSCHED_SIM_BUSY_SECONDS="600", SPOTSCHED_SIM_THEN="stop")
    clock.advance(20 + 400)
    emu.preempt(pod_id)
    clock.advance(100)
    g(BID_RESUME, {"id": pod_id})
    clock.advance(20 + 599)
    assert pod(g, pod_id)["desiredStatus"] == "RUNNING"
    clock.advance(1)
    assert pod(g, pod_id)["desiredStatus"] == "EXITED"


def test_checkpoint_survives_preemption_and_moves_across_pods(world):
    emu, g, clock = world
    sim = {
        "SPOTSCHED_SIM_BUSY_SECONDS": "600",
        "SPOTSCHED_SIM_THEN": "terminate",
        "SPOTSCHED_SIM_CHECKPOINT": "1",
        "SPOTSCHED_JOB_ID": "job-42",
    }
    first = create(g, True, **sim)
    clock.advance(20 + 400)
    emu.preempt(first)
    state = next(p for p in emu.state()["pods"] if p["id"] == first)
    assert state["workDone"] == pytest.approx(400)
    g(TERMINATE, {"id": first})
    second = create(g, False, **sim)  # same job id, another pod
    clock.advance(20 + 199)
    assert pod(g, second) is not None
    clock.advance(1)
    assert pod(g, second) is None  # the remaining 200 s were done


def test_checkpoint_keyed_by_pod_without_job_id(world):
    emu, g, clock = world
    pod_id = create(
        g,
        SPOTSCHED_SIM_BUSY_SECONDS="100",
        SPOTSCHED_SIM_THEN="stop",
        SPOTSCHED_SIM_CHECKPOINT="1",
    )
    clock.advance(20 + 50)
    g(STOP, {"id": pod_id})
    g(RESUME, {"id": pod_id})
    clock.advance(20 + 50)
    assert pod(g, pod_id)["desiredStatus"] == "EXITED"
    assert emu.billing_total(pod_id) == pytest.approx(0.4 * 140 / 3600, rel=1e-12)


def test_work_does_not_progress_before_runtime_is_up(world):
    _, g, clock = world
    pod_id = create(g, SPOTSCHED_SIM_BUSY_SECONDS="10", SPOTSCHED_SIM_THEN="stop")
    clock.advance(29.9)
    assert pod(g, pod_id)["desiredStatus"] == "RUNNING"
    clock.advance(0.1)
    assert pod(g, pod_id)["desiredStatus"] == "EXITED"


def test_billing_integral_with_stops_preemption_and_reprice(world):
    emu, g, clock = world
    a = create(g)  # on-demand 0.4/h
    b = create(g, True)  # spot bid 0.3/h
    clock.advance(1234.5)
    g(STOP, {"id": a})
    clock.advance(1000)
    emu.preempt(b)
    clock.advance(777)
    g(RESUME, {"id": a})
    g(BID_RESUME, {"id": b})
    clock.advance(3600)
    g(TERMINATE, {"id": a})
    clock.advance(5000)
    expected_a = 0.4 * (1234.5 + 3600) / 3600
    expected_b = 0.3 * (2234.5 + 3600 + 5000) / 3600
    assert emu.billing_total(a) == pytest.approx(expected_a, rel=1e-9)
    assert emu.billing_total(b) == pytest.approx(expected_b, rel=1e-9)
    assert emu.billing_total() == pytest.approx(expected_a + expected_b, rel=1e-9)
    me = g("{ myself { clientBalance currentSpendPerHr } }")["myself"]
    assert me["clientBalance"] == pytest.approx(1000 - expected_a - expected_b, abs=1e-6)
    assert me["currentSpendPerHr"] == pytest.approx(0.3)


@settings(max_examples=25, deadline=None)
@given(
    steps=st.lists(
        # Whole microseconds: the clock's own resolution (datetime).
        st.tuples(
            st.sampled_from(["wait", "stop", "resume"]),
            st.integers(0, 5_000_000_000).map(lambda us: us / 1e6),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_billing_is_the_integral_of_cost_over_running_time(steps):
    clock = VirtualClock(START)
    emu = Emulator(clock, seed=2)
    emu.set_market(A40, "SECURE", on_demand_price=0.37, stock=8)
    g = gql_for(emu)
    pod_id = create(g)
    running, seconds = True, 0.0
    for action, dt in steps:
        clock.advance(dt)
        if running:
            seconds += dt
        if action == "stop" and running:
            g(STOP, {"id": pod_id})
            running = False
        elif action == "resume" and not running:
            g(RESUME, {"id": pod_id})
            running = True
    assert emu.billing_total(pod_id) == pytest.approx(0.37 * seconds / 3600, rel=1e-9, abs=1e-12)
