"""The provider port: what the reconciler, the applier and the service may ask of RunPod.

Two adapters satisfy it with the same frozen types (`models`) and the same errors (`errors`):
`client.RunPodClient` (GraphQL) and `rest.client.RestClient` (REST API v2); `auto.AutoProvider`
combines them. What an API cannot do is reported, not assumed: `capabilities` says which API
serves each capability (None = absent), spot mutations on an API without spot raise
`SpotUnsupportedError` and `account()` without a balance endpoint raises `UnsupportedError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from scheduler.runpod.models import (
    Account,
    DataCenter,
    DeployRequest,
    Market,
    NetworkVolume,
    Pod,
    Template,
)


class Api(StrEnum):
    """The RunPod API that answers a capability (`[runpod] api` chooses among them)."""

    GRAPHQL = "graphql"
    REST = "rest"


class ApiChoice(StrEnum):
    """`[runpod] api`: one API, or REST v2 first with GraphQL for what REST lacks."""

    AUTO = "auto"
    GRAPHQL = "graphql"
    REST = "rest"


class Capability(StrEnum):
    PODS = "pods"
    MARKET = "market"
    DATA_CENTERS = "data_centers"
    VOLUMES = "volumes"
    TEMPLATES = "templates"
    SPOT = "spot"
    BID_RESUME = "bid_resume"
    BALANCE = "balance"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Which API serves each capability right now; a missing entry means absent."""

    serving: tuple[tuple[Capability, Api], ...]

    @classmethod
    def of(cls, serving: Mapping[Capability, Api | None]) -> Capabilities:
        return cls(tuple((c, a) for c in Capability if (a := serving.get(c)) is not None))

    @classmethod
    def all_on(cls, api: Api, absent: Iterable[Capability] = ()) -> Capabilities:
        missing = set(absent)
        return cls.of({c: (None if c in missing else api) for c in Capability})

    def api_for(self, capability: Capability) -> Api | None:
        return next((a for c, a in self.serving if c is capability), None)

    def has(self, capability: Capability) -> bool:
        return self.api_for(capability) is not None

    def describe(self) -> str:
        """`pods=rest market=rest ... spot=absent`: one stable line for status and logs."""
        return " ".join(
            f"{c.value}={a.value if (a := self.api_for(c)) is not None else 'absent'}"
            for c in Capability
        )


@runtime_checkable
class Provider(Protocol):
    """RunPod as typed calls. Every method returns `models` values or raises `RunPodError`."""

    @property
    def capabilities(self) -> Capabilities: ...

    def deadline(self, at: datetime | None) -> AbstractContextManager[None]:
        """Calls inside the block neither start nor wait past `at`; running out raises
        `DeadlineExceeded` (not a `RunPodError`) before anything more is sent."""
        ...

    def market(
        self,
        combos: Sequence[tuple[int, bool | None]] = ...,
        gpu_type_ids: Sequence[str] | None = None,
    ) -> Market: ...

    def list_pods(self) -> tuple[Pod, ...]: ...

    def get_pod(self, pod_id: str) -> Pod | None: ...

    def account(self) -> Account: ...

    def list_network_volumes(self) -> tuple[NetworkVolume, ...]: ...

    def data_centers(
        self, gpu_count: int = 1, secure_cloud: bool | None = None
    ) -> tuple[DataCenter, ...]: ...

    def deploy(self, req: DeployRequest) -> Pod: ...

    def stop_pod(self, pod_id: str) -> None: ...

    def resume_pod(self, pod_id: str, gpu_count: int) -> Pod: ...

    def bid_resume_pod(self, pod_id: str, bid_per_gpu: float, gpu_count: int) -> Pod: ...

    def terminate_pod(self, pod_id: str) -> bool: ...

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
    ) -> Template: ...

    def create_network_volume(
        self, name: str, size_gb: int, data_center_id: str
    ) -> NetworkVolume: ...

    def delete_network_volume(self, volume_id: str) -> bool: ...
