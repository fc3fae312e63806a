"""The hindsight optimum: the cheapest way to finish one job on a market known in advance.

Why: a backtest needs a lower bound to say how far a policy is from the best possible. Given the
whole trace (spot availability and prices per step), a dynamic programme over the market's time
slots finds the cheapest schedule of idle, spot and on-demand, paying a changeover delay `d`
(billed, no progress) every time an instance starts: first launch, spot after on-demand,
on-demand after spot, and every restart after a preemption. It is the paper's "omniscient" policy
(*Can't Be Late*, NSDI '24, section 5.3), solved exactly instead of as an ILP.

Model (the same one the emulator implements): the job needs `work` seconds of compute and must
finish by the end of the last slot. A decision is taken at the start of each slot: idle, spot
(only if spot is offered for the whole slot) or on-demand. An instance kept from one slot to the
next pays no new changeover; a spot instance whose next slot has no spot is preempted at the
boundary. Billing runs from an instance's start to its stop or to the job's end (mid-slot).

Time is counted in units of the greatest common divisor of the slot lengths, `d` and `work`
(60 s for the paper's setup), so the programme is exact. Its state is (mode, changeover still
pending, remaining work); remaining work is kept only inside the band that can still make the
deadline, which is at most the slack wide. Pure Python, no I/O; about half a second for a 60-hour
deadline.

What it must not do: know about the daemon, the store or the emulator; it sees numbers only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

IDLE, SPOT, ON_DEMAND = 0, 1, 2
_INF = math.inf


@dataclass(frozen=True, slots=True)
class Slot:
    """One stretch of market with constant prices: `spot` None means no spot in it."""

    seconds: float
    spot: float | None
    on_demand: float


@dataclass(frozen=True, slots=True)
class Plan:
    """The optimum: its cost and how it is made up. `modes` has one entry per slot."""

    feasible: bool
    cost: float
    spot_seconds: float
    """Compute seconds on spot (changeover time excluded, as the paper's Table 3 counts)."""
    on_demand_seconds: float
    changeovers: int
    switches: int
    """Changes between spot and on-demand (idle stretches in between do not count)."""
    modes: tuple[int, ...]
    slot_costs: tuple[float, ...]
    changeover_cost: float = 0.0
    """Dollars billed during changeovers (no progress)."""


INFEASIBLE = Plan(False, _INF, 0.0, 0.0, 0, 0, (), ())


def _unit(values: Sequence[float]) -> int:
    ints = [max(0, round(v)) for v in values]
    g = reduce(math.gcd, [i for i in ints if i > 0], 0)
    return g or 1


Key = tuple[int, int]
"""A state between slots: (mode, changeover seconds still pending, in units)."""


@dataclass(frozen=True, slots=True)
class _Source:
    """How a state after a slot was reached: from `prev`, running `mode`, doing `progress`."""

    prev: Key
    mode: int
    progress: int


@dataclass(slots=True)
class _Band:
    """Cheapest cost so far per remaining work lo, lo+1, ... and where each came from."""

    lo: int
    costs: list[float]
    came: bytearray


def _through(
    band: _Band, pending: int, length: int, price: float
) -> tuple[int, int, list[float], list[tuple[int, float]]]:
    """Run an instance through one slot from every remaining work in `band`.

    Returns (changeover still pending after the slot, progress made, costs of the states that
    carry on (remaining work band.lo+start-progress ...), and (remaining, total cost) of those
    that finish inside the slot, paying only until they finish).
    """
    used = min(pending, length)
    progress = length - used
    finishes = [
        (band.lo + j, c + price * (used + band.lo + j))
        for j, c in enumerate(band.costs[: max(0, progress + 1 - band.lo)])
        if c < _INF
    ]
    start = max(0, progress + 1 - band.lo)
    full = price * length
    return pending - used, progress, [c + full for c in band.costs[start:]], finishes


def optimum(slots: Sequence[Slot], work: float, changeover: float) -> Plan:
    """The cheapest schedule that does `work` seconds within `slots`, or `INFEASIBLE`."""
    if work <= 0:
        return Plan(True, 0.0, 0.0, 0.0, 0, 0, (IDLE,) * len(slots), (0.0,) * len(slots))
    unit = _unit([s.seconds for s in slots] + [changeover, work])
    lengths = [round(s.seconds / unit) for s in slots]
    need, d, per_unit = round(work / unit), round(changeover / unit), unit / 3600.0
    left = [0] * (len(slots) + 1)
    for i in range(len(slots) - 1, -1, -1):
        left[i] = left[i + 1] + lengths[i]
    layer: dict[Key, _Band] = {(IDLE, 0): _Band(need, [0.0], bytearray(1))}
    history: list[tuple[dict[Key, _Band], list[_Source]]] = []
    best: tuple[float, int, Key, int, int] | None = None  # cost, slot, state, mode, remaining
    for i, slot in enumerate(slots):
        candidates: dict[Key, list[tuple[int, list[float], int]]] = {}
        sources: list[_Source] = []
        for key, band in layer.items():
            modes = (IDLE, ON_DEMAND, SPOT) if slot.spot is not None else (IDLE, ON_DEMAND)
            for mode in modes:
                if mode == IDLE:
                    sources.append(_Source(key, IDLE, 0))
                    candidates.setdefault((IDLE, 0), []).append(
                        (band.lo, band.costs, len(sources) - 1)
                    )
                    continue
                price = (slot.spot if mode == SPOT else slot.on_demand) or 0.0
                pending = key[1] if key[0] == mode else d
                after, progress, carried, finishes = _through(
                    band, pending, lengths[i], price * per_unit
                )
                for r, cost in finishes:
                    if best is None or cost < best[0] - 1e-12:
                        best = (cost, i, key, mode, r)
                if carried:
                    sources.append(_Source(key, mode, progress))
                    lo = max(band.lo, progress + 1) - progress
                    candidates.setdefault((mode, after), []).append((lo, carried, len(sources) - 1))
        layer = _merge(candidates, left[i + 1])
        history.append((layer, sources))
        if not layer:
            break
    if best is None:
        return INFEASIBLE
    return _trace_back(best, history, slots, lengths, need, d, unit)


def _merge(
    candidates: dict[Key, list[tuple[int, list[float], int]]], time_left: int
) -> dict[Key, _Band]:
    """Element-wise minimum per state, keeping only remaining work that fits in `time_left`."""
    layer: dict[Key, _Band] = {}
    for key, items in candidates.items():
        lo = min(item[0] for item in items)
        hi = min(max(item[0] + len(item[1]) for item in items), time_left + 1)
        if hi <= lo:
            continue
        costs = [_INF] * (hi - lo)
        came = bytearray(hi - lo)
        for item_lo, band, source in items:
            offset = item_lo - lo
            for j, c in enumerate(band[: max(0, hi - item_lo)]):
                if c < costs[offset + j]:
                    costs[offset + j] = c
                    came[offset + j] = source
        reachable = [k for k, c in enumerate(costs) if c < _INF]
        if reachable:
            first, last = reachable[0], reachable[-1] + 1
            layer[key] = _Band(lo + first, costs[first:last], came[first:last])
    return layer


def _trace_back(
    best: tuple[float, int, Key, int, int],
    history: list[tuple[dict[Key, _Band], list[_Source]]],
    slots: Sequence[Slot],
    lengths: list[int],
    need: int,
    d: int,
    unit: int,
) -> Plan:
    cost, last, key, mode, remaining = best
    modes = [mode]
    for i in range(last - 1, -1, -1):
        layer, sources = history[i]
        band = layer[key]
        source = sources[band.came[remaining - band.lo]]
        modes.append(source.mode)
        remaining += source.progress
        key = source.prev
    modes.reverse()
    return _account(cost, modes, slots, lengths, need, d, unit)


def _account(
    cost: float,
    modes: list[int],
    slots: Sequence[Slot],
    lengths: list[int],
    need: int,
    d: int,
    unit: int,
) -> Plan:
    """Replay a schedule to count compute seconds, changeovers, switches and costs per slot."""
    spot = od = changeovers = switches = 0
    overhead = 0.0
    remaining, pending, prev, last_kind = need, 0, IDLE, IDLE
    slot_costs: list[float] = []
    for i, mode in enumerate(modes):
        if mode == IDLE:
            prev, pending = IDLE, 0
            slot_costs.append(0.0)
            continue
        if mode != prev:
            pending, changeovers = d, changeovers + 1
            if last_kind not in (IDLE, mode):
                switches += 1
        used = min(pending, lengths[i])
        progress = min(lengths[i] - used, remaining)
        price = (slots[i].spot if mode == SPOT else slots[i].on_demand) or 0.0
        slot_costs.append(price * (used + progress) * unit / 3600.0)
        overhead += price * used * unit / 3600.0
        pending -= used
        remaining -= progress
        if mode == SPOT:
            spot += progress
        else:
            od += progress
        prev, last_kind = mode, mode
    padded = tuple(modes) + (IDLE,) * (len(slots) - len(modes))
    costs = tuple(slot_costs) + (0.0,) * (len(slots) - len(slot_costs))
    return Plan(True, cost, spot * unit, od * unit, changeovers, switches, padded, costs, overhead)
