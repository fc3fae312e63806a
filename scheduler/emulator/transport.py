"""In-process serving: an httpx transport that calls the emulator's handler directly.

Why: tests and the simulator talk to the emulator through the same `httpx.Client` the production
client uses, without sockets, threads or a WSGI layer in between.

What it must not do: behave differently from the HTTP server; it only converts types. A fault
that times out raises `httpx.ReadTimeout` at once (no wall-clock wait). The request's read
timeout is passed on, so a `delay` fault longer than it times the client out after that long on
the emulator's clock, as a real socket would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from scheduler.emulator.handler import HttpRequest

if TYPE_CHECKING:
    from scheduler.emulator.emulator import Emulator


class EmulatorTransport(httpx.BaseTransport):
    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._emulator.handle(
            HttpRequest(
                method=request.method,
                path=request.url.path,
                query=request.url.query.decode("ascii", "replace"),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=request.read(),
                timeout=request.extensions.get("timeout", {}).get("read"),
            )
        )
        if response.timeout is not None:
            raise httpx.ReadTimeout("emulator: injected timeout", request=request)
        return httpx.Response(
            response.status, headers=response.headers, content=response.body, request=request
        )
