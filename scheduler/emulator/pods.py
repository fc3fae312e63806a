"""A rented pod: what was asked for (`PodRequest`), where it runs, its status and its bill.

Why: pods are the thing the scheduler pays for; their billing must be an exact integral of
`costPerHr` over running time, so a pod keeps closed totals plus the start of its open segment.

Billing covers GPU time only: storage of stopped pods (volume disk) is not billed (RunPod charges
$0.20/GB/month for it; ignoring it keeps the integral a function of running time alone).

What it must not do: take locks, read clocks or pick hosts; the world drives it with times.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from scheduler.emulator.catalogue import CloudType, GpuSpec, HostSpec
from scheduler.emulator.containers import ContainerRun, ContainerSpec

PodKind = Literal["ON_DEMAND", "SPOT"]
Status = Literal["RUNNING", "EXITED"]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def status_text(prefix: str, when: datetime) -> str:
    """RunPod's `lastStatusChange` prose, e.g. `Rented by User: Fri Nov 21 2026 10:00:00 GMT...`."""
    return (
        f"{prefix}: {_DAYS[when.weekday()]} {_MONTHS[when.month - 1]} {when.day:02d} {when.year} "
        f"{when:%H:%M:%S} GMT+0000 (Coordinated Universal Time)"
    )


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class PodRequest:
    """The create input, normalised from `podFindAndDeployOnDemand`/`podRentInterruptable`."""

    name: str | None
    image_name: str | None
    gpu_type_ids: tuple[str, ...]
    gpu_count: int
    cloud_type: str
    data_center_id: str | None
    country_code: str | None
    container_disk_gb: int | None
    volume_gb: int | None
    volume_mount_path: str | None
    docker_args: str | None
    ports: str | None
    env: tuple[tuple[str, str], ...]
    template_id: str | None
    network_volume_id: str | None
    min_vcpu: int | None
    min_memory_gb: int | None
    bid_per_gpu: float | None
    support_public_ip: bool

    @classmethod
    def from_input(cls, data: Mapping[str, Any]) -> PodRequest:
        ids: list[str] = []
        if isinstance(data.get("gpuTypeId"), str):
            ids.append(data["gpuTypeId"])
        ids.extend(g for g in data.get("gpuTypeIdList") or () if isinstance(g, str))
        env = tuple(
            (str(item["key"]), str(item["value"])) for item in data.get("env") or () if item
        )
        bid = data.get("bidPerGpu")
        count = _opt_int(data.get("gpuCount"))
        return cls(
            name=_opt_str(data.get("name")),
            image_name=_opt_str(data.get("imageName")),
            gpu_type_ids=tuple(ids),
            gpu_count=1 if count is None or count < 1 else count,
            cloud_type=str(data.get("cloudType") or "ALL"),
            data_center_id=_opt_str(data.get("dataCenterId")),
            country_code=_opt_str(data.get("countryCode")),
            container_disk_gb=_opt_int(data.get("containerDiskInGb")),
            volume_gb=_opt_int(data.get("volumeInGb")),
            volume_mount_path=_opt_str(data.get("volumeMountPath")),
            docker_args=_opt_str(data.get("dockerArgs")),
            ports=_opt_str(data.get("ports")),
            env=env,
            template_id=_opt_str(data.get("templateId")),
            network_volume_id=_opt_str(data.get("networkVolumeId")),
            min_vcpu=_opt_int(data.get("minVcpuCount")),
            min_memory_gb=_opt_int(data.get("minMemoryInGb")),
            bid_per_gpu=float(bid) if isinstance(bid, int | float) else None,
            support_public_ip=data.get("supportPublicIp") is not False,
        )

    def clouds(self) -> tuple[CloudType, ...]:
        if self.cloud_type == "SECURE":
            return ("SECURE",)
        if self.cloud_type == "COMMUNITY":
            return ("COMMUNITY",)
        return ("SECURE", "COMMUNITY")


@dataclass
class Pod:
    """One pod; times are world seconds (see `World`)."""

    id: str
    request: PodRequest
    image_name: str
    env: tuple[tuple[str, str], ...]
    host: HostSpec
    gpu: GpuSpec
    kind: PodKind
    gpu_count: int
    cost_per_hr: float
    bid_per_gpu: float | None
    created_at_time: datetime
    last_status_change: str
    container: ContainerSpec
    gpu_ids: tuple[str, ...]
    host_suffix: str
    public_ip: str
    status: Status = "RUNNING"
    run_since: float | None = None
    run: ContainerRun | None = None
    last_started_at: datetime | None = None
    billed: float = 0.0
    running_seconds: float = 0.0
    preemptions: int = 0
    terminated_at: float | None = None
    history: list[tuple[float, str]] = field(default_factory=list)
    segments: list[tuple[float, float | None, float]] = field(default_factory=list)
    """Billing segments (start, end or None while open, costPerHr): the audit trail of the bill."""

    @property
    def cloud(self) -> CloudType:
        return self.host.cloud

    @property
    def running(self) -> bool:
        return self.status == "RUNNING" and self.terminated_at is None

    def start(self, t: float, when: datetime, cost_per_hr: float, run: ContainerRun) -> None:
        self.status = "RUNNING"
        self.cost_per_hr = cost_per_hr
        self.run_since = t
        self.run = run
        self.last_started_at = when
        self.history.append((t, "start"))
        self.segments.append((t, None, cost_per_hr))

    def halt(self, t: float, status_change: str, reason: str) -> None:
        """Close the open billing segment at `t`; the pod is EXITED afterwards."""
        if self.run_since is not None:
            seconds = t - self.run_since
            self.running_seconds += seconds
            self.billed += self.cost_per_hr * seconds / 3600.0
            self._close_segment(t)
        self.run_since = None
        self.status = "EXITED"
        self.last_status_change = status_change
        self.history.append((t, reason))

    def reprice(self, t: float, cost_per_hr: float) -> None:
        """Change the price of a running pod: the open segment closes at the old price."""
        if self.run_since is not None:
            self.billed = self.billed_at(t)
            self.running_seconds = self.running_seconds_at(t)
            self.run_since = t
            self._close_segment(t)
            self.segments.append((t, None, cost_per_hr))
        self.cost_per_hr = cost_per_hr
        self.history.append((t, "repriced"))

    def _close_segment(self, t: float) -> None:
        if self.segments and self.segments[-1][1] is None:
            start, _, price = self.segments[-1]
            self.segments[-1] = (start, t, price)

    def billed_at(self, t: float) -> float:
        """Dollars billed up to `t`: closed segments plus the open one."""
        if self.run_since is None:
            return self.billed
        return self.billed + self.cost_per_hr * (t - self.run_since) / 3600.0

    def running_seconds_at(self, t: float) -> float:
        if self.run_since is None:
            return self.running_seconds
        return self.running_seconds + (t - self.run_since)
