"""Fuzzing the REST v2 boundary: whatever RunPod (or a proxy in front of it) answers, the client
returns port values or raises a `RunPodError` subclass, never anything else, and never shows the
API key. Covers the whole class of "an unexpected answer crashes the tick" bugs."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.domain.clock import VirtualClock
from scheduler.runpod.errors import RunPodError
from scheduler.runpod.models import DeployRequest
from scheduler.runpod.rest import ratelimit
from scheduler.runpod.rest.client import RestClient
from scheduler.runpod.retry import RetryPolicy

KEY = "rpa_FUZZKEY_abcdef0123456789"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
pod_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=5) | st.integers(),
        "name": st.text(max_size=5) | st.none(),
        "status": st.sampled_from(["RUNNING", "EXITED", "PROVISIONING", "BOGUS", ""])
        | st.integers(),
        "cost": st.floats() | st.integers() | st.text(max_size=3),
        "gpu": json_values,
        "runtime": json_values,
        "env": json_values,
        "mounts": json_values,
    },
)
bodies = (
    json_values
    | st.fixed_dictionaries(
        {"pods": st.lists(pod_like, max_size=3)}, optional={"pagination": json_values}
    )
    | st.fixed_dictionaries({"gpus": st.lists(json_values, max_size=3)})
)
headers = st.dictionaries(
    st.sampled_from(["ratelimit", "ratelimit-policy", "retry-after", "content-type"]),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    max_size=4,
)
statuses = st.sampled_from([200, 201, 204, 400, 401, 402, 403, 404, 409, 413, 422, 429, 500, 503])


def _client(status: int, body: Any, head: dict[str, str], raw: bytes | None) -> RestClient:
    def answer(request: httpx.Request) -> httpx.Response:
        if raw is not None:
            return httpx.Response(status, content=raw, headers=head)
        # json.dumps writes NaN/Infinity, which Python's parser (and so a client) accepts
        return httpx.Response(status, content=json.dumps(body).encode(), headers=head)

    http = httpx.Client(base_url="https://api.runpod.io", transport=httpx.MockTransport(answer))
    retry = RetryPolicy(max_attempts=2, max_retry_after=1.0)
    return RestClient(http, KEY, clock=VirtualClock(), retry=retry)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statuses, bodies, headers, st.none() | st.binary(max_size=30))
def test_any_answer_is_a_value_or_a_runpod_error(
    status: int, body: Any, head: dict[str, str], raw: bytes | None
) -> None:
    client = _client(status, body, head, raw)
    calls = (
        client.list_pods,
        lambda: client.get_pod("p1"),
        lambda: client.market(((1, True), (2, None))),
        lambda: client.deploy(DeployRequest(name="n", image_name="i", gpu_type_id="g")),
        lambda: client.stop_pod("p1"),
        lambda: client.terminate_pod("p1"),
        client.list_network_volumes,
        client.data_centers,
    )
    messages = []
    for call in calls:
        try:
            call()
        except RunPodError as exc:  # anything else fails the test
            messages.append(exc.message)
    assert not [m for m in messages if KEY in m]


@given(st.text(max_size=200))
def test_rate_limit_headers_never_break_the_client(text: str) -> None:
    state = ratelimit.RateLimitState()
    now = VirtualClock().now()
    state.observe(text, text, now)
    assert state.wait(now) >= 0
