"""Replaying recorded markets: price and spot availability traces, and the market file loader.

Why: backtests and reproducible demos need the market of a given past period, not a random one.

Market file format (JSON; `--market FILE`, `load_market_file`)::

    {
      "gap_seconds": 600,                      # seconds per step (required, > 0)
      "start": "2026-01-05T00:00:00Z",         # optional: time of step 0 (default: emulator start)
      "series": [
        {
          "gpuTypeId": "NVIDIA A40",
          "cloudType": "SECURE",               # or "COMMUNITY"
          "spot": [0.21, 0.22, null, 0.25],    # per-step minimum bid $/GPU/h; null = no spot then;
                                               #   a number = constant; "spot": null = never spot;
                                               #   key absent = list price x catalogue spot ratio
          "onDemand": 0.44,                    # number or per-step list; absent = list price
          "availability": [0, 0, 1, 0]         # optional, 0 = spot AVAILABLE, non-zero = not;
                                               #   or a whole spot-trace object (below)
        }
      ]
    }

A bare availability trace exactly as in `shared/data/spot-traces/*.json`,
`{"metadata": {"gap_seconds": 600}, "data": [0, 1, ...]}`, is accepted too; it then needs the GPU
type (and optionally cloud type, constant spot and on-demand prices) as parameters.

Semantics: step i covers [start + i*gap, start + (i+1)*gap). When a list runs out its last value
holds; before `start` the first value holds. Unavailable means no spot capacity: minimumBidPrice
null, spot creates fail with the capacity error and running spot pods of that key are preempted.
Keys not named in the file follow the seeded stochastic model, stepped at the file's gap.

What it must not do: read files anywhere but `load_market_file`, or know about pods.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from scheduler.emulator.catalogue import CLOUD_TYPES, CloudType
from scheduler.emulator.market import MarketKey, Quote, StochasticMarket


class MarketFileError(ValueError):
    """The market file is not in the documented format."""


@dataclass(frozen=True)
class TraceSeries:
    """One key's recorded market; `spot=None` means list price x catalogue spot ratio."""

    gpu_type_id: str
    cloud: CloudType
    spot: tuple[float | None, ...] | None = None
    on_demand: tuple[float, ...] | None = None
    availability: tuple[bool, ...] | None = None


def _at(values: Sequence[Any], step: int) -> Any:
    return values[min(max(step, 0), len(values) - 1)]


class TraceMarket:
    """A `MarketSource` that replays `TraceSeries`; other keys follow the stochastic model."""

    def __init__(
        self,
        series: Sequence[TraceSeries],
        *,
        gap_seconds: float,
        start: datetime | None = None,
        seed: int = 0,
    ) -> None:
        if gap_seconds <= 0:
            raise MarketFileError("gap_seconds must be positive")
        if start is not None and start.tzinfo is None:
            raise MarketFileError("start must carry a timezone")
        self._series: dict[MarketKey, TraceSeries] = {}
        for item in series:
            self._series[(item.gpu_type_id, item.cloud)] = item
        self._gap = float(gap_seconds)
        self._start = start
        self._fallback = StochasticMarket(seed, step_seconds=self._gap, start=start)

    @property
    def step_seconds(self) -> float:
        return self._gap

    @property
    def start(self) -> datetime | None:
        return self._start

    @property
    def keys(self) -> tuple[MarketKey, ...]:
        return tuple(self._series)

    def quote(self, key: MarketKey, step: int, list_price: float, spot_ratio: float) -> Quote:
        series = self._series.get(key)
        if series is None:
            return self._fallback.quote(key, step, list_price, spot_ratio)
        on_demand = _at(series.on_demand, step) if series.on_demand else None
        if series.spot is None:
            spot: float | None = round((on_demand or list_price) * spot_ratio, 3)
        else:
            spot = _at(series.spot, step)
        available = _at(series.availability, step) if series.availability else True
        return Quote(spot=spot, on_demand=on_demand, available=available)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise MarketFileError(f"{what} must be a non-negative number, got {value!r}")
    return float(value)


def _availability(value: Any, what: str) -> tuple[bool, ...]:
    data = value.get("data") if isinstance(value, Mapping) else value
    if not isinstance(data, list) or not data:
        raise MarketFileError(f"{what} must be a non-empty list of 0/1 values")
    out: list[bool] = []
    for item in data:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise MarketFileError(f"{what} holds a non-number: {item!r}")
        out.append(item == 0)
    return tuple(out)


def _cloud(value: Any) -> CloudType:
    for cloud in CLOUD_TYPES:
        if value == cloud:
            return cloud
    raise MarketFileError(f"cloudType must be SECURE or COMMUNITY, got {value!r}")


def _series(raw: Any, index: int) -> TraceSeries:
    where = f"series[{index}]"
    if not isinstance(raw, Mapping) or not isinstance(raw.get("gpuTypeId"), str):
        raise MarketFileError(f"{where} needs a string gpuTypeId")
    spot: tuple[float | None, ...] | None = None
    if "spot" in raw:
        value = raw["spot"]
        if value is None:
            spot = (None,)
        elif isinstance(value, list) and value:
            spot = tuple(None if v is None else _number(v, f"{where}.spot") for v in value)
        else:
            spot = (_number(value, f"{where}.spot"),)
    on_demand: tuple[float, ...] | None = None
    value = raw.get("onDemand")
    if isinstance(value, list) and value:
        on_demand = tuple(_number(v, f"{where}.onDemand") for v in value)
    elif value is not None:
        on_demand = (_number(value, f"{where}.onDemand"),)
    availability = None
    if raw.get("availability") is not None:
        availability = _availability(raw["availability"], f"{where}.availability")
    return TraceSeries(
        gpu_type_id=raw["gpuTypeId"],
        cloud=_cloud(raw.get("cloudType", "SECURE")),
        spot=spot,
        on_demand=on_demand,
        availability=availability,
    )


def _start(raw: Any) -> datetime | None:
    if raw is None:
        return None
    try:
        start = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError as exc:
        raise MarketFileError(f"start is not an ISO-8601 time: {raw!r}") from exc
    if start.tzinfo is None:
        raise MarketFileError("start must carry a timezone, e.g. 2026-01-05T00:00:00Z")
    return start


def market_from_json(
    doc: Any,
    *,
    seed: int = 0,
    gpu_type_id: str | None = None,
    cloud_type: str = "SECURE",
    spot_price: float | None = None,
    on_demand_price: float | None = None,
    start: datetime | None = None,
) -> TraceMarket:
    """Build a `TraceMarket` from a parsed market file or a bare availability trace.

    The keyword parameters only apply to a bare trace (`{"metadata": ..., "data": [...]}`):
    it is mapped to `gpu_type_id`/`cloud_type` with a constant `spot_price` (default: list price
    x catalogue spot ratio) and `on_demand_price` (default: list price).
    """
    if not isinstance(doc, Mapping):
        raise MarketFileError("a market file is a JSON object")
    if "series" not in doc:
        metadata = doc.get("metadata")
        if not isinstance(metadata, Mapping) or "data" not in doc:
            raise MarketFileError("expected a market file with 'series' or a trace with 'data'")
        if gpu_type_id is None:
            raise MarketFileError("a bare availability trace needs a GPU type id to map it to")
        series = TraceSeries(
            gpu_type_id=gpu_type_id,
            cloud=_cloud(cloud_type),
            spot=None if spot_price is None else (_number(spot_price, "spot price"),),
            on_demand=None
            if on_demand_price is None
            else (_number(on_demand_price, "on-demand price"),),
            availability=_availability(doc, "data"),
        )
        gap = _number(metadata.get("gap_seconds"), "metadata.gap_seconds")
        return TraceMarket([series], gap_seconds=gap, start=start, seed=seed)
    raw_series = doc["series"]
    if not isinstance(raw_series, list):
        raise MarketFileError("series must be a list")
    items = [_series(raw, i) for i, raw in enumerate(raw_series)]
    gap = _number(doc.get("gap_seconds"), "gap_seconds")
    return TraceMarket(items, gap_seconds=gap, start=start or _start(doc.get("start")), seed=seed)


def load_market_file(
    path: str | Path,
    *,
    seed: int = 0,
    gpu_type_id: str | None = None,
    cloud_type: str = "SECURE",
    spot_price: float | None = None,
    on_demand_price: float | None = None,
    start: datetime | None = None,
) -> TraceMarket:
    """Read a market file (see the module docstring) or a bare spot availability trace."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise MarketFileError(f"cannot read market file {path}: {exc}") from exc
    return market_from_json(
        doc,
        seed=seed,
        gpu_type_id=gpu_type_id,
        cloud_type=cloud_type,
        spot_price=spot_price,
        on_demand_price=on_demand_price,
        start=start,
    )
