"""Authentication as in production: Bearer or ?api_key=, 401 otherwise, public catalogue reads."""

from __future__ import annotations

import httpx
import pytest

from scheduler.emulator import Emulator

from .conftest import KEY

PUBLIC = "{ gpuTypes { id } dataCenters { id } countryCodes cpuFlavors { id } }"


def post(emu: Emulator, query: str, headers=None, params=None) -> httpx.Response:
    with httpx.Client(transport=emu.transport(), base_url="https://api.runpod.io") as c:
        return c.post("/graphql", json={"query": query}, headers=headers, params=params)


@pytest.fixture
def keyed(clock) -> Emulator:
    return Emulator(clock, api_key=KEY)


def test_configured_key_via_header_or_query(keyed):
    assert post(keyed, "{ myself { id } }", {"Authorization": f"Bearer {KEY}"}).status_code == 200
    response = post(keyed, "{ myself { id } }", params={"api_key": KEY})
    assert response.status_code == 200
    assert response.json()["data"]["myself"]["id"]


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        ({"Authorization": "Bearer wrong"}, None),
        (None, {"api_key": "wrong"}),
        (None, None),
        ({"Authorization": "Bearer "}, None),
        ({"Authorization": f"Basic {KEY}"}, None),
    ],
)
def test_wrong_or_missing_key_is_401(keyed, headers, params):
    response = post(keyed, "{ myself { id } }", headers, params)
    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": "Unauthorized"}]}


def test_without_configured_key_any_non_empty_key_passes(emu):
    assert post(emu, "{ myself { id } }", {"Authorization": "Bearer anything"}).status_code == 200
    assert post(emu, "{ myself { id } }").status_code == 401


@pytest.mark.parametrize("make", [lambda c: Emulator(c), lambda c: Emulator(c, api_key=KEY)])
def test_catalogue_reads_need_no_key(clock, make):
    emu = make(clock)
    response = post(emu, PUBLIC)
    assert response.status_code == 200
    assert len(response.json()["data"]["gpuTypes"]) >= 12
    assert post(emu, "{ gpuTypes { id } myself { id } }").status_code == 401
    assert post(emu, "{ myself { id } }").status_code == 401
    assert post(emu, 'mutation { podTerminate(input: {podId: "x"}) }').status_code == 401


def test_a_wrong_key_is_401_even_on_public_reads(keyed):
    assert post(keyed, PUBLIC, {"Authorization": "Bearer wrong"}).status_code == 401


def test_invalid_document_without_key_is_401_not_400(keyed):
    assert post(keyed, "{ myself { nope } }").status_code == 401
    assert post(keyed, "{ myself { nope } }", {"Authorization": f"Bearer {KEY}"}).status_code == 400
