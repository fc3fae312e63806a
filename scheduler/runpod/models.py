"""Frozen values the RunPod client returns and takes. Prices are dollars per hour."""

from __future__ import annotations

from dataclasses import dataclass, field

INTERRUPTABLE = "INTERRUPTABLE"


@dataclass(frozen=True, slots=True)
class LowestPrice:
    """`lowestPrice(input: {gpuCount, secureCloud})` of one GPU type; prices per GPU-hour.

    `secure_cloud` None means both clouds. `minimum_bid_price` None or 0 means no spot offer.
    """

    gpu_count: int
    secure_cloud: bool | None
    minimum_bid_price: float | None
    uninterruptable_price: float | None
    stock_status: str | None
    max_unreserved_gpu_count: int | None = None
    available_gpu_counts: tuple[int, ...] = ()

    @property
    def has_spot(self) -> bool:
        return self.minimum_bid_price is not None and self.minimum_bid_price > 0


@dataclass(frozen=True, slots=True)
class GpuMarket:
    id: str
    display_name: str
    memory_gb: int | None
    secure_price: float | None
    community_price: float | None
    secure_spot_price: float | None
    community_spot_price: float | None
    lowest: tuple[LowestPrice, ...] = ()

    def lowest_for(self, gpu_count: int, secure_cloud: bool | None) -> LowestPrice | None:
        for lp in self.lowest:
            if lp.gpu_count == gpu_count and lp.secure_cloud is secure_cloud:
                return lp
        return None


@dataclass(frozen=True, slots=True)
class Market:
    gpus: tuple[GpuMarket, ...]

    def gpu(self, gpu_type_id: str) -> GpuMarket | None:
        for g in self.gpus:
            if g.id == gpu_type_id:
                return g
        return None

    @property
    def spot_listed(self) -> bool:
        """Whether any GPU type shows a spot price at all (spot is a detected capability)."""
        return any(lp.has_spot for g in self.gpus for lp in g.lowest) or any(
            (g.secure_spot_price or 0) > 0 or (g.community_spot_price or 0) > 0 for g in self.gpus
        )


@dataclass(frozen=True, slots=True)
class GpuUtilisation:
    id: str
    gpu_util_percent: int | None
    memory_util_percent: int | None


@dataclass(frozen=True, slots=True)
class PodRuntime:
    uptime_seconds: int | None
    gpus: tuple[GpuUtilisation, ...] = ()

    @property
    def mean_gpu_util(self) -> float | None:
        values = [g.gpu_util_percent for g in self.gpus if g.gpu_util_percent is not None]
        return sum(values) / len(values) if values else None


@dataclass(frozen=True, slots=True)
class Pod:
    id: str
    name: str
    desired_status: str
    pod_type: str | None
    cost_per_hr: float
    gpu_count: int
    image_name: str | None = None
    gpu_type_id: str | None = None
    data_center_id: str | None = None
    last_status_change: str | None = None
    runtime: PodRuntime | None = None
    env: tuple[str, ...] = ()
    network_volume_id: str | None = None
    machine_id: str | None = None

    @property
    def is_spot(self) -> bool:
        return self.pod_type == INTERRUPTABLE

    @property
    def is_running(self) -> bool:
        return self.desired_status == "RUNNING" and self.runtime is not None

    @property
    def is_exited(self) -> bool:
        return self.desired_status == "EXITED"


@dataclass(frozen=True, slots=True)
class DeployRequest:
    """One pod to create; `bid_per_gpu` set means spot (`podRentInterruptable`)."""

    name: str
    image_name: str
    gpu_type_id: str
    gpu_count: int = 1
    cloud_type: str = "ALL"
    container_disk_gb: int = 20
    volume_gb: int = 0
    volume_mount_path: str = "/workspace"
    ports: str | None = None
    docker_args: str | None = None
    env: tuple[tuple[str, str], ...] = field(default=())
    network_volume_id: str | None = None
    data_center_id: str | None = None
    bid_per_gpu: float | None = None


@dataclass(frozen=True, slots=True)
class NetworkVolume:
    id: str
    name: str
    size_gb: int
    data_center_id: str | None


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    name: str
    image_name: str | None = None


@dataclass(frozen=True, slots=True)
class Account:
    client_balance: float | None
    current_spend_per_hr: float | None
    spend_limit: float | None


@dataclass(frozen=True, slots=True)
class DataCenterGpu:
    gpu_type_id: str
    stock_status: str | None
    available: bool


@dataclass(frozen=True, slots=True)
class DataCenter:
    id: str
    name: str | None
    location: str | None
    gpus: tuple[DataCenterGpu, ...] = ()


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """What the client reports after each HTTP request, for metrics and logs."""

    operation: str
    outcome: str  # "ok" or the error class name in snake_case, e.g. "transient"
    seconds: float
    attempt: int = 1
