"""Turning what RunPod reports into the snapshot's frozen views, plus the two small memories
the daemon keeps between ticks (when each pod went idle, when an unowned pod was first seen).

The memories live in the process on purpose: after a restart they start empty, which only
delays an idle stop or an orphan sweep by one timeout, never hastens it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from scheduler.domain.views import POD_NAME_PREFIX, MarketView, PodView, Quote
from scheduler.runpod.models import Market, Pod


def market_view(
    market: Market, combos: Iterable[tuple[int, bool]], spot_capable: bool
) -> MarketView:
    quotes: list[Quote] = []
    for gpu in market.gpus:
        for count, secure in combos:
            lp = gpu.lowest_for(count, secure)
            if lp is None:
                continue
            quotes.append(
                Quote(
                    gpu_type_id=gpu.id,
                    gpu_count=count,
                    secure_cloud=secure,
                    spot_min_bid=lp.minimum_bid_price if lp.has_spot else None,
                    on_demand=lp.uninterruptable_price,
                    stock=lp.stock_status,
                )
            )
    return MarketView(quotes=tuple(quotes), spot_capable=spot_capable)


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_STATUS_TIME = re.compile(
    r":\s*[A-Z][a-z]{2} ([A-Z][a-z]{2}) (\d{1,2}) (\d{4}) "
    r"(\d{2}):(\d{2}):(\d{2}) GMT([+-])(\d{2})(\d{2})"
)


def status_time(prose: str | None) -> datetime | None:
    """The moment in RunPod's `lastStatusChange` prose (`Rented by User: Fri Nov 21 2026
    10:00:00 GMT+0000 (...)`): when the pod last started or halted. None if unreadable."""
    match = _STATUS_TIME.search(prose or "")
    if match is None:
        return None
    month, day, year, hh, mm, ss, sign, oh, om = match.groups()
    if month not in _MONTHS:
        return None
    try:
        local = datetime(int(year), _MONTHS[month], int(day), int(hh), int(mm), int(ss), tzinfo=UTC)
    except ValueError:
        return None
    offset = timedelta(hours=int(oh), minutes=int(om))
    return local - offset if sign == "+" else local + offset


class PodMemory:
    """Idle-since per pod and first-seen per unowned daemon pod, across ticks."""

    def __init__(self) -> None:
        self._idle_since: dict[str, datetime] = {}
        self._first_seen: dict[str, datetime] = {}

    def views(
        self,
        pods: Iterable[Pod],
        now: datetime,
        threshold_for: Callable[[Pod], float],
        owned_names: set[str],
    ) -> tuple[PodView, ...]:
        out: list[PodView] = []
        seen: set[str] = set()
        for pod in pods:
            seen.add(pod.id)
            util = pod.runtime.mean_gpu_util if pod.runtime is not None else None
            running = pod.is_running
            if running and util is not None and util < threshold_for(pod):
                self._idle_since.setdefault(pod.id, now)
            else:
                self._idle_since.pop(pod.id, None)
            first = None
            if pod.name.startswith(POD_NAME_PREFIX) and pod.name not in owned_names:
                first = self._first_seen.setdefault(pod.id, now)
            else:
                self._first_seen.pop(pod.id, None)
            out.append(
                PodView(
                    pod_id=pod.id,
                    name=pod.name,
                    desired_status=pod.desired_status,
                    is_spot=pod.is_spot,
                    cost_per_hr=pod.cost_per_hr,
                    gpu_count=pod.gpu_count,
                    gpu_type_id=pod.gpu_type_id,
                    data_center_id=pod.data_center_id,
                    runtime_up=running,
                    gpu_util=util,
                    uptime_seconds=(
                        float(pod.runtime.uptime_seconds)
                        if pod.runtime is not None and pod.runtime.uptime_seconds is not None
                        else None
                    ),
                    idle_since=self._idle_since.get(pod.id),
                    first_seen=first,
                    status_changed_at=status_time(pod.last_status_change),
                )
            )
        for gone in set(self._idle_since) - seen:
            del self._idle_since[gone]
        for gone in set(self._first_seen) - seen:
            del self._first_seen[gone]
        return tuple(out)
