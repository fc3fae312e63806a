"""A faithful local RunPod GraphQL API: pods, a moving spot market, billing, simulated containers,
faults, served in-process (httpx transport) or over HTTP. See DESIGN.md, "The RunPod emulator".

Spot switched off (`Emulator.set_spot_enabled(False)`, `POST /_emulator/spot {"enabled": false}`):
`minimumBidPrice`, `secureSpotPrice` and `communitySpotPrice` are null and `podRentInterruptable` /
`podBidResume` answer HTTP 200 with the GraphQL error
`Spot pods are no longer supported. Use on-demand pods instead.` and `extensions.code`
`UNSUPPORTED`. Spot pods still running are interrupted at that moment, exactly like a preemption
(EXITED, `runtime` null, volume kept; a later `podResume` answers `Cannot resume a spot pod as an
on demand pod.`). RunPod "dropped its spot pods" on 2026-09-11 (reference, gpuhunt `310de51`);
what a dropped pod looked like is not documented, so the emulator uses the documented interruption.

Nothing in production imports this package (import-linter contract); it imports only
`scheduler.domain.clock` from the project.
"""

from scheduler.emulator.emulator import Emulator
from scheduler.emulator.errors import SPOT_UNSUPPORTED
from scheduler.emulator.faults import FaultRule
from scheduler.emulator.market import MarketSource, Quote, StochasticMarket
from scheduler.emulator.traces import (
    MarketFileError,
    TraceMarket,
    TraceSeries,
    load_market_file,
    market_from_json,
)
from scheduler.emulator.world import KEEP

__all__ = [
    "KEEP",
    "SPOT_UNSUPPORTED",
    "Emulator",
    "FaultRule",
    "MarketFileError",
    "MarketSource",
    "Quote",
    "StochasticMarket",
    "TraceMarket",
    "TraceSeries",
    "load_market_file",
    "market_from_json",
]
