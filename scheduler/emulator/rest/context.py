"""What an endpoint function gets (`Ctx`) and how it answers (`reply`).

Why: endpoint modules stay small and alike: they read the checked query, the checked body and the
path id from the context, change the world (locked and synced by the caller) and return JSON.

What it must not do: authenticate, count, rate-limit or inject faults (app.py does).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scheduler.emulator.handler import HttpRequest, HttpResponse
from scheduler.emulator.jsonvalues import js_numbers
from scheduler.emulator.rest import validate
from scheduler.emulator.rest.state import RestState
from scheduler.emulator.world import World

if TYPE_CHECKING:
    from scheduler.emulator.emulator import Emulator


@dataclass(frozen=True)
class Ctx:
    emu: Emulator
    request: HttpRequest
    path_id: str | None
    query: dict[str, Any]
    body_schema: str | None

    @property
    def world(self) -> World:
        return self.emu.world

    @property
    def rest(self) -> RestState:
        return self.emu.rest

    def body(self) -> dict[str, Any]:
        """The request body checked against the operation's schema (400/422 otherwise)."""
        assert self.body_schema is not None
        return validate.body(self.request.body, self.body_schema)

    @property
    def id(self) -> str:
        assert self.path_id is not None
        return self.path_id


Endpoint = Callable[[Ctx], HttpResponse]


def reply(payload: Any, status: int = 200) -> HttpResponse:
    """A JSON answer; integral floats are written as ints, as RunPod's Go server does."""
    return HttpResponse(
        status, json.dumps(js_numbers(payload)).encode(), {"content-type": "application/json"}
    )


def no_content() -> HttpResponse:
    return HttpResponse(204)


def iso(value: Any) -> str:
    """RFC 3339 with `Z`, as RunPod writes times."""
    text: str = value.isoformat().replace("+00:00", "Z")
    return text
