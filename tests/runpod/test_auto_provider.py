"""`[runpod] api = "auto"`: REST v2 for what it offers, GraphQL for spot, bid-resume and the
balance while GraphQL answers, REST alone once GraphQL is retired (HTTP 410, as RunPod retires it).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from structlog.testing import capture_logs

from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator
from scheduler.runpod.auto import AutoProvider
from scheduler.runpod.errors import SpotUnsupportedError, UnsupportedError
from scheduler.runpod.factory import build_provider, rest_url
from scheduler.runpod.models import DeployRequest
from scheduler.runpod.port import Api, ApiChoice, Capability
from scheduler.runpod.rest.client import RestClient

KEY = "rpa_AUTOKEY_1234567890"
GPU = "NVIDIA RTX A4000"


class Retiring(httpx.BaseTransport):
    """The emulator, and RunPod's answer once GraphQL is retired: 410 Gone on /graphql."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.retired = False
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if self.retired and request.url.path == "/graphql":
            return httpx.Response(410, text="<html>410 Gone</html>", request=request)
        return self.inner.handle_request(request)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def emu(clock: VirtualClock) -> Emulator:
    emu = Emulator(clock, seed=5, api_key=KEY)
    emu.set_market(GPU, "SECURE", spot_price=0.12, on_demand_price=0.25, stock=16)
    return emu


@pytest.fixture
def wire(emu: Emulator) -> Retiring:
    return Retiring(emu.transport())


@pytest.fixture
def auto(wire: Retiring, clock: VirtualClock) -> Iterator[AutoProvider]:
    with httpx.Client(base_url="https://api.runpod.io", transport=wire) as http:
        provider = build_provider(
            ApiChoice.AUTO, http, KEY, clock=clock, api_url="https://api.runpod.io/graphql"
        )
        assert isinstance(provider, AutoProvider)
        yield provider


def req(name: str, bid: float | None = None) -> DeployRequest:
    return DeployRequest(
        name=name, image_name="img:1", gpu_type_id=GPU, cloud_type="SECURE", bid_per_gpu=bid
    )


def test_the_rest_url_is_derived_from_the_graphql_url() -> None:
    assert rest_url("https://api.runpod.io/graphql") == "https://api.runpod.io/v2"
    assert rest_url("http://127.0.0.1:8080/graphql?x=1") == "http://127.0.0.1:8080/v2"
    assert rest_url("/graphql") == "/v2"


def test_each_choice_builds_its_adapter(clock: VirtualClock) -> None:
    with httpx.Client(base_url="https://api.runpod.io") as http:
        rest = build_provider("rest", http, KEY, clock=clock)
        graphql = build_provider("graphql", http, KEY, clock=clock)
    assert isinstance(rest, RestClient)
    assert graphql.capabilities.api_for(Capability.SPOT) is Api.GRAPHQL


def test_rest_serves_pods_and_prices_graphql_only_spot_and_balance(
    auto: AutoProvider, wire: Retiring
) -> None:
    caps = auto.capabilities
    assert caps.api_for(Capability.PODS) is Api.REST
    assert caps.api_for(Capability.MARKET) is Api.REST
    assert caps.api_for(Capability.SPOT) is Api.GRAPHQL
    assert caps.api_for(Capability.BALANCE) is Api.GRAPHQL
    market = auto.market(((1, True),))
    lp = market.gpu(GPU).lowest_for(1, True)  # type: ignore[union-attr]
    assert lp is not None and lp.uninterruptable_price == 0.25 and lp.minimum_bid_price == 0.12
    spot = auto.deploy(req("spotsched-1-1", bid=0.13))
    on_demand = auto.deploy(req("spotsched-2-1"))
    listed = {p.id: p for p in auto.list_pods()}
    assert listed[spot.id].is_spot and not listed[on_demand.id].is_spot
    assert auto.account().client_balance is not None
    assert wire.paths.count("/v2/pods") == 2  # the on-demand create and the list
    wire.paths.clear()
    auto.list_pods()
    assert wire.paths == ["/v2/pods"]


def test_when_graphql_retires_it_is_said_once_and_rest_goes_on_alone(
    auto: AutoProvider, wire: Retiring, emu: Emulator
) -> None:
    auto.market(((1, True),))
    wire.retired = True
    with capture_logs() as logs:
        market = auto.market(((1, True),))
        assert not market.spot_listed  # no spot floor any more, on-demand prices still there
        assert market.gpu(GPU).lowest_for(1, True).uninterruptable_price == 0.25  # type: ignore[union-attr]
        with pytest.raises(SpotUnsupportedError, match="not available on this API"):
            auto.deploy(req("spotsched-1-1", bid=0.13))
        with pytest.raises(UnsupportedError):
            auto.account()
        pod = auto.deploy(req("spotsched-2-1"))
        auto.market(((1, True),))
    retired = [e for e in logs if e["event"] == "runpod_graphql_retired"]
    assert len(retired) == 1
    assert wire.paths.count("/graphql") == 2  # the first market poll (ok), one that found 410
    caps = auto.capabilities
    assert not caps.has(Capability.SPOT) and not caps.has(Capability.BALANCE)
    assert caps.api_for(Capability.PODS) is Api.REST
    assert [p.id for p in auto.list_pods()] == [pod.id]


def test_without_spot_listed_filtered_polls_skip_graphql_until_the_next_full_poll(
    auto: AutoProvider, wire: Retiring, emu: Emulator
) -> None:
    emu.set_spot_enabled(False)  # RunPod removed spot, GraphQL still answers
    assert not auto.market(((1, True),)).spot_listed  # a whole-market poll asks GraphQL
    wire.paths.clear()
    auto.market(((1, True),), gpu_type_ids=[GPU])
    assert wire.paths == ["/v2/catalog/gpus"]  # no GraphQL request
    emu.set_spot_enabled(True)
    wire.paths.clear()
    market = auto.market(((1, True),))  # the next whole-market poll sees spot again
    assert "/graphql" in wire.paths and market.spot_listed
    wire.paths.clear()
    auto.market(((1, True),), gpu_type_ids=[GPU])
    assert "/graphql" in wire.paths
