"""A hostile RunPod answer never reaches the ledger or a budget: the tick that received it fails
(logged as malformed, naming the field), nothing is accrued, no job changes state, and the next
honest answer carries on as if the bad one had never come.

The answers are the emulator's, one value changed on the way back by a transport wrapped around
the emulator's own (the process boundary).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from structlog.testing import capture_logs

from .conftest import World, sim


class Rewriting(httpx.BaseTransport):
    """The emulator's transport; `rewrite(document, answer)` may change each answer."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.rewrite: Callable[[str, dict], dict] | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        document = str(json.loads(request.read() or b"{}").get("query") or "")
        response = self.inner.handle_request(request)
        if self.rewrite is None or response.status_code != 200:
            return response
        answer = self.rewrite(document, json.loads(response.read()))
        text = json.dumps(answer)  # NaN and Infinity are written as the bare words
        return httpx.Response(200, headers={"content-type": "application/json"}, content=text)


@pytest.fixture
def rewriting(world: World) -> Rewriting:
    transport = Rewriting(world.transport.inner)
    world.transport.inner = transport
    return transport


def _spend(world: World) -> float:
    return sum(float(r["spend"]) for r in world.store.cost_report(None, "job"))


@pytest.mark.parametrize("hostile", [float("nan"), float("inf"), -4.0, 1e308])
def test_a_hostile_pod_cost_fails_the_tick_and_accrues_nothing(
    world: World, rewriting: Rewriting, hostile: float
) -> None:
    job = world.submit("train", env=sim())
    world.run_until(lambda: world.state(job) == "running")
    world.run(2)
    spent = _spend(world)
    before = world.job(job)

    def costly(document: str, answer: dict) -> dict:
        if "pods" in document and answer.get("data", {}).get("myself"):
            for pod in answer["data"]["myself"]["pods"]:
                pod["costPerHr"] = hostile
        return answer

    rewriting.rewrite = costly
    with capture_logs() as logs:
        report = world.run(1)

    assert not report.ok
    failed = [e for e in logs if e["event"] == "pod_list_failed"]
    assert failed and failed[0]["error_class"] == "MalformedResponse"
    assert "costPerHr" in str(failed[0]["error"])
    assert _spend(world) == spent  # nothing reached the ledger
    after = world.job(job)
    assert (after["state"], after["spend"]) == (before["state"], before["spend"])

    rewriting.rewrite = None  # an honest answer again: accrual resumes, finite and positive
    world.run(1)
    assert spent < _spend(world) < spent + 1.0


def test_a_hostile_market_price_holds_launches_instead_of_bidding_on_it(
    world: World, rewriting: Rewriting
) -> None:
    def negative_floor(document: str, answer: dict) -> dict:
        if "gpuTypes" in document:
            for gpu in answer["data"]["gpuTypes"] or []:
                for value in gpu.values():
                    if isinstance(value, dict) and "minimumBidPrice" in value:
                        value["minimumBidPrice"] = -1.0
        return answer

    rewriting.rewrite = negative_floor
    job = world.submit("train", env=sim())
    with capture_logs() as logs:
        world.run(3)

    assert world.state(job) == "queued"
    assert world.pods() == []
    failed = [e for e in logs if e["event"] == "market_poll_failed"]
    assert failed and all(e["error_class"] == "MalformedResponse" for e in failed)
    assert "minimumBidPrice" in str(failed[0]["error"])

    rewriting.rewrite = None
    world.run_until(lambda: world.state(job) == "running")
