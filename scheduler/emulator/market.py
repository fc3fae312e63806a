"""Where spot floors and on-demand prices come from: the `MarketSource` protocol and the default
seeded stochastic model.

Why: the scheduler's whole job is reacting to a moving spot market, so the emulator needs one that
moves, reproducibly. The world asks a source for a `Quote` per (GPU type, cloud type) at every
market step (a fixed interval of clock time); a source is either this model or a replayed trace
(`traces.py`).

The model: per key, the log of (spot floor / on-demand price) follows a discrete mean-reverting
(Ornstein-Uhlenbeck) process around log(spot ratio of the catalogue), plus rare upward jumps that
decay (demand spikes, the usual cause of preemptions). Each key has its own RNG seeded from
(seed, GPU type, cloud type), so a key's path depends only on the seed and the step number, not on
which requests were made in between. On-demand prices stay at list price.

What it must not do: know about pods, hosts or the clock; it maps (key, step) to a quote.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from scheduler.emulator.catalogue import CloudType

MarketKey = tuple[str, CloudType]


@dataclass(frozen=True)
class Quote:
    """One market step for one key.

    `spot` is the minimum bid in $/GPU/h (None: no spot offer); `on_demand` overrides the list
    price when not None; `available=False` means spot capacity is reclaimed (no spot at all).
    """

    spot: float | None
    on_demand: float | None = None
    available: bool = True


class MarketSource(Protocol):
    """Gives quotes per key and step; step 0 starts at `start` (None: when the emulator starts)."""

    @property
    def step_seconds(self) -> float: ...

    @property
    def start(self) -> datetime | None: ...

    def quote(self, key: MarketKey, step: int, list_price: float, spot_ratio: float) -> Quote:
        """The quote for `key` at `step`; steps are asked in non-decreasing order per key."""
        ...


@dataclass
class _Path:
    rng: random.Random
    step: int
    x: float


class StochasticMarket:
    """Seeded mean-reverting spot floors with jumps; deterministic for a given seed."""

    def __init__(
        self,
        seed: int = 0,
        *,
        step_seconds: float = 300.0,
        reversion: float = 0.04,
        volatility: float = 0.035,
        jump_probability: float = 0.004,
        jump_size: float = 0.35,
        start: datetime | None = None,
    ) -> None:
        if step_seconds <= 0:
            raise ValueError("step_seconds must be positive")
        self._seed = seed
        self._step_seconds = step_seconds
        self._start = start
        self._reversion = reversion
        self._volatility = volatility
        self._jump_probability = jump_probability
        self._jump_size = jump_size
        self._paths: dict[MarketKey, _Path] = {}

    @property
    def step_seconds(self) -> float:
        return self._step_seconds

    @property
    def start(self) -> datetime | None:
        return self._start

    def quote(self, key: MarketKey, step: int, list_price: float, spot_ratio: float) -> Quote:
        mean = math.log(spot_ratio)
        path = self._paths.get(key)
        if path is None:
            rng = random.Random(f"{self._seed}/{key[0]}/{key[1]}")
            path = _Path(rng, 0, mean + rng.gauss(0.0, 0.05))
            self._paths[key] = path
        rng = path.rng
        while path.step < step:
            x = path.x + self._reversion * (mean - path.x) + rng.gauss(0.0, self._volatility)
            if rng.random() < self._jump_probability:
                x += self._jump_size * (0.5 + rng.random())
            path.x = min(max(x, math.log(0.25)), math.log(0.98))
            path.step += 1
        return Quote(spot=round(list_price * math.exp(path.x), 3))
