"""`build_provider`: the adapter `[runpod] api` asks for, over one injected `httpx.Client`.

`api_url` is the GraphQL endpoint (`https://api.runpod.io/graphql`); REST v2 lives on the same
host under `/v2` (RunPod and the emulator alike), so its base URL is derived from it. REST v2
needs a key for every call, so `auto` without a key is GraphQL alone (the market can still be
read keyless there).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx

from scheduler.domain.clock import Clock
from scheduler.runpod.auto import AutoProvider
from scheduler.runpod.client import RunPodClient
from scheduler.runpod.models import RequestRecord
from scheduler.runpod.port import ApiChoice, Provider
from scheduler.runpod.rest.client import RestClient
from scheduler.runpod.retry import RetryPolicy


def rest_url(api_url: str) -> str:
    """`https://api.runpod.io/graphql` → `https://api.runpod.io/v2` (a relative URL stays
    relative: `/graphql` → `/v2`)."""
    url = httpx.URL(api_url)
    if url.is_relative_url:
        return "/v2"
    return str(url.copy_with(path="/v2", query=None, fragment=None))


def build_provider(
    api: ApiChoice | str,
    http: httpx.Client,
    api_key: str | None,
    *,
    clock: Clock,
    api_url: str = "/graphql",
    rng: random.Random | None = None,
    retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen
    on_request: Callable[[RequestRecord], None] | None = None,
    timeout: float = 30.0,
) -> Provider:
    choice = ApiChoice(api)
    graphql = RunPodClient(
        http,
        api_key,
        clock=clock,
        rng=rng,
        retry=retry,
        on_request=on_request,
        timeout=timeout,
        url=api_url,
    )
    if choice is ApiChoice.GRAPHQL or (choice is ApiChoice.AUTO and api_key is None):
        return graphql  # auto without a key: only GraphQL answers keyless (market reads)
    rest = RestClient(
        http,
        api_key,
        clock=clock,
        rng=rng,
        retry=retry,
        on_request=on_request,
        timeout=timeout,
        url=rest_url(api_url),
    )
    if choice is ApiChoice.REST:
        return rest
    return AutoProvider(rest, graphql)
