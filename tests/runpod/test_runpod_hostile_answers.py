"""RunPod answers are hostile until checked: whatever comes back, the client returns sane values
or raises a `RunPodError` (a `MalformedResponse` naming the field for a value no answer can
hold), never another exception, never a NaN, infinite or negative amount of money.

The answers are the emulator's own (real GraphQL execution, real pods and market), changed at
the process boundary by an httpx transport that wraps the emulator's: one value anywhere in the
answer is replaced by a hostile one (Hypothesis picks which and with what), or the whole body is
replaced by something no JSON parser should be handed blindly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator
from scheduler.runpod.bounds import MAX_BODY_BYTES
from scheduler.runpod.client import RunPodClient
from scheduler.runpod.errors import MalformedResponse, RunPodError
from scheduler.runpod.models import DeployRequest
from scheduler.runpod.parse import MAX_ITEMS
from scheduler.runpod.retry import RetryPolicy

KEY = "rpa_HOSTILE_ANSWERS_0123456789"
GPU = "NVIDIA RTX A4000"
SENTINEL = "__hostile_value__"

Mutation = Callable[[bytes], bytes]


class MutatingTransport(httpx.BaseTransport):
    """The emulator's transport; `mutate`, when set, rewrites the body of each GraphQL answer."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.mutate: Mutation | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if self.mutate is None:
            return response
        body = self.mutate(response.read())
        headers = {"content-type": response.headers.get("content-type", "application/json")}
        return httpx.Response(response.status_code, headers=headers, content=body)


@dataclasses.dataclass
class Rig:
    clock: VirtualClock
    emu: Emulator
    transport: MutatingTransport
    client: RunPodClient
    pod_id: str


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    """One emulator with two pods (spot and on-demand, running with runtime figures), shared by
    every example: the answers are only read and changed on the way back."""
    clock = VirtualClock()
    emu = Emulator(clock, seed=5, api_key=KEY, startup_delay=1.0)
    for cloud in ("SECURE", "COMMUNITY"):
        emu.set_market(GPU, cloud, spot_price=0.12, on_demand_price=0.25, stock=8)
    transport = MutatingTransport(emu.transport())
    with httpx.Client(base_url="https://api.runpod.io", transport=transport) as http:
        client = RunPodClient(
            http, KEY, clock=clock, rng=random.Random(1), retry=RetryPolicy(max_attempts=1)
        )
        first = client.deploy(
            DeployRequest(name="spotsched-1-1", image_name="img", gpu_type_id=GPU, bid_per_gpu=0.2)
        )
        client.deploy(
            DeployRequest(
                name="mine", image_name="img", gpu_type_id=GPU, env=(("A", "1"), ("B", "2"))
            )
        )
        clock.advance(120)
        yield Rig(clock, emu, transport, client, first.id)


CALLS: dict[str, Callable[[Rig], Any]] = {
    "list_pods": lambda r: r.client.list_pods(),
    "get_pod": lambda r: r.client.get_pod(r.pod_id),
    "market": lambda r: r.client.market(((1, True), (1, False), (2, None))),
    "account": lambda r: r.client.account(),
    "data_centers": lambda r: r.client.data_centers(),
}


# ------------------------------------------------------------------ what "sane" means


def _sane_text(value: str, where: str) -> None:
    for ch in value:
        allowed = where.endswith(".env") and ch in "\t\n\r"
        assert allowed or unicodedata.category(ch) not in ("Cc", "Cs"), (where, value)


def assert_sane(value: Any, where: str = "answer") -> None:
    """Every amount finite and not negative, every count whole and not negative, every text
    free of control characters, all the way down the returned frozen values."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, float):
        assert math.isfinite(value) and 0 <= value <= 1e9, (where, value)
    elif isinstance(value, int):
        assert 0 <= value <= 10**9, (where, value)
    elif isinstance(value, str):
        _sane_text(value, where)
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            assert_sane(item, where if where.endswith(".env") else f"{where}[{i}]")
    elif dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            assert_sane(getattr(value, f.name), f"{where}.{f.name}")
    else:
        raise AssertionError(f"{where}: unexpected {type(value).__name__}")


# ------------------------------------------------------------------ hostile values


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


HOSTILE_LITERALS = st.sampled_from(
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "-1",
        "-0.01",
        "1e308",
        "-1e308",
        "1e400",  # Python reads it as inf
        str(2**80),
        "true",
        "null",
        '""',
        '"\\u0000"',
        '"pod\\u0000name"',
        '"\\u001b[2J\\u001b[31mred"',
        '"\\ud800"',
        '"line\\nbreak"',
        json.dumps("x" * 200_000),
        "[]",
        "{}",
        "[" + ",".join(["1"] * (MAX_ITEMS + 1)) + "]",
        "[" + ",".join(['{"id": "p"}'] * (MAX_ITEMS + 1)) + "]",
        _nested(64),
        _nested(200_000),
        '{"a":' * 5_000 + "1" + "}" * 5_000,
    ]
)
HOSTILE_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
).map(json.dumps)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths of every value in a JSON document, containers included."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))


def _replace_at(document: Any, path: tuple[Any, ...], literal: str) -> bytes:
    if not path:
        return literal.encode()
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = SENTINEL
    text = json.dumps(document)
    return text.replace(json.dumps(SENTINEL), literal, 1).encode()


def _run(rig: Rig, call: str, mutate: Mutation | None) -> Any:
    rig.transport.mutate = mutate
    try:
        return CALLS[call](rig)
    finally:
        rig.transport.mutate = None


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    call=st.sampled_from(sorted(CALLS)),
    pick=st.integers(min_value=0),
    literal=HOSTILE_LITERALS | HOSTILE_JSON,
)
def test_any_value_of_a_real_answer_replaced_gives_sane_values_or_a_runpod_error(
    rig: Rig, call: str, pick: int, literal: str
) -> None:
    original = _run(rig, call, None)
    assert_sane(original)
    chosen: list[tuple[Any, ...]] = []

    def mutate(body: bytes) -> bytes:
        document = json.loads(body)
        paths = list(_leaves(document))
        chosen.append(paths[pick % len(paths)])
        return _replace_at(document, chosen[-1], literal)

    failure: RunPodError | None = None
    try:
        result = _run(rig, call, mutate)
    except RunPodError as exc:  # malformed, or a shape that means no data, no account, ...
        failure = exc
    if failure is None:
        assert_sane(result)
        return
    assert "\x00" not in failure.message and "\x1b" not in failure.message
    if isinstance(failure, MalformedResponse):
        assert failure.field, failure  # it names what was wrong


@pytest.mark.parametrize(
    ("call", "path", "literal", "field"),
    [
        ("list_pods", ("data", "myself", "pods", 0, "costPerHr"), "NaN", "pods[0].costPerHr"),
        ("list_pods", ("data", "myself", "pods", 0, "costPerHr"), "-0.5", "pods[0].costPerHr"),
        ("list_pods", ("data", "myself", "pods", 1, "costPerHr"), "1e308", "pods[1].costPerHr"),
        ("list_pods", ("data", "myself", "pods", 0, "name"), '"a\\u0000b"', "pods[0].name"),
        ("list_pods", ("data", "myself", "pods", 0, "id"), '"\\u001b[2J"', "pods[0].id"),
        ("list_pods", ("data", "myself", "pods", 0, "gpuCount"), "1e308", "pods[0].gpuCount"),
        ("get_pod", ("data", "pod", "costPerHr"), "Infinity", "pod.costPerHr"),
        ("account", ("data", "myself", "clientBalance"), "NaN", "myself.clientBalance"),
        ("account", ("data", "myself", "currentSpendPerHr"), "-3", "myself.currentSpendPerHr"),
    ],
)
def test_a_nan_negative_absurd_or_control_character_value_is_malformed_naming_its_field(
    rig: Rig, call: str, path: tuple[Any, ...], literal: str, field: str
) -> None:
    with pytest.raises(MalformedResponse) as caught:
        _run(rig, call, lambda body: _replace_at(json.loads(body), path, literal))
    assert caught.value.field is not None and caught.value.field.endswith(field)
    assert field in caught.value.message


def _market_path(body: bytes, leaf: str) -> tuple[Any, ...]:
    document = json.loads(body)
    gpu = next(i for i, g in enumerate(document["data"]["gpuTypes"]) if g["id"] == GPU)
    alias = next(k for k, v in document["data"]["gpuTypes"][gpu].items() if isinstance(v, dict))
    return ("data", "gpuTypes", gpu, alias, leaf)


@pytest.mark.parametrize("literal", ["NaN", "-Infinity", "-0.2", "1e308"])
def test_a_hostile_market_price_never_becomes_a_price(rig: Rig, literal: str) -> None:
    def mutate(body: bytes) -> bytes:
        return _replace_at(json.loads(body), _market_path(body, "minimumBidPrice"), literal)

    with pytest.raises(MalformedResponse, match="minimumBidPrice"):
        _run(rig, "market", mutate)


def test_a_million_pods_is_malformed_not_a_million_models(rig: Rig) -> None:
    million = '{"data": {"myself": {"pods": [' + ",".join(['{"id":"p"}'] * 1_000_000) + "]}}}"
    with pytest.raises(MalformedResponse, match=r"MiB|items"):
        _run(rig, "list_pods", lambda _body: million.encode())


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deep_nesting_is_malformed_not_a_recursion_error(rig: Rig, depth: int) -> None:
    def mutate(body: bytes) -> bytes:
        return b'{"data": {"myself": {"pods": ' + _nested(depth).encode() + b"}}}"

    with pytest.raises(MalformedResponse, match="nested deeper"):
        _run(rig, "list_pods", mutate)


def test_an_endless_body_is_cut_at_the_cap_without_reading_it_all() -> None:
    chunk = b" " * (1024 * 1024)
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        yield b'{"data": {"myself": {"pods": []}}'
        while True:
            sent.append(len(chunk))
            yield chunk

    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, content=endless())

    mock = httpx.MockTransport(handler)
    with httpx.Client(base_url="https://api.runpod.io", transport=mock) as h:
        client = RunPodClient(h, KEY, clock=VirtualClock(), retry=RetryPolicy(max_attempts=1))
        with pytest.raises(MalformedResponse, match="MiB"):
            client.list_pods()
    assert MAX_BODY_BYTES <= sum(sent) <= MAX_BODY_BYTES + 2 * len(chunk)


def test_a_declared_oversized_body_is_refused_before_reading() -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-length": str(10**12)}, content=b'{"data": {"myself": null}}'
        )

    mock = httpx.MockTransport(handler)
    with httpx.Client(base_url="https://api.runpod.io", transport=mock) as h:
        client = RunPodClient(h, KEY, clock=VirtualClock(), retry=RetryPolicy(max_attempts=1))
        with pytest.raises(MalformedResponse, match="MiB"):
            client.list_pods()


def test_error_messages_from_runpod_are_cut_short_and_stripped_of_control_characters(
    rig: Rig,
) -> None:
    hostile = {"errors": [{"message": "\x1b[2J" + "boom\x00" * 1_000}] * 1_000}
    with pytest.raises(RunPodError) as caught:
        _run(rig, "list_pods", lambda _body: json.dumps(hostile).encode())
    message = caught.value.message
    assert len(message) < 2_000
    assert "\x1b" not in message and "\x00" not in message and "boom" in message
