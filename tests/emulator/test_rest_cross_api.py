"""Both APIs see one world: whatever mix of GraphQL and REST calls happened, they agree on which
pods exist, whether each runs, what it costs and what was billed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator

from .conftest import ON_DEMAND, START, gql_for, pod_input, rest_client, v2_pod

STOP = "mutation($id: String!) { podStop(input: {podId: $id}) { id } }"
RESUME = "mutation($id: String!) { podResume(input: {podId: $id, gpuCount: 1}) { id } }"
TERMINATE = "mutation($id: String!) { podTerminate(input: {podId: $id}) }"
PODS = "{ myself { clientBalance pods { id desiredStatus costPerHr } } }"

steps = st.lists(
    st.tuples(
        st.sampled_from(["create", "stop", "start", "terminate", "wait"]),
        st.sampled_from(["graphql", "rest"]),
        st.integers(0, 5),  # which pod (by index among live ones)
        st.integers(1, 4000),  # seconds to wait
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(steps=steps)
def test_graphql_and_rest_agree(steps):
    emu = Emulator(VirtualClock(START), seed=5)
    gql = gql_for(emu)
    with rest_client(emu) as rest:
        for action, api, which, seconds in steps:
            live = [p["id"] for p in rest.get("/v2/pods").json()["pods"]]
            target = live[which % len(live)] if live else None
            if action == "create":
                if api == "graphql":
                    gql.raw(ON_DEMAND, {"input": pod_input()})
                else:
                    rest.post("/v2/pods", json=v2_pod())
            elif action == "wait":
                emu.advance(seconds)
            elif target is not None and api == "rest":
                rest.post(f"/v2/pods/{target}/action", json={"action": action})
            elif target is not None:
                document = {"stop": STOP, "start": RESUME, "terminate": TERMINATE}[action]
                gql.raw(document, {"id": target})

        seen = gql(PODS)["myself"]
        rest_pods = {p["id"]: p for p in rest.get("/v2/pods").json()["pods"]}
        assert [p["id"] for p in seen["pods"]] == list(rest_pods)
        for pod in seen["pods"]:
            mine = rest_pods[pod["id"]]
            assert (pod["desiredStatus"] == "EXITED") == (mine["status"] == "EXITED")
            if mine["status"] != "EXITED":
                assert mine["cost"] == pod["costPerHr"]
            else:
                assert mine["cost"] == 0
        billed = rest.get("/v2/billing", params={"lastN": 2}).json()["metadata"]["totals"]
        assert billed["totalAmount"] == pytest.approx(emu.billing_total(), rel=1e-9, abs=1e-9)
        assert seen["clientBalance"] == pytest.approx(1000 - emu.billing_total(), abs=1e-5)
