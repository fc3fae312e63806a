"""Hostile requests never break the REST v2 emulator: whatever arrives, the answer is a documented
status with a problem+json (or documented JSON) body, checked against the OpenAPI document."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator

from .conftest import START, rest_client

PATHS = [
    "/v2/pods",
    "/v2/pods/x",
    "/v2/pods/x/action",
    "/v2/catalog/gpus",
    "/v2/catalog/gpus/NVIDIA A40",
    "/v2/catalog/datacenters",
    "/v2/network-volumes",
    "/v2/network-volumes/x",
    "/v2/templates",
    "/v2/templates/x",
    "/v2/account/ssh-keys",
    "/v2/billing",
    "/v2/billing/pods",
    "/v2/nowhere",
]
PARAMS = ["limit", "cursor", "include", "product", "count", "cloud", "lastN", "startTime"]

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(), inner)),
    max_leaves=8,
)
raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.integers(1, 60_000).map(lambda depth: b"[" * depth),  # deeper than Python's recursion
    json_values.map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "POST", "PATCH", "PUT", "DELETE"]),
    path=st.sampled_from(PATHS),
    params=st.dictionaries(st.sampled_from(PARAMS), st.text(max_size=12), max_size=3),
    body=raw_bodies,
)
def test_any_request_gets_a_documented_answer(method, path, params, body):
    emu = Emulator(VirtualClock(START))
    with rest_client(emu) as rest:
        response = rest.request(method, path, params=params, content=body)
    assert response.status_code < 500, response.text
