"""The three markets a backtest can replay, as one plain value: `Market`.

Why: the emulator replays a market file, the hindsight optimum needs the same prices as numbers,
and the plot draws them; one frozen value per market keeps the three in agreement.

Sources:
- `synthetic_market`: a seeded scenario with documented parameters (`Scenario`);
- `recorded_market`: the daemon's own `price_samples` table, read from a database URL;
- `trace_market`: an availability trace (`shared/data/spot-traces/*.json`: 0 = spot available)
  with given spot and on-demand prices.

What it must not do: run anything; it only builds and converts prices.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scheduler.backtest.optimum import Slot


class MarketError(ValueError):
    """The market cannot be built from what was given."""


@dataclass(frozen=True, slots=True)
class Series:
    """One GPU type in one cloud: prices per GPU-hour per step; `spot` None = no spot then."""

    gpu_type_id: str
    secure: bool
    spot: tuple[float | None, ...]
    on_demand: tuple[float, ...]

    @property
    def cloud(self) -> str:
        return "SECURE" if self.secure else "COMMUNITY"


@dataclass(frozen=True, slots=True)
class Market:
    """Prices on a regular grid: step i covers [start + i*gap, start + (i+1)*gap)."""

    name: str
    start: datetime
    gap_seconds: float
    series: tuple[Series, ...]
    capacity: int | None = None
    """Free GPUs per GPU type in the emulator (None: the emulator's default hosts)."""

    @property
    def steps(self) -> int:
        return max(len(s.spot) for s in self.series)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.steps * self.gap_seconds)

    def at(self, step: int) -> datetime:
        return self.start + timedelta(seconds=step * self.gap_seconds)

    def step_of(self, when: datetime) -> int:
        return math.floor((when - self.start).total_seconds() / self.gap_seconds)

    def window(self, start: datetime, end: datetime) -> Market:
        """The steps that cover [start, end), so a run ships only the part it replays."""
        first = max(0, self.step_of(start))
        last = max(first + 1, self.step_of(end) + 1)
        return Market(
            self.name,
            self.at(first),
            self.gap_seconds,
            tuple(
                Series(
                    s.gpu_type_id,
                    s.secure,
                    tuple(_value(s.spot, i) for i in range(first, last)),
                    tuple(_value(s.on_demand, i) for i in range(first, last)),
                )
                for s in self.series
            ),
            self.capacity,
        )

    def find(self, gpu_type_id: str, secure: bool = True) -> Series | None:
        for s in self.series:
            if s.gpu_type_id == gpu_type_id and s.secure == secure:
                return s
        return None

    def gpu_types(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.gpu_type_id for s in self.series))

    def market_file(self) -> dict[str, Any]:
        """The emulator's market file (`scheduler.emulator.traces`) for this market."""
        return {
            "gap_seconds": self.gap_seconds,
            "start": self.start.isoformat(),
            "series": [
                {
                    "gpuTypeId": s.gpu_type_id,
                    "cloudType": s.cloud,
                    "spot": list(s.spot),
                    "onDemand": list(s.on_demand),
                }
                for s in self.series
            ],
        }

    def slots(
        self, series: Sequence[Series], start: datetime, end: datetime, gpu_count: int = 1
    ) -> list[Slot]:
        """[start, end) cut at the market's steps; per slot the cheapest of `series` (whole
        pod prices, i.e. per-GPU price x `gpu_count`). Steps past the data repeat the last."""
        out: list[Slot] = []
        t = start
        while t < end:
            i = self.step_of(t)
            nxt = min(end, self.at(i + 1))
            spots = [p for s in series if (p := _value(s.spot, i)) is not None]
            ods = [_value(s.on_demand, i) for s in series]
            out.append(
                Slot(
                    seconds=(nxt - t).total_seconds(),
                    spot=min(spots) * gpu_count if spots else None,
                    on_demand=min(ods) * gpu_count,
                )
            )
            t = nxt
        return out


def _value(values: Sequence[Any], step: int) -> Any:
    return values[min(max(step, 0), len(values) - 1)]


# ----------------------------------------------------------------------------- availability trace
def read_trace(path: str | Path) -> tuple[float, tuple[bool, ...]]:
    """(gap seconds, available per step) of a spot-traces file; 0 in the file = available."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        gap = float(doc["metadata"]["gap_seconds"])
        data = doc["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MarketError(f"{path}: not a spot availability trace ({exc})") from exc
    if gap <= 0 or not isinstance(data, list) or not data:
        raise MarketError(f"{path}: needs a positive gap_seconds and a non-empty data list")
    return gap, tuple(v == 0 for v in data)


def trace_market(
    path: str | Path,
    *,
    gpu_type_id: str,
    spot_price: float,
    on_demand_price: float,
    start: datetime = datetime(2022, 10, 26, tzinfo=UTC),
    secure: bool = True,
) -> Market:
    """An availability trace with a constant spot price while available and a constant
    on-demand price (the paper's setup: $0.9731 and $3.06 per hour)."""
    gap, available = read_trace(path)
    series = Series(
        gpu_type_id,
        secure,
        tuple(spot_price if a else None for a in available),
        (on_demand_price,) * len(available),
    )
    return Market(Path(path).stem, start, gap, (series,))


# ----------------------------------------------------------------------------- synthetic
@dataclass(frozen=True, slots=True)
class Scenario:
    """A seeded synthetic market (documented in docs/backtest.md).

    Spot availability is a two-state Markov chain whose runs last `mean_up_hours` (available)
    and `mean_down_hours` (reclaimed) on average; while available, the spot floor is
    `on_demand x spot_ratio` moved by a mean-reverting random walk of the log price with
    per-step `volatility`; `capacity` is the number of free GPUs of the type.
    """

    gpu_type_id: str = "NVIDIA A40"
    on_demand: float = 3.06
    spot_ratio: float = 0.318
    volatility: float = 0.02
    reversion: float = 0.1
    mean_up_hours: float = 3.0
    mean_down_hours: float = 1.5
    hours: float = 14 * 24.0
    gap_seconds: float = 600.0
    capacity: int = 8
    seed: int = 0
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)


def synthetic_market(scenario: Scenario, gpu_type_ids: Iterable[str] = ()) -> Market:
    """One independent path per GPU type (the scenario's type plus `gpu_type_ids`)."""
    steps = max(1, round(scenario.hours * 3600 / scenario.gap_seconds))
    per_step = scenario.gap_seconds / 3600
    series = []
    for gpu in dict.fromkeys((scenario.gpu_type_id, *gpu_type_ids)):
        rng = random.Random(f"{scenario.seed}/{gpu}")
        p_leave_up = min(1.0, per_step / max(scenario.mean_up_hours, 1e-9))
        p_leave_down = min(1.0, per_step / max(scenario.mean_down_hours, 1e-9))
        up = rng.random() < scenario.mean_up_hours / (
            scenario.mean_up_hours + scenario.mean_down_hours
        )
        mean = math.log(scenario.spot_ratio)
        x = mean
        spot: list[float | None] = []
        for _ in range(steps):
            x += scenario.reversion * (mean - x) + rng.gauss(0.0, scenario.volatility)
            x = min(x, math.log(0.98))
            spot.append(round(scenario.on_demand * math.exp(x), 4) if up else None)
            if rng.random() < (p_leave_up if up else p_leave_down):
                up = not up
        series.append(Series(gpu, True, tuple(spot), (scenario.on_demand,) * steps))
    return Market(
        f"synthetic-{scenario.seed}",
        scenario.start,
        scenario.gap_seconds,
        tuple(series),
        capacity=scenario.capacity,
    )


# ----------------------------------------------------------------------------- recorded
@dataclass(frozen=True, slots=True)
class Sample:
    """One row of the daemon's `price_samples` table, as plain values."""

    at: datetime
    gpu_type_id: str
    secure: bool
    spot_min_bid: float | None
    on_demand: float | None
    stock: str | None


def market_from_samples(
    samples: Sequence[Sample],
    *,
    gpu_type_ids: Iterable[str] = (),
    gap_seconds: float | None = None,
    name: str = "recorded",
) -> Market:
    """Resample recorded samples onto a regular grid (each step takes the latest sample at or
    before it). Spot counts as offered only with a minimum bid and listed stock, as the policy
    reads it. `gap_seconds` defaults to the median interval between sample times."""
    wanted = set(gpu_type_ids)
    rows = sorted((s for s in samples if not wanted or s.gpu_type_id in wanted), key=lambda s: s.at)
    if not rows:
        raise MarketError("no price samples for the jobs' GPU types in that period")
    times = sorted({s.at for s in rows})
    if gap_seconds is None:
        diffs = sorted((b - a).total_seconds() for a, b in itertools.pairwise(times))
        gap_seconds = diffs[len(diffs) // 2] if diffs else 300.0
    start = times[0]
    steps = max(1, math.floor((times[-1] - start).total_seconds() / gap_seconds) + 1)
    keys = list(dict.fromkeys((s.gpu_type_id, s.secure) for s in rows))
    series = []
    for gpu, secure in keys:
        mine = [s for s in rows if (s.gpu_type_id, s.secure) == (gpu, secure)]
        spot: list[float | None] = []
        od: list[float] = []
        j = 0
        last: Sample | None = None
        for i in range(steps):
            t = start + timedelta(seconds=i * gap_seconds)
            while j < len(mine) and mine[j].at <= t:
                last = mine[j]
                j += 1
            cur = last or mine[0]
            offered = cur.spot_min_bid is not None and cur.spot_min_bid > 0 and cur.stock
            spot.append(cur.spot_min_bid if offered else None)
            od.append(cur.on_demand if cur.on_demand else (od[-1] if od else 0.0))
        if not any(od):
            continue  # no on-demand price ever recorded: not a market a job can fall back on
        series.append(Series(gpu, secure, tuple(spot), tuple(od)))
    if not series:
        raise MarketError("the recorded samples carry no on-demand prices")
    return Market(name, start, gap_seconds, tuple(series))


def recorded_market(
    url: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    gpu_type_ids: Iterable[str] = (),
    gap_seconds: float | None = None,
) -> Market:
    """The market the daemon recorded in `price_samples` of the database at `url`."""
    from scheduler.store import Store, open_engine
    from scheduler.store.prices import load_prices

    engine = open_engine(url)
    try:
        with Store(engine).session() as session:
            samples = [
                Sample(r.at, r.gpu_type_id, r.secure_cloud, r.spot_min_bid, r.on_demand, r.stock)
                for r in load_prices(session, since)
                if r.at is not None and r.gpu_count == 1 and (until is None or r.at < until)
            ]
    finally:
        engine.dispose()
    return market_from_samples(
        samples, gpu_type_ids=gpu_type_ids, gap_seconds=gap_seconds, name="recorded"
    )
