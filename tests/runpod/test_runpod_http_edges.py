"""HTTP-level edge cases the emulator cannot produce, through `httpx.MockTransport`.

A transport fake is the process boundary (STYLE rule 10): non-JSON bodies, connection errors,
shapes a broken server might send. Everything RunPod-shaped is tested against the emulator in
`test_runpod_client.py`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import httpx
import pytest

from scheduler.domain.clock import VirtualClock
from scheduler.runpod.client import USER_AGENT, RunPodClient
from scheduler.runpod.errors import (
    AuthenticationError,
    MalformedResponse,
    RejectedError,
    RunPodError,
    TransientError,
)
from scheduler.runpod.models import DeployRequest, RequestRecord
from scheduler.runpod.retry import RetryPolicy

KEY = "rpa_SUPERSECRETKEY0123456789"
Handler = Callable[[httpx.Request], httpx.Response]


def make_client(handler: Handler, *, key: str | None = KEY, records=None, **kwargs):
    http = httpx.Client(base_url="https://api.runpod.test", transport=httpx.MockTransport(handler))
    clock = VirtualClock()
    client = RunPodClient(
        http,
        key,
        clock=clock,
        rng=random.Random(7),
        on_request=records.append if records is not None else None,
        **kwargs,
    )
    return client, clock


def exception_texts(exc: BaseException) -> list[str]:
    texts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        texts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    return texts


def assert_no_key(exc: BaseException) -> None:
    for text in exception_texts(exc):
        assert KEY not in text


def test_request_shape_bearer_header_user_agent_and_variables():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": {"myself": {"pods": []}}})

    client, _ = make_client(handler)
    assert client.list_pods() == ()
    [request] = seen
    assert request.method == "POST"
    assert request.url == "https://api.runpod.test/graphql"
    assert "api_key" not in str(request.url)
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.content)
    assert set(body) == {"query", "variables"}
    assert body["query"].startswith("query ListPods")


def test_full_url_override():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"data": {"gpuTypes": []}})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = RunPodClient(http, None, clock=VirtualClock(), url="https://other.test/v1/graphql")
    assert client.market().gpus == ()
    assert seen == ["https://other.test/v1/graphql"]


@pytest.mark.parametrize(
    ("base_url", "params", "url"),
    [
        ("https://api.runpod.test", None, "/graphql"),
        ("https://api.runpod.test/v1", None, "/graphql"),
        ("https://api.runpod.test/v1/", None, "graphql?x=1"),
        ("https://api.runpod.test", {"source": "spotsched"}, "/graphql"),
        ("https://api.runpod.test/v1", None, "https://other.test/graphql"),
    ],
)
def test_requests_go_where_httpx_sends_the_url_string(base_url, params, url):
    """The client merges `url` with the base URL once; the request URL stays httpx's own."""
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json={"data": {"gpuTypes": []}})

    http = httpx.Client(base_url=base_url, params=params, transport=httpx.MockTransport(handler))
    client = RunPodClient(http, KEY, clock=VirtualClock(), url=url)
    client.market()
    client.market()
    expected = http.post(url).request.url
    http.base_url = "https://moved.test/api"  # a new base URL is followed, not the merged one
    client.market()
    assert seen[:2] == [expected, expected]
    assert seen[3] == http.post(url).request.url
    assert str(seen[3]).startswith("https://moved.test/api/") or url.startswith("https://other")


def test_configuration_errors_are_caught_at_construction():
    with pytest.raises(ValueError, match="base_url"):
        RunPodClient(httpx.Client(), KEY, clock=VirtualClock())
    with pytest.raises(ValueError, match="never in the URL") as info:
        RunPodClient(
            httpx.Client(), KEY, clock=VirtualClock(), url="https://x.test/graphql?api_key=abc"
        )
    assert_no_key(info.value)


def test_non_json_200_is_transient_and_retried():
    records: list[RequestRecord] = []
    client, clock = make_client(
        lambda r: httpx.Response(200, text="<html>oops</html>"), records=records
    )
    with pytest.raises(TransientError, match="not JSON") as info:
        client.list_pods()
    assert "gave up after 4 attempts" in str(info.value)
    assert [r.attempt for r in records] == [1, 2, 3, 4]
    assert {r.outcome for r in records} == {"transient"}
    assert len(clock.slept) == 3
    assert_no_key(info.value)


def test_non_json_4xx_is_rejected_not_retried():
    records: list[RequestRecord] = []
    client, clock = make_client(lambda r: httpx.Response(404, text="Not Found"), records=records)
    with pytest.raises(RejectedError, match="HTTP 404"):
        client.account()
    assert len(records) == 1
    assert clock.slept == []


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ReadError("connection reset by peer"),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.ConnectTimeout("timed out"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_connection_errors_are_transient_and_chained(exc):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    client, clock = make_client(handler, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(TransientError) as info:
        client.get_pod("abc")
    assert info.value.operation == "get_pod"
    assert isinstance(info.value.__cause__, TransientError)
    assert info.value.__cause__.__cause__ is exc
    assert len(clock.slept) == 1
    assert_no_key(info.value)


def test_connection_error_on_create_is_not_retried_and_says_so():
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused")

    client, clock = make_client(handler)
    with pytest.raises(TransientError, match="not retried because it may have succeeded"):
        client.deploy(DeployRequest(name="spotsched-j-1", image_name="img", gpu_type_id="G"))
    assert calls == 1
    assert clock.slept == []


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"myself": None}, "errors": [{"message": "Unauthorized"}]},
        {"data": {"myself": None}},
    ],
    ids=["unauthorized-message", "myself-null"],
)
def test_unauthorized_in_a_200_body_is_authentication(body):
    records: list[RequestRecord] = []
    client, _ = make_client(lambda r: httpx.Response(200, json=body), records=records)
    with pytest.raises(AuthenticationError) as info:
        client.list_pods()
    assert info.value.operation == "list_pods"
    assert [r.outcome for r in records] == ["authentication"]


def test_http_403_is_authentication():
    client, _ = make_client(lambda r: httpx.Response(403, json={"errors": [{"message": "no"}]}))
    with pytest.raises(AuthenticationError, match="HTTP 403"):
        client.list_pods()


@pytest.mark.parametrize(
    "body",
    [
        {"data": None},
        {},
        {"data": {}},
        {"errors": [], "data": None},
        [1, 2],
    ],
    ids=["data-null", "empty", "no-root", "empty-errors", "array"],
)
def test_missing_data_is_transient(body):
    client, _ = make_client(
        lambda r: httpx.Response(200, json=body), retry=RetryPolicy(max_attempts=1)
    )
    with pytest.raises(TransientError):
        client.account()


def test_empty_errors_list_with_data_is_success():
    body = {"errors": [], "data": {"myself": {"clientBalance": 5, "spendLimit": 80}}}
    client, _ = make_client(lambda r: httpx.Response(200, json=body))
    account = client.account()
    assert account.client_balance == 5.0
    assert account.current_spend_per_hr is None


@pytest.mark.parametrize(
    ("pods", "field"),
    [
        ([{"name": "no id"}], "myself.pods[0].id"),
        ([{"id": "p1", "costPerHr": "cheap"}], "myself.pods[0].costPerHr"),
        ([{"id": "p1", "env": "A=B"}], "myself.pods[0].env"),
        ("not a list", "myself.pods"),
    ],
)
def test_malformed_shapes_are_malformed_responses_naming_the_field(pods, field):
    body = {"data": {"myself": {"pods": pods}}}
    client, _ = make_client(
        lambda r: httpx.Response(200, json=body), retry=RetryPolicy(max_attempts=1)
    )
    with pytest.raises(MalformedResponse) as caught:
        client.list_pods()
    assert isinstance(caught.value, TransientError)  # retried, then handled like one
    assert caught.value.field == field
    assert field.removeprefix("myself.") in caught.value.message


def test_key_is_redacted_even_if_the_server_echoes_it():
    body = {"errors": [{"message": f"bad key {KEY} for you"}]}
    client, _ = make_client(lambda r: httpx.Response(200, json=body))
    with pytest.raises(RejectedError) as info:
        client.list_pods()
    assert "bad key *** for you" in str(info.value)
    assert_no_key(info.value)


def test_missing_key_fails_fast_without_a_request():
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"data": {"gpuTypes": []}})

    records: list[RequestRecord] = []
    client, _ = make_client(handler, key=None, records=records)
    with pytest.raises(AuthenticationError, match="no RunPod API key"):
        client.list_pods()
    assert calls == []
    assert records == []
    client.market()
    assert "authorization" not in calls[0].headers
    assert repr(client) == "RunPodClient(url='/graphql', api_key=None)"


def test_failing_hook_does_not_change_the_result():
    def hook(record: RequestRecord) -> None:
        raise RuntimeError("metrics are down")

    http = httpx.Client(
        base_url="https://api.runpod.test",
        transport=httpx.MockTransport(
            lambda r: httpx.Response(200, json={"data": {"gpuTypes": []}})
        ),
    )
    client = RunPodClient(http, KEY, clock=VirtualClock(), on_request=hook)
    assert client.market().gpus == ()


def test_invalid_url_is_rejected_not_leaked():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.InvalidURL("bad url")

    client, _ = make_client(handler)
    with pytest.raises(RunPodError) as info:
        client.account()
    assert type(info.value) is RejectedError
    assert_no_key(info.value)
