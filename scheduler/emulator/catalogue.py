"""The static world the emulator sells: GPU types, data centers and the hosts ("machines") in them.

Why: RunPod's catalogue is what every client reads first (`gpuTypes`, `dataCenters`,
`lowestPrice`), and capacity is finite per host, which is what makes stock advisory and a resume
host-bound. The ids, display names and memory sizes are RunPod's real ones; list prices are
plausible 2025 on-demand prices in dollars per GPU-hour, with a spot floor ratio of roughly
40-60 % of on-demand.

The host layout is fixed (it does not depend on the emulator's seed), so tests can rely on it;
the seed drives prices, ids and random faults.

What it must not do: hold mutable state or know about pods; the world owns who uses which GPU.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

CloudType = Literal["SECURE", "COMMUNITY"]
CLOUD_TYPES: tuple[CloudType, ...] = ("SECURE", "COMMUNITY")


@dataclass(frozen=True)
class GpuSpec:
    """One GPU type as RunPod lists it; prices are on-demand $/GPU/h, None = cloud not offered."""

    id: str
    display_name: str
    memory_gb: int
    cuda_cores: int
    secure_price: float | None
    community_price: float | None
    spot_ratio: float
    manufacturer: str = "Nvidia"

    def on_demand_price(self, cloud: CloudType) -> float | None:
        return self.secure_price if cloud == "SECURE" else self.community_price


@dataclass(frozen=True)
class DataCenterSpec:
    id: str
    name: str
    country_code: str
    country: str


@dataclass(frozen=True)
class HostSpec:
    """A machine with `gpu_count` GPUs of one type; `blocked` GPUs are rented by other tenants."""

    id: str
    data_center_id: str
    gpu_type_id: str
    cloud: CloudType
    gpu_count: int
    blocked: int
    vcpu_per_gpu: int
    memory_gb_per_gpu: int


@dataclass(frozen=True)
class Catalogue:
    gpu_types: tuple[GpuSpec, ...]
    data_centers: tuple[DataCenterSpec, ...]
    hosts: tuple[HostSpec, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_gpus", {g.id: g for g in self.gpu_types})
        object.__setattr__(self, "_dcs", {d.id: d for d in self.data_centers})

    def gpu(self, gpu_type_id: str) -> GpuSpec | None:
        found: GpuSpec | None = self.__dict__["_gpus"].get(gpu_type_id)
        return found

    def data_center(self, data_center_id: str) -> DataCenterSpec | None:
        found: DataCenterSpec | None = self.__dict__["_dcs"].get(data_center_id)
        return found


GPU_TYPES: tuple[GpuSpec, ...] = (
    GpuSpec("NVIDIA RTX A4000", "RTX A4000", 16, 6144, 0.25, 0.17, 0.48),
    GpuSpec("NVIDIA RTX A5000", "RTX A5000", 24, 8192, 0.27, 0.16, 0.50),
    GpuSpec("NVIDIA RTX A6000", "RTX A6000", 48, 10752, 0.49, 0.33, 0.50),
    GpuSpec("NVIDIA A40", "A40", 48, 10752, 0.40, 0.35, 0.55),
    GpuSpec("NVIDIA L4", "L4", 24, 7424, 0.43, None, 0.52),
    GpuSpec("NVIDIA L40S", "L40S", 48, 18176, 0.86, 0.79, 0.50),
    GpuSpec("NVIDIA GeForce RTX 3090", "RTX 3090", 24, 10496, 0.43, 0.22, 0.45),
    GpuSpec("NVIDIA GeForce RTX 4090", "RTX 4090", 24, 16384, 0.69, 0.34, 0.45),
    GpuSpec("NVIDIA GeForce RTX 5090", "RTX 5090", 32, 21760, 0.94, 0.69, 0.50),
    GpuSpec("NVIDIA A100 80GB PCIe", "A100 80GB", 80, 6912, 1.64, 1.19, 0.50),
    GpuSpec("NVIDIA A100-SXM4-80GB", "A100 SXM 80GB", 80, 6912, 1.74, 1.39, 0.55),
    GpuSpec("NVIDIA H100 PCIe", "H100 PCIe", 80, 14592, 2.39, 1.99, 0.55),
    GpuSpec("NVIDIA H100 80GB HBM3", "H100 SXM", 80, 16896, 2.69, None, 0.60),
    GpuSpec("NVIDIA H200", "H200 SXM", 141, 16896, 3.99, None, 0.60),
)

DATA_CENTERS: tuple[DataCenterSpec, ...] = (
    DataCenterSpec("EU-RO-1", "EU-RO-1", "RO", "Romania"),
    DataCenterSpec("EU-SE-1", "EU-SE-1", "SE", "Sweden"),
    DataCenterSpec("EU-NL-1", "EU-NL-1", "NL", "Netherlands"),
    DataCenterSpec("EU-CZ-1", "EU-CZ-1", "CZ", "Czech Republic"),
    DataCenterSpec("EUR-IS-1", "EUR-IS-1", "IS", "Iceland"),
    DataCenterSpec("CA-MTL-1", "CA-MTL-1", "CA", "Canada"),
    DataCenterSpec("US-TX-3", "US-TX-3", "US", "United States"),
    DataCenterSpec("US-GA-1", "US-GA-1", "US", "United States"),
    DataCenterSpec("US-KS-2", "US-KS-2", "US", "United States"),
    DataCenterSpec("US-CA-2", "US-CA-2", "US", "United States"),
    DataCenterSpec("US-IL-1", "US-IL-1", "US", "United States"),
    DataCenterSpec("AP-JP-1", "AP-JP-1", "JP", "Japan"),
)

_LAYOUT_SEED = 20250101
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


def random_id(rng: random.Random, length: int) -> str:
    """A RunPod-looking id: lowercase letters and digits."""
    return "".join(rng.choice(_ALNUM) for _ in range(length))


def host_ram_floor(gpu: GpuSpec) -> int:
    """The least host RAM per GPU a machine of this type has: 1.5 x its VRAM.

    Production GPU machines carry more system RAM than VRAM (RunPod's own pod example: 1 x L4,
    24 GB VRAM, 62 GB RAM), and clients rely on it: SkyPilot asks `minMemoryInGb` = VRAM x count,
    so a 48 GB card on a 46 GB-per-GPU host could never launch.
    """
    return (gpu.memory_gb * 3 + 1) // 2


def default_catalogue() -> Catalogue:
    """The default world: every GPU type on a few hosts per offered cloud.

    Every secure-cloud GPU type has a host in EU-RO-1 (RunPod's largest secure data center), so
    examples that pin `dataCenterId: "EU-RO-1"` work for any type.
    """
    rng = random.Random(_LAYOUT_SEED)
    others = [dc.id for dc in DATA_CENTERS if dc.id != "EU-RO-1"]
    hosts: list[HostSpec] = []
    for gpu in GPU_TYPES:
        large = gpu.memory_gb >= 80
        for cloud in CLOUD_TYPES:
            if gpu.on_demand_price(cloud) is None:
                continue
            dcs = (
                ["EU-RO-1", *rng.sample(others, 2)] if cloud == "SECURE" else rng.sample(others, 3)
            )
            for dc in dcs:
                size = 8 if large or cloud == "SECURE" else rng.choice((4, 8))
                hosts.append(
                    HostSpec(
                        id=random_id(rng, 12),
                        data_center_id=dc,
                        gpu_type_id=gpu.id,
                        cloud=cloud,
                        gpu_count=size,
                        blocked=rng.randint(0, size // 2),
                        vcpu_per_gpu=16 if large else rng.choice((6, 8, 12)),
                        memory_gb_per_gpu=max(
                            125 if large else rng.choice((31, 46, 62)), host_ram_floor(gpu)
                        ),
                    )
                )
    return Catalogue(gpu_types=GPU_TYPES, data_centers=DATA_CENTERS, hosts=tuple(hosts))
