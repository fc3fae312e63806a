"""Query plans answer byte for byte what graphql-core answers, on randomized worlds.

Each scenario drives a seeded emulator through random market steps, pod creates (spot and
on-demand, with ports, volumes, simulated work that idles, stops or terminates), stops, resumes,
re-bids, terminations, preemptions, price pins, stock changes, spot switched off and on, and
after every step compares `run` (plans) with `run_graphql_core` (no plans) for the client's own
documents, generated documents that select every field the schema allows, and documents whose
variables do not coerce. A handler-level scenario with faults compares whole HTTP responses of
two emulators with the same seed, one without plans.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    is_leaf_type,
    is_required_argument,
)

from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator, FaultRule
from scheduler.emulator.graphql_app import (
    DocumentCache,
    Prepared,
    run,
    run_graphql_core,
    schema,
)
from scheduler.emulator.plan import Unplanned
from scheduler.emulator.resolvers import query_root
from scheduler.runpod import documents

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

CREATE_SPOT = """
mutation($input: PodRentInterruptableInput!) { podRentInterruptable(input: $input) { id } }
"""
CREATE_ON_DEMAND = """
mutation($input: PodFindAndDeployOnDemandInput!) { podFindAndDeployOnDemand(input: $input) { id } }
"""
STOP = "mutation($input: PodStopInput!) { podStop(input: $input) { id } }"
RESUME = "mutation($input: PodResumeInput!) { podResume(input: $input) { id } }"
BID_RESUME = "mutation($input: PodBidResumeInput!) { podBidResume(input: $input) { id } }"
TERMINATE = "mutation($input: PodTerminateInput!) { podTerminate(input: $input) }"
CREATE_VOLUME = """
mutation($input: CreateNetworkVolumeInput) { createNetworkVolume(input: $input) { id } }
"""
SAVE_TEMPLATE = "mutation($input: SaveTemplateInput) { saveTemplate(input: $input) { id } }"

LOWEST_PRICE_LITERALS = (
    "{gpuCount: 1}",
    "{gpuCount: 2, secureCloud: true}",
    "{gpuCount: 1, secureCloud: false, minVcpuCount: 8, minMemoryInGb: 40}",
    '{gpuCount: 1, dataCenterId: "EU-RO-1"}',
    '{gpuCount: 1, countryCode: "US"}',
)


def _selection(type_: GraphQLOutputType, depth: int) -> str | None:
    """Every field of `type_` (as deep as `depth`) that needs no argument; None if none."""
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    if is_leaf_type(type_):
        return ""
    if not isinstance(type_, GraphQLObjectType) or depth == 0:
        return None
    parts = []
    for name, field in type_.fields.items():
        if any(is_required_argument(arg) for arg in field.args.values()):
            continue
        inner = _selection(field.type, depth - 1)
        if inner == "":
            parts.append(name)
        elif inner is not None:
            parts.append(f"{name} {{ {inner} }}")
    return " ".join(parts) or None


def _everything_documents() -> list[str]:
    """One document per root query field, selecting every field it reaches (depth 5)."""
    query = schema().query_type
    assert query is not None
    out = []
    for name, field in query.fields.items():
        inner = _selection(field.type, 5)
        if any(is_required_argument(arg) for arg in field.args.values()) or inner is None:
            continue
        out.append(f"query {{ {name} {{ {inner} }} }}" if inner else f"query {{ {name} }}")
    lowest = " ".join(
        f"lp{i}: lowestPrice(input: {literal}) {{ {_selection(_lowest_price_type(), 2)} }}"
        for i, literal in enumerate(LOWEST_PRICE_LITERALS)
    )
    out.append(f"query {{ gpuTypes {{ id {lowest} }} }}")
    out.append(
        "query { dataCenters { id gpuAvailability(input: {gpuCount: 2, secureCloud: false}) "
        '{ id stockStatus available } } cpuFlavors(input: {id: "cpu3c"}) { id } }'
    )
    return out


def _lowest_price_type() -> GraphQLOutputType:
    query = schema().query_type
    assert query is not None
    gpu = query.fields["gpuTypes"].type
    assert isinstance(gpu, GraphQLList) and isinstance(gpu.of_type, GraphQLObjectType)
    return gpu.of_type.fields["lowestPrice"].type


EVERYTHING = _everything_documents()
POD_BY_ID = "query($id: String!) { pod(input: {podId: $id}) { id runtime { uptimeInSeconds } } }"


def _requests(world_pod_ids: list[str], rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """(document, variables) pairs as the client and other callers send them."""
    out: list[tuple[str, dict[str, Any]]] = [
        (documents.LIST_PODS.document, {}),
        (documents.ACCOUNT.document, {}),
        (documents.LIST_NETWORK_VOLUMES.document, {}),
        (documents.DATA_CENTERS.document, {"input": {"gpuCount": rng.randint(1, 3)}}),
        (documents.DATA_CENTERS.document, {}),
    ]
    gpu_ids = ["NVIDIA A40", "NVIDIA GeForce RTX 4090", "NVIDIA H100 80GB HBM3", "no such gpu"]
    for combos in (1, 2, 3):
        for filtered in (False, True):
            variables: dict[str, Any] = {}
            if filtered:
                variables["types"] = {"ids": sorted(rng.sample(gpu_ids, rng.randint(0, 3)))}
            for i in range(combos):
                lp: dict[str, Any] = {"gpuCount": rng.randint(1, 8)}
                if rng.random() < 0.7:
                    lp["secureCloud"] = rng.random() < 0.5
                variables[documents.market_alias(i)] = lp
            out.append((documents.market_operation(combos, filtered).document, variables))
    for pod_id in [*world_pod_ids, "nosuchpod00000"]:
        out.append((documents.GET_POD.document, {"input": {"podId": pod_id}}))
        out.append((POD_BY_ID, {"id": pod_id}))
    out.extend((text, {}) for text in EVERYTHING)
    # Variables that do not coerce: graphql-core's 400s, whatever the plan would have done.
    out.append((documents.GET_POD.document, {"input": {}}))
    out.append((documents.market_operation(1).document, {"lp0": {"gpuCount": "one"}}))
    out.append((documents.market_operation(1).document, {}))
    out.append((POD_BY_ID, {"id": None}))
    return out


class Walk:
    """A seeded emulator and a random walk through what can happen to it."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = VirtualClock(START)
        self.emu = Emulator(self.clock, seed=seed, create_failure_rate=0.1)
        self.http = httpx.Client(
            transport=self.emu.transport(),
            base_url="https://api.runpod.io",
            headers={"Authorization": "Bearer key"},
        )
        self.ids: list[str] = []
        self.volumes: list[str] = []
        # A few markets with room, so that creates mostly succeed.
        self.busy = self.rng.sample(sorted(self.emu.world.market), 3)
        for gpu, cloud in self.busy:
            self.emu.set_market(gpu, cloud, stock=16)

    def post(self, query: str, variables: dict[str, Any]) -> Any:
        body = self.http.post("/graphql", json={"query": query, "variables": variables}).json()
        return body.get("data")

    def step(self) -> None:
        rng, emu = self.rng, self.emu
        markets = list(emu.world.market)
        action = rng.choice(
            ["advance", "advance", "advance", "create", "create", "create", "stop", "resume",
             "terminate", "preempt", "pin", "stock", "spot", "volume"]
        )  # fmt: skip
        if action == "advance":
            emu.advance(rng.choice([0, 5, 30, 299, 300, 1800, 3 * 3600, 2 * 86400]))
        elif action == "create":
            gpu, cloud = rng.choice(self.busy if rng.random() < 0.8 else markets)
            spot = rng.random() < 0.6
            floor = emu.world.market[(gpu, cloud)].spot() or 0.3
            env = [
                {"key": "SPOTSCHED_SIM_BUSY_SECONDS", "value": str(rng.choice([60, 3600, 90000]))},
                {"key": "SPOTSCHED_SIM_THEN", "value": rng.choice(["idle", "stop", "terminate"])},
            ]
            data: dict[str, Any] = {
                "name": f"pod-{len(self.ids)}",
                "imageName": "img",
                "gpuTypeId": gpu,
                "cloudType": cloud,
                "gpuCount": rng.choice([1, 1, 2]),
                "env": env,
            }
            if rng.random() < 0.5:
                data["ports"] = rng.choice(["8888/http,22/tcp", "22/tcp", "x/http"])
            if self.volumes and rng.random() < 0.3:
                data["networkVolumeId"] = rng.choice(self.volumes)
            if spot:
                data["bidPerGpu"] = round(floor * rng.uniform(0.8, 1.6), 3)
            created = self.post(CREATE_SPOT if spot else CREATE_ON_DEMAND, {"input": data})
            field = "podRentInterruptable" if spot else "podFindAndDeployOnDemand"
            pod = (created or {}).get(field)
            if pod:
                self.ids.append(pod["id"])
        elif action in ("stop", "resume", "terminate", "preempt") and self.ids:
            pod_id = rng.choice(self.ids)
            if action == "stop":
                self.post(STOP, {"input": {"podId": pod_id}})
            elif action == "terminate":
                self.post(TERMINATE, {"input": {"podId": pod_id}})
            elif action == "preempt":
                pod = emu.world.pods.get(pod_id)
                if pod is not None and pod.running:
                    emu.preempt(pod_id)
            else:
                pod = emu.world.pods.get(pod_id)
                if pod is not None and pod.kind == "SPOT":
                    floor = emu.world.market[(pod.gpu.id, pod.cloud)].spot() or 0.3
                    bid = round(floor * rng.uniform(0.9, 1.5), 3)
                    self.post(
                        BID_RESUME, {"input": {"podId": pod_id, "bidPerGpu": bid, "gpuCount": 1}}
                    )
                else:
                    self.post(RESUME, {"input": {"podId": pod_id, "gpuCount": 1}})
        elif action == "pin":
            gpu, cloud = rng.choice(markets)
            emu.set_market(
                gpu,
                cloud,
                spot_price=rng.choice([None, None, 0.01, 5.0]),
                on_demand_price=rng.choice([None, 1.234]),
            )
        elif action == "stock":
            gpu, cloud = rng.choice(markets)
            emu.set_market(gpu, cloud, stock=rng.choice([0, 1, 3, 40]))
        elif action == "spot":
            emu.set_spot_enabled(rng.random() < 0.6)
        elif action == "volume":
            created = self.post(
                CREATE_VOLUME, {"input": {"name": "v", "size": 20, "dataCenterId": "EU-RO-1"}}
            )
            if created and created.get("createNetworkVolume"):
                self.volumes.append(created["createNetworkVolume"]["id"])
            env = [{"key": "A", "value": "1"}]
            template = {"name": f"t{rng.random()}", "imageName": "img", "env": env}
            self.post(SAVE_TEMPLATE, {"input": template})


def _compare(world: Walk, text: str, variables: dict[str, Any]) -> bool:
    """Assert both paths agree; True when the plan answered (graphql-core was not needed)."""
    emu = world.emu
    prepared: Prepared = emu.documents.get(text)
    assert prepared.document is not None, prepared.errors
    op = prepared.operation(None)
    assert op is not None
    with emu.world.lock:
        emu.world.sync()
        status, payload = run(emu.world, prepared, variables, None)
        ref_status, ref_payload = run_graphql_core(emu.world, prepared, variables, None)
        planned: dict[str, Any] | None = None
        if op.plan is not None:
            try:
                planned = op.plan.execute(query_root(emu.world), variables)
            except Unplanned:
                planned = None
    expected = json.dumps(ref_payload)
    assert (status, json.dumps(payload)) == (ref_status, expected), text
    if planned is None:
        return False
    assert (ref_status, json.dumps({"data": planned})) == (200, expected), text
    return True


@pytest.mark.parametrize(
    "seed", [0, 1, *(pytest.param(seed, marks=pytest.mark.slow) for seed in range(2, 12))]
)
def test_plans_answer_what_graphql_core_answers(seed: int) -> None:
    world = Walk(seed)
    planned = fallbacks = 0
    for _ in range(40):
        world.step()
        for text, variables in _requests(world.ids, world.rng):
            if _compare(world, text, variables):
                planned += 1
            else:
                fallbacks += 1
    assert planned > 5 * fallbacks  # the plans really ran: not graphql-core against itself
    assert fallbacks > 0  # and so did the way around them


def test_the_walks_reach_every_pod_state() -> None:
    statuses: set[str] = set()
    events: set[str] = set()
    starting = spot_off = 0
    for seed in range(4):
        world = Walk(seed)
        for _ in range(40):
            world.step()
            pods = [*world.emu.world.pods.values(), *world.emu.world.gone.values()]
            statuses |= {p.status for p in world.emu.world.pods.values()}
            events |= {what for p in pods for _, what in p.history}
            starting += sum(
                1 for p in pods if p.running and p.run and world.emu.world.t < p.run.ready_at
            )
            spot_off += not world.emu.world.spot_enabled
    assert statuses == {"RUNNING", "EXITED"}
    assert {"preempted", "stopped", "terminated", "work_done", "stopped_itself"} <= events
    assert starting > 0
    assert spot_off > 0


@pytest.mark.parametrize(
    "text",
    [
        CREATE_SPOT,
        "query { myself { id } ...F } fragment F on Query { pod { id } }",
        "query { myself { id @include(if: true) } }",
        "query { __typename myself { id } }",
        "query { myself { id id } }",
    ],
)
def test_only_plain_queries_get_a_plan(text: str) -> None:
    prepared = DocumentCache().get(text)
    assert prepared.document is not None, prepared.errors
    assert all(op.plan is None for op in prepared.operations)


def test_a_document_with_several_queries_runs_the_one_named() -> None:
    world = Walk(3)
    for _ in range(10):
        world.step()
    text = "query A { myself { id pods { id } } } query B { dataCenters { id } }"
    prepared = world.emu.documents.get(text)
    assert all(op.plan is not None for op in prepared.operations)
    with world.emu.world.lock:
        for name in ("A", "B", None, "C"):
            got = run(world.emu.world, prepared, {}, name)
            assert json.dumps(got) == json.dumps(
                run_graphql_core(world.emu.world, prepared, {}, name)
            )


def test_the_client_documents_get_plans() -> None:
    cache = DocumentCache()
    queries = [documents.LIST_PODS, documents.GET_POD, documents.ACCOUNT, documents.DATA_CENTERS]
    queries += [documents.market_operation(n, f) for n in (1, 2) for f in (False, True)]
    for op in queries:
        (operation,) = cache.get(op.document).operations
        assert operation.plan is not None, op.name


def test_whole_responses_match_with_faults_and_without_plans() -> None:
    """Same seed, same requests (faults included): identical HTTP responses with or without."""
    faults = (
        FaultRule("http_503", rate=0.1),
        FaultRule("internal_error", rate=0.05, match="myself"),
        FaultRule("rate_limit", rate=0.05, seconds=2),
        FaultRule("unauthorized", rate=0.02),
    )
    a, b = Walk(11), Walk(11)
    b.emu.documents = DocumentCache(plan=False)
    for w in (a, b):
        w.emu.inject_faults(*faults)
    for _ in range(30):
        a.step()
        b.step()
        requests = _requests(a.ids, a.rng)
        assert requests == _requests(b.ids, b.rng)
        for text, variables in requests:
            body = {"query": text, "variables": variables}
            ra, rb = (w.http.post("/graphql", json=body) for w in (a, b))
            assert (ra.status_code, ra.headers.raw, ra.content) == (
                rb.status_code,
                rb.headers.raw,
                rb.content,
            )
    assert b.emu.stats.snapshot()["faults"]
    (list_pods,) = b.emu.documents.get(documents.LIST_PODS.document).operations
    assert list_pods.plan is None
