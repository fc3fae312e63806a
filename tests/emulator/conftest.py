"""Fixtures: an emulator on a virtual clock, an httpx client through its transport, a server."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator
from scheduler.emulator.server import serve

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
KEY = "test-key"


class Gql:
    """A tiny GraphQL caller over any httpx client."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def raw(
        self, query: str, variables: dict[str, Any] | None = None, **extra: Any
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query, **extra}
        if variables is not None:
            body["variables"] = variables
        return self.client.post("/graphql", json=body)

    def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.raw(query, variables)
        assert response.status_code == 200, response.text
        payload = response.json()
        assert "errors" not in payload, payload
        return payload["data"]

    def error(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The first business error (HTTP 200)."""
        response = self.raw(query, variables)
        assert response.status_code == 200, response.text
        payload = response.json()
        assert payload.get("errors"), payload
        return payload["errors"][0]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def emu(clock: VirtualClock) -> Emulator:
    return Emulator(clock, seed=7)


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        transport=emu.transport(),
        base_url="https://api.runpod.io",
        headers={"Authorization": f"Bearer {KEY}"},
    ) as c:
        yield c


@pytest.fixture
def gql(client: httpx.Client) -> Gql:
    return Gql(client)


def gql_for(emu: Emulator) -> Gql:
    """A caller for an emulator built inside a test (closed with the test process)."""
    return Gql(
        httpx.Client(
            transport=emu.transport(),
            base_url="https://api.runpod.io",
            headers={"Authorization": f"Bearer {KEY}"},
        )
    )


class Served:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.stop = threading.Event()
        urls: queue.Queue[str] = queue.Queue()
        self.thread = threading.Thread(
            target=serve, args=(emu, "127.0.0.1", 0, urls.put), kwargs={"stop": self.stop}
        )
        self.thread.start()
        self.url = urls.get(timeout=10)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


@pytest.fixture
def served(emu: Emulator) -> Iterator[Served]:
    server = Served(emu)
    yield server
    server.close()


# Documents reused across test modules.
ON_DEMAND = """
mutation($input: PodFindAndDeployOnDemandInput!) {
  podFindAndDeployOnDemand(input: $input) {
    id desiredStatus podType costPerHr gpuCount env ports machineId lastStatusChange
    machine { gpuTypeId gpuDisplayName dataCenterId podHostId secureCloud }
    runtime { uptimeInSeconds }
  }
}
"""
SPOT = """
mutation($input: PodRentInterruptableInput!) {
  podRentInterruptable(input: $input) {
    id desiredStatus podType costPerHr gpuCount lastStatusChange machineId
    machine { gpuTypeId dataCenterId secureCloud }
  }
}
"""
POD = """
query($id: String!) {
  pod(input: {podId: $id}) {
    id desiredStatus podType costPerHr gpuCount lastStatusChange uptimeSeconds
    runtime {
      uptimeInSeconds gpus { id gpuUtilPercent memoryUtilPercent } container { cpuPercent }
    }
  }
}
"""
LOWEST = """
query($id: String!, $input: GpuLowestPriceInput!) {
  gpuTypes(input: {id: $id}) {
    id securePrice secureSpotPrice communitySpotPrice
    lowestPrice(input: $input) {
      minimumBidPrice uninterruptablePrice stockStatus maxUnreservedGpuCount availableGpuCounts
    }
  }
}
"""


def pod_input(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "job",
        "imageName": "runpod/pytorch:2.4",
        "gpuTypeId": "NVIDIA A40",
        "gpuCount": 1,
        "cloudType": "SECURE",
        "ports": "22/tcp",
    }
    base.update(overrides)
    return base


def env(**values: str) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in values.items()]


# ----------------------------------------------------------------- REST v2
V2_POD = {"name": "job", "image": "runpod/pytorch:2.4", "gpu": {"id": "NVIDIA A40", "count": 1}}


def rest_client(emu: Emulator, key: str = KEY, **kwargs: Any) -> httpx.Client:
    """An httpx client on the emulator's transport whose every `/v2` answer is checked against
    `openapi-v2.json` (see openapi_check.py); `client.checked.seen` lists what was checked."""
    from .openapi_check import Checked

    checked = Checked()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    client = httpx.Client(
        transport=emu.transport(),
        base_url="https://api.runpod.io",
        headers=headers,
        event_hooks={"response": [checked]},
        **kwargs,
    )
    client.checked = checked  # type: ignore[attr-defined]
    return client


@pytest.fixture
def rest(emu: Emulator) -> Iterator[httpx.Client]:
    with rest_client(emu) as c:
        yield c


def v2_pod(**overrides: Any) -> dict[str, Any]:
    body = {**V2_POD, "ports": ["22/tcp"]}
    body.update(overrides)
    return body
