"""Free GPUs per host, and the stock words RunPod derives from them.

Why: capacity is finite per host; creates need a host with enough free GPUs, a resume needs its
own host, and `stockStatus` / `availableGpuCounts` are read off the free counts. Admin `stock`
makes a given number of GPUs free for a key by moving GPUs between "free" and "rented by other
tenants" (adding hosts when the existing ones are too small).

What it must not do: know about prices, pods or time; the world tells it which GPUs it uses.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from scheduler.emulator.catalogue import Catalogue, CloudType, HostSpec, random_id

AVAILABLE_COUNTS = (1, 2, 4, 8)


@dataclass
class HostState:
    spec: HostSpec
    blocked: int
    used: int = 0

    @property
    def capacity(self) -> int:
        return self.spec.gpu_count

    @property
    def free(self) -> int:
        return self.spec.gpu_count - self.blocked - self.used


def stock_status(free_gpus: int) -> str | None:
    """RunPod's advisory stock word for a number of free GPUs (null when none)."""
    if free_gpus >= 16:
        return "High"
    if free_gpus >= 5:
        return "Medium"
    if free_gpus >= 1:
        return "Low"
    return None


def available_counts(max_free_on_a_host: int) -> list[int]:
    return [n for n in AVAILABLE_COUNTS if n <= max_free_on_a_host]


class Capacity:
    """Mutable host occupancy; callers hold the world lock."""

    def __init__(self, catalogue: Catalogue, rng: random.Random) -> None:
        self._rng = rng
        self.hosts: dict[str, HostState] = {}
        self._by_key: dict[tuple[str, str], list[HostState]] = {}
        for spec in catalogue.hosts:
            self._add(HostState(spec, spec.blocked))

    def _add(self, host: HostState) -> None:
        self.hosts[host.spec.id] = host
        self._by_key.setdefault((host.spec.gpu_type_id, host.spec.cloud), []).append(host)

    def hosts_for(self, gpu_type_id: str, cloud: CloudType) -> list[HostState]:
        """The hosts of one market key, in catalogue order (a copy)."""
        return list(self._by_key.get((gpu_type_id, cloud), ()))

    def set_free(self, gpu_type_id: str, cloud: CloudType, free: int) -> None:
        """Make exactly `free` GPUs of this key free, leaving GPUs in use by pods alone.

        Hosts are filled in catalogue order, so multi-GPU pods fit when the stock allows.
        """
        if free < 0:
            raise ValueError("stock must be >= 0")
        hosts = self.hosts_for(gpu_type_id, cloud)  # catalogue order: EU-RO-1 first on secure
        remaining = free
        for host in hosts:
            give = min(host.capacity - host.used, remaining)
            host.blocked = host.capacity - host.used - give
            remaining -= give
        template = hosts[0].spec if hosts else None
        while remaining > 0 and template is not None:
            size = min(8, remaining)
            spec = HostSpec(
                id=random_id(self._rng, 12),
                data_center_id=template.data_center_id,
                gpu_type_id=gpu_type_id,
                cloud=cloud,
                gpu_count=size,
                blocked=0,
                vcpu_per_gpu=template.vcpu_per_gpu,
                memory_gb_per_gpu=template.memory_gb_per_gpu,
            )
            self._add(HostState(spec, 0))
            remaining -= size


def total_free(hosts: Iterable[HostState]) -> int:
    return sum(h.free for h in hosts)
