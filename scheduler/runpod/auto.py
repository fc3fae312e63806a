"""`AutoProvider` (`[runpod] api = "auto"`): REST v2 for what it offers, GraphQL for the rest
while GraphQL still answers.

REST v2 serves pods, the market (on-demand prices and stock per data center), data centers,
volumes and templates. GraphQL serves only what v2 lacks: spot prices (merged into the REST
market as minimum bids), spot creates, bid-resumes and the account balance. When GraphQL is gone
(HTTP 404/410, or an error saying it was retired) the provider says so once
(`runpod_graphql_retired`), reports spot, bid-resume and balance as absent from then on, and
carries on with REST alone: spot calls raise `SpotUnsupportedError`, so the reconciler switches
to on-demand as it does when RunPod drops spot.

REST lists pods without their type, so spot pods this process created or bid-resumed over
GraphQL are remembered by id and listed as spot.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Final, TypeVar

import structlog

from scheduler.runpod.client import RunPodClient
from scheduler.runpod.errors import RunPodError, SpotUnsupportedError, UnsupportedError
from scheduler.runpod.models import (
    INTERRUPTABLE,
    Account,
    DataCenter,
    DeployRequest,
    GpuMarket,
    Market,
    NetworkVolume,
    Pod,
    Template,
)
from scheduler.runpod.port import Api, Capabilities, Capability
from scheduler.runpod.rest.client import DEFAULT_MARKET_COMBOS, RestClient

T = TypeVar("T")

_log = structlog.get_logger(__name__)

# What our GraphQL client says when the endpoint is gone, or RunPod's own retirement wording.
_RETIRED = re.compile(r"\bHTTP (?:404|410)\b|\bretired\b|\bsunset\b", re.IGNORECASE)
_GRAPHQL_ONLY: Final = (Capability.SPOT, Capability.BID_RESUME, Capability.BALANCE)


def graphql_retired(exc: RunPodError) -> bool:
    """Whether an error from the GraphQL client means the GraphQL API itself is gone."""
    return not isinstance(exc, SpotUnsupportedError) and bool(_RETIRED.search(exc.message))


class AutoProvider:
    """The provider port over both APIs; see the module docstring."""

    def __init__(self, rest: RestClient, graphql: RunPodClient) -> None:
        self.rest = rest
        self.graphql = graphql
        self.graphql_gone = False
        self._spot_pods: set[str] = set()
        # Whether the last whole-market GraphQL poll listed any spot price (None: not polled).
        self._spot_listed: bool | None = None

    def __repr__(self) -> str:
        return f"AutoProvider(rest={self.rest!r}, graphql={self.graphql!r})"

    @contextmanager
    def deadline(self, at: datetime | None) -> Iterator[None]:
        """One budget for the calls of both APIs."""
        with self.rest.deadline(at), self.graphql.deadline(at):
            yield

    @property
    def capabilities(self) -> Capabilities:
        extra = None if self.graphql_gone else Api.GRAPHQL
        serving: dict[Capability, Api | None] = dict.fromkeys(Capability, Api.REST)
        serving.update(dict.fromkeys(_GRAPHQL_ONLY, extra))
        return Capabilities.of(serving)

    def _graphql(self, call: Callable[[], T], absent: Callable[[], T]) -> T:
        """`call()` on GraphQL, or `absent()` once GraphQL is known to be gone."""
        if self.graphql_gone:
            return absent()
        try:
            return call()
        except RunPodError as exc:
            if not graphql_retired(exc):
                raise
            self.graphql_gone = True
            _log.warning(
                "runpod_graphql_retired",
                error=exc.message,
                detail="GraphQL no longer answers: spot, bid-resume and balance are not "
                "available on this API; going on with REST v2 alone",
            )
            return absent()

    # ------------------------------------------------------------------ reads

    def market(
        self,
        combos: Sequence[tuple[int, bool | None]] = DEFAULT_MARKET_COMBOS,
        gpu_type_ids: Sequence[str] | None = None,
    ) -> Market:
        """REST's market with GraphQL's spot floors. A filtered poll skips GraphQL while the last
        whole-market poll listed no spot at all (RunPod removed spot): one request less a tick,
        and the next whole-market poll looks again."""
        market = self.rest.market(combos, gpu_type_ids)
        if gpu_type_ids is not None and self._spot_listed is False:
            return market
        try:
            spot = self._graphql(lambda: self.graphql.market(combos, gpu_type_ids), lambda: None)
        except RunPodError as exc:  # spot prices missing this tick; on-demand still works
            _log.info("runpod_spot_prices_unavailable", error=exc.message)
            return market
        if spot is None:
            return market
        if gpu_type_ids is None:
            self._spot_listed = spot.spot_listed
        return with_spot(market, spot)

    def list_pods(self) -> tuple[Pod, ...]:
        return tuple(self._typed(p) for p in self.rest.list_pods())

    def get_pod(self, pod_id: str) -> Pod | None:
        pod = self.rest.get_pod(pod_id)
        return None if pod is None else self._typed(pod)

    def _typed(self, pod: Pod) -> Pod:
        return replace(pod, pod_type=INTERRUPTABLE) if pod.id in self._spot_pods else pod

    def account(self) -> Account:
        return self._graphql(self.graphql.account, _no_balance)

    def list_network_volumes(self) -> tuple[NetworkVolume, ...]:
        return self.rest.list_network_volumes()

    def data_centers(
        self, gpu_count: int = 1, secure_cloud: bool | None = None
    ) -> tuple[DataCenter, ...]:
        return self.rest.data_centers(gpu_count, secure_cloud)

    # ------------------------------------------------------------------ pod lifecycle

    def deploy(self, req: DeployRequest) -> Pod:
        if req.bid_per_gpu is None:
            return self.rest.deploy(req)
        pod = self._graphql(lambda: self.graphql.deploy(req), _no_spot)
        self._spot_pods.add(pod.id)
        return pod

    def stop_pod(self, pod_id: str) -> None:
        self.rest.stop_pod(pod_id)

    def resume_pod(self, pod_id: str, gpu_count: int) -> Pod:
        return self.rest.resume_pod(pod_id, gpu_count)

    def bid_resume_pod(self, pod_id: str, bid_per_gpu: float, gpu_count: int) -> Pod:
        pod = self._graphql(
            lambda: self.graphql.bid_resume_pod(pod_id, bid_per_gpu, gpu_count), _no_spot
        )
        self._spot_pods.add(pod.id)
        return pod

    def terminate_pod(self, pod_id: str) -> bool:
        self._spot_pods.discard(pod_id)
        return self.rest.terminate_pod(pod_id)

    # ------------------------------------------------------------------ templates, volumes

    def save_template(
        self,
        name: str,
        image_name: str,
        *,
        docker_args: str | None = None,
        container_disk_gb: int = 10,
        volume_gb: int = 0,
        volume_mount_path: str = "/workspace",
        ports: str | None = None,
        env: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> Template:
        return self.rest.save_template(
            name,
            image_name,
            docker_args=docker_args,
            container_disk_gb=container_disk_gb,
            volume_gb=volume_gb,
            volume_mount_path=volume_mount_path,
            ports=ports,
            env=env,
        )

    def create_network_volume(self, name: str, size_gb: int, data_center_id: str) -> NetworkVolume:
        return self.rest.create_network_volume(name, size_gb, data_center_id)

    def delete_network_volume(self, volume_id: str) -> bool:
        return self.rest.delete_network_volume(volume_id)


def _no_spot() -> Pod:
    raise SpotUnsupportedError(
        "spot is not available on this API: RunPod's GraphQL API is gone and REST v2 has no spot",
        operation="spot",
    )


def _no_balance() -> Account:
    raise UnsupportedError(
        "the account balance is not available on this API: GraphQL is gone and REST v2 has none",
        operation="account",
    )


def with_spot(market: Market, spot: Market) -> Market:
    """The REST market with GraphQL's spot floors (minimum bids) merged in, per GPU type,
    GPU count and cloud; prices and stock stay REST's."""
    merged: list[GpuMarket] = []
    for gpu in market.gpus:
        other = spot.gpu(gpu.id)
        if other is None:
            merged.append(gpu)
            continue
        lowest = tuple(
            replace(lp, minimum_bid_price=theirs.minimum_bid_price)
            if (theirs := other.lowest_for(lp.gpu_count, lp.secure_cloud)) is not None
            else lp
            for lp in gpu.lowest
        )
        merged.append(
            replace(
                gpu,
                secure_spot_price=other.secure_spot_price,
                community_spot_price=other.community_spot_price,
                lowest=lowest,
            )
        )
    return Market(gpus=tuple(merged))
