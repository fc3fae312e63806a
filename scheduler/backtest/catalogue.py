"""The emulator's catalogue for a backtest: the market's GPU types and one more.

Why: a replayed market may name GPU types the emulator does not sell (an AWS V100 trace mapped
to an id of the user's choosing), and the emulator refuses markets for unknown types. Only the
market's types are sold, which keeps every poll small (a whole-catalogue poll costs about five
times a one-type poll), plus one catalogue type that is not in the market (`WITNESS`) and keeps
listing spot from the emulator's own model: the daemon reads "no GPU type lists spot at all" as
RunPod having removed spot, which a replayed type's outage is not.

What it must not do: set prices (the market file does) or depend on the run.
"""

from __future__ import annotations

from scheduler.backtest.markets import Market
from scheduler.emulator.catalogue import Catalogue, GpuSpec, HostSpec, default_catalogue

DATA_CENTER = "US-TX-3"
WITNESS = ("NVIDIA RTX A4000", "NVIDIA RTX A5000")


def backtest_catalogue(market: Market) -> Catalogue:
    full = default_catalogue()
    wanted = set(market.gpu_types())
    witness = next(w for w in WITNESS if w not in wanted)
    base = Catalogue(
        gpu_types=tuple(g for g in full.gpu_types if g.id in wanted or g.id == witness),
        data_centers=full.data_centers,
        hosts=tuple(h for h in full.hosts if h.gpu_type_id in wanted or h.gpu_type_id == witness),
    )
    known = {g.id for g in base.gpu_types}
    extra_gpus: list[GpuSpec] = []
    extra_hosts: list[HostSpec] = []
    for n, gpu_id in enumerate(market.gpu_types()):
        if gpu_id in known:
            continue
        secure = market.find(gpu_id, True)
        community = market.find(gpu_id, False)
        extra_gpus.append(
            GpuSpec(
                id=gpu_id,
                display_name=gpu_id,
                memory_gb=80,
                cuda_cores=10000,
                secure_price=secure.on_demand[0] if secure else None,
                community_price=community.on_demand[0] if community else None,
                spot_ratio=0.5,
            )
        )
        for s in (secure, community):
            if s is not None:
                extra_hosts.append(
                    HostSpec(
                        id=f"backtest{n:03d}{'s' if s.secure else 'c'}",
                        data_center_id=DATA_CENTER,
                        gpu_type_id=gpu_id,
                        cloud=s.cloud,  # type: ignore[arg-type]
                        gpu_count=8,
                        blocked=0,
                        vcpu_per_gpu=8,
                        memory_gb_per_gpu=62,
                    )
                )
    if not extra_gpus:
        return base
    return Catalogue(
        gpu_types=base.gpu_types + tuple(extra_gpus),
        data_centers=base.data_centers,
        hosts=base.hosts + tuple(extra_hosts),
    )
