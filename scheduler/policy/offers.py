"""Offers: what each acceptable GPU type costs a job per unit of work, spot and on-demand."""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.domain.job import JobSpec
from scheduler.domain.states import AttemptKind, CloudType
from scheduler.domain.views import MarketView


@dataclass(frozen=True, slots=True)
class Offer:
    kind: AttemptKind
    gpu_type_id: str
    gpu_count: int
    secure_cloud: bool
    price_per_gpu: float
    """What we pay per GPU-hour: the bid for spot, the list price for on-demand."""
    on_demand_price_per_gpu: float | None
    speed: float
    preference: int

    @property
    def per_work(self) -> float:
        """Dollars per GPU-hour of speed-1.0 work: the ranking key."""
        return self.price_per_gpu / self.speed

    @property
    def cost_per_hr(self) -> float:
        return self.price_per_gpu * self.gpu_count


def clouds_for(cloud_type: CloudType) -> tuple[bool, ...]:
    if cloud_type is CloudType.SECURE:
        return (True,)
    if cloud_type is CloudType.COMMUNITY:
        return (False,)
    return (True, False)


def spot_bid(min_bid: float, limit: float, margin: float) -> float:
    """Bid a margin over the floor rounded to a tenth of a cent, but never under the floor and
    never over the job's limit (the rounding must not push it past either)."""
    return min(limit, max(min_bid, round(min_bid * (1.0 + margin), 3)))


def _rank(offers: list[Offer]) -> list[Offer]:
    return sorted(offers, key=lambda o: (o.per_work, o.preference, not o.secure_cloud))


def spot_offers(spec: JobSpec, market: MarketView, margin: float) -> list[Offer]:
    """Spot offers under the job's limit, best first. Empty when spot is not a capability."""
    if not market.spot_capable:
        return []
    out: list[Offer] = []
    for pref, choice in enumerate(spec.gpu_types):
        for secure in clouds_for(spec.cloud_type):
            q = market.quote(choice.gpu_type_id, spec.gpu_count, secure)
            if q is None or not q.spot_offered or q.spot_min_bid is None:
                continue
            if q.spot_min_bid > spec.max_spot_price:
                continue
            bid = spot_bid(q.spot_min_bid, spec.max_spot_price, margin)
            if bid < q.spot_min_bid:
                continue
            out.append(
                Offer(
                    AttemptKind.SPOT,
                    choice.gpu_type_id,
                    spec.gpu_count,
                    secure,
                    bid,
                    q.on_demand,
                    choice.speed,
                    pref,
                )
            )
    return _rank(out)


def on_demand_offers(spec: JobSpec, market: MarketView) -> list[Offer]:
    """On-demand offers under the job's on-demand limit, best first; none if it has no limit."""
    limit = spec.max_on_demand_price
    if limit is None:
        return []
    out: list[Offer] = []
    for pref, choice in enumerate(spec.gpu_types):
        for secure in clouds_for(spec.cloud_type):
            q = market.quote(choice.gpu_type_id, spec.gpu_count, secure)
            if q is None or q.on_demand is None or q.on_demand <= 0 or q.stock is None:
                continue
            if q.on_demand > limit:
                continue
            out.append(
                Offer(
                    AttemptKind.ON_DEMAND,
                    choice.gpu_type_id,
                    spec.gpu_count,
                    secure,
                    q.on_demand,
                    q.on_demand,
                    choice.speed,
                    pref,
                )
            )
    return _rank(out)


def spot_floor_for(
    market: MarketView, gpu_type_id: str, gpu_count: int, secure_cloud: bool | None
) -> float | None:
    """The current spot floor for a pod's GPU type, None when spot is not offered."""
    clouds = (secure_cloud,) if secure_cloud is not None else (True, False)
    floors = [
        q.spot_min_bid
        for s in clouds
        if (q := market.quote(gpu_type_id, gpu_count, s)) is not None
        and q.spot_min_bid is not None
        and q.spot_min_bid > 0
    ]
    return min(floors) if floors else None
