"""The admin API (`/_emulator/...`): JSON over HTTP onto the `Emulator`'s Python methods.

Routes (bodies are JSON objects; errors answer `{"error": "..."}`):

* `GET /_emulator/state` - `Emulator.state()`.
* `GET /_emulator/clock` - `{"now", "virtual"}`: the emulator's time (a daemon's
  `[scheduler] virtual_clock_url` reads it; a sleep there is `POST /_emulator/advance`).
* `GET /_emulator/requests` - the GraphQL request counters alone (cheap to poll).
* `POST /_emulator/market` `{"gpuTypeId", "cloudType", "spotPrice"?, "onDemandPrice"?, "stock"?}` -
  a number pins the price until changed, `null` clears the pin back to the market source, an
  absent key leaves it; `stock` makes that many GPUs free (0 = none). 404 for an unknown key.
* `POST /_emulator/preempt` `{"podId"}` - preempt a running pod now (404 if none).
* `POST /_emulator/spot` `{"enabled": false}` - switch spot off (RunPod after spot removal) or on.
* `POST /_emulator/faults` - a fault rule, `{"faults": [...]}` or `{"clear": true}` (faults.py).
* `POST /_emulator/advance` `{"seconds"}` - move a virtual clock on (409 on a real clock).

Requests carry the emulator's API key when it was started with one (`--api-key`; checked by
`handler.handle` like GraphQL requests, 401 otherwise). Bodies are JSON objects of bounded depth;
any other body is a 400.

What it must not do: hold the world lock itself or be subject to injected faults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scheduler.domain.clock import VirtualClock
from scheduler.emulator.faults import FaultError, FaultRule
from scheduler.emulator.handler import HttpResponse, load_json
from scheduler.emulator.world import KEEP, Keep

if TYPE_CHECKING:
    from scheduler.emulator.emulator import Emulator


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _price(body: dict[str, Any], key: str) -> float | Keep | None:
    if key not in body:
        return KEEP
    value = body[key]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise AdminError(400, f"{key} must be a non-negative number or null")
    return float(value)


def _market(emu: Emulator, body: dict[str, Any]) -> Any:
    stock = body.get("stock")
    if stock is not None and (isinstance(stock, bool) or not isinstance(stock, int) or stock < 0):
        raise AdminError(400, "stock must be a non-negative integer")
    try:
        return emu.set_market(
            str(body.get("gpuTypeId")),
            str(body.get("cloudType", "SECURE")),
            spot_price=_price(body, "spotPrice"),
            on_demand_price=_price(body, "onDemandPrice"),
            stock=stock,
        )
    except KeyError as exc:
        raise AdminError(404, str(exc.args[0])) from exc


def _faults(emu: Emulator, body: dict[str, Any]) -> Any:
    if body.get("clear") is True:
        emu.clear_faults()
        return {"faults": []}
    raw = body.get("faults", [body])
    if not isinstance(raw, list):
        raise AdminError(400, "faults must be a list of rules")
    try:
        rules = [FaultRule.from_json(item) for item in raw]
    except FaultError as exc:
        raise AdminError(400, str(exc)) from exc
    emu.inject_faults(*rules)
    return {"faults": emu.faults.snapshot()}


def _advance(emu: Emulator, body: dict[str, Any]) -> Any:
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise AdminError(400, "seconds must be a non-negative number")
    try:
        now = emu.advance(float(seconds))
    except TypeError as exc:
        raise AdminError(409, str(exc)) from exc
    return {"now": now.isoformat()}


def _preempt(emu: Emulator, body: dict[str, Any]) -> Any:
    try:
        emu.preempt(str(body.get("podId")))
    except KeyError as exc:
        raise AdminError(404, str(exc.args[0])) from exc
    return {"preempted": body.get("podId")}


def _spot(emu: Emulator, body: dict[str, Any]) -> Any:
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise AdminError(400, "enabled must be true or false")
    emu.set_spot_enabled(enabled)
    return {"spotEnabled": enabled}


_POST = {
    "/_emulator/market": _market,
    "/_emulator/preempt": _preempt,
    "/_emulator/spot": _spot,
    "/_emulator/faults": _faults,
    "/_emulator/advance": _advance,
}


def _clock(emu: Emulator) -> Any:
    return {"now": emu.clock.now().isoformat(), "virtual": isinstance(emu.clock, VirtualClock)}


def _requests(emu: Emulator) -> Any:
    return emu.stats.snapshot()


def _state(emu: Emulator) -> Any:
    return emu.state()


_GET: dict[str, Callable[[Emulator], Any]] = {
    "/_emulator/state": _state,
    "/_emulator/clock": _clock,
    "/_emulator/requests": _requests,
}


def handle_admin(emu: Emulator, method: str, path: str, raw: bytes) -> HttpResponse:
    try:
        read = _GET.get(path)
        if read is not None:
            if method != "GET":
                raise AdminError(405, "use GET")
            return HttpResponse.json(200, read(emu))
        action = _POST.get(path)
        if action is None:
            raise AdminError(404, f"no admin route {path}")
        if method != "POST":
            raise AdminError(405, "use POST")
        try:
            body = load_json(raw, b"{}")
        except ValueError as exc:
            raise AdminError(400, "body is not JSON") from exc
        if not isinstance(body, dict):
            raise AdminError(400, "body must be a JSON object")
        return HttpResponse.json(200, action(emu, body))
    except AdminError as exc:
        return HttpResponse.json(exc.status, {"error": str(exc)})
