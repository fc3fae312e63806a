"""The fields of a job one by one: env, GPU types, numbers, durations, text.

Split from `job` to keep each module short; `job` composes these into the pydantic model.
Every error here names what is wrong and, for env, never shows a value (values are often
secrets); a wrong type is named ("got a list"), never echoed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from scheduler.domain.durations import parse_duration
from scheduler.domain.gpu_types import resolve_gpu_type, unknown_gpu_type_message


@dataclass(frozen=True, slots=True)
class GpuChoice:
    """An acceptable GPU type and how fast it runs this job relative to the others (1.0)."""

    gpu_type_id: str
    speed: float = 1.0


ENV_KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
SECRET_REFERENCE = re.compile(r"^\{\{\s*RUNPOD_SECRET_[A-Za-z0-9_.-]+\s*\}\}$")
"""A RunPod secret reference (`{{ RUNPOD_SECRET_hf_token }}`): RunPod puts the secret's value
into the pod's env, so the value never passes through spotsched; it is kept verbatim."""
MASK = "********"
MAX_DURATION = 3650 * 86400.0
"""Ten years: any longer duration is a typo, and would overflow date arithmetic."""


def kind_of(value: Any) -> str:
    """How a value of the wrong type is named in an error (never the value itself)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, datetime):
        return "a date-time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, time):
        return "a time of day"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytes"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def duration_or_none(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(
            f"give a duration such as '90s', '1h30m' or seconds (got {kind_of(value)})"
        )
    seconds = parse_duration(value)
    if not math.isfinite(seconds) or seconds > MAX_DURATION:
        raise ValueError("a duration must be finite and at most 3650 days")
    return seconds


def number(value: Any) -> Any:
    """Numbers (and numeric text) pass on to pydantic; true/false, lists, dates are named."""
    if value is None or isinstance(value, str) or type(value) in (int, float):
        return value
    raise ValueError(f"give a number (got {kind_of(value)})")


def text_field(value: Any, field: str, multiline: bool = False) -> Any:
    if value is None or not isinstance(value, str):
        return value  # pydantic names the wrong type
    bad = [c for c in value if ord(c) < 32 and not (multiline and c in "\t\n\r")]
    if bad or "\x7f" in value:
        raise ValueError(f"{field} holds a control character")
    return value


def parse_gpu_types(value: Any, known_only: bool = False) -> tuple[GpuChoice, ...]:
    """GPU types from a list (strings or {id, speed} tables) or "id[:speed],id[:speed]" text.

    Display names and any capitalisation of a known type resolve to RunPod's id; with
    `known_only` (submissions) an unknown type is refused with the closest known ones."""
    items: list[Any]
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ValueError(
            "give a list of GPU type ids, e.g. ['NVIDIA RTX A5000', 'NVIDIA A40'] "
            f"(got {kind_of(value)})"
        )
    choices: list[GpuChoice] = []
    unknown: list[str] = []
    for item in items:
        gpu_id: Any
        speed: Any
        if isinstance(item, GpuChoice):
            gpu_id, speed = item.gpu_type_id, item.speed
        elif isinstance(item, dict):
            gpu_id, speed = item.get("id"), item.get("speed", 1.0)
        elif isinstance(item, str):
            gpu_id, _, speed_text = item.partition(":")
            try:
                speed = float(speed_text) if speed_text.strip() else 1.0
            except ValueError:
                raise ValueError(f"speed of {gpu_id.strip()} is not a number") from None
        else:
            raise ValueError(f"a GPU type is {kind_of(item)}, not a GPU type id")
        if not isinstance(gpu_id, str) or not gpu_id.strip():
            raise ValueError("every GPU type needs an id")
        gpu_id = gpu_id.strip()
        if len(gpu_id) > 200 or any(ord(c) < 32 for c in gpu_id):
            raise ValueError("a GPU type id is at most 200 printable characters")
        if (
            isinstance(speed, bool)
            or not isinstance(speed, int | float)
            or not math.isfinite(speed)
            or not 0 < speed <= 100
        ):
            raise ValueError(f"speed of {gpu_id} must be a number over 0 and at most 100")
        resolved = resolve_gpu_type(gpu_id)
        if resolved is None and known_only:
            unknown.append(gpu_id)
        choices.append(GpuChoice(resolved or gpu_id, float(speed)))
    if unknown:
        raise ValueError("; ".join(unknown_gpu_type_message(u) for u in unknown))
    if not choices:
        raise ValueError("name at least one GPU type")
    if len({c.gpu_type_id for c in choices}) != len(choices):
        raise ValueError("a GPU type is listed twice")
    return tuple(choices)


def parse_env(value: Any) -> dict[str, str]:
    """A job's env: a mapping, a JSON object (text starting with '{'), or `K=V` text.

    Errors name the variable, never its value (env values are often secrets)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        if not value.lstrip().startswith("{"):
            return parse_env_text(value)
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise ValueError("text starting with '{' is not a JSON object") from None
        if not isinstance(value, dict):
            raise ValueError("text starting with '{' is not a JSON object")
    if not isinstance(value, Mapping):
        raise ValueError(f'give a table of KEY = "value" pairs (got {kind_of(value)})')
    env: dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not ENV_KEY_PATTERN.match(key):
            shown = repr(key) if isinstance(key, str) and len(key) <= 60 else "a key"
            raise ValueError(
                f"{shown} is not a variable name (letters, digits and '_', not starting "
                "with a digit)"
            )
        if key.startswith("SPOTSCHED_") and not key.startswith("SPOTSCHED_SIM_"):
            raise ValueError(f"{key} is reserved for spotsched")
        if isinstance(val, bool):
            text = "true" if val else "false"
        elif isinstance(val, str):
            text = val
        elif type(val) in (int, float):
            text = str(val)
        else:
            raise ValueError(f"the value of {key} must be text (got {kind_of(val)})")
        if "\x00" in text:
            raise ValueError(f"the value of {key} holds a NUL character")
        env[key] = text
    return env


def parse_env_text(text: str) -> dict[str, str]:
    """`K=V` pairs separated by newlines or commas (the old text form of the env column, and
    what a raw SQL row may still hold). A piece that does not start with `NAME=` continues the
    previous value, so `NCCL_IB_HCA=mlx5_0,mlx5_1` keeps its comma; a value holding
    `,NAME=` or a newline needs the JSON form. Errors never show a value."""
    env: dict[str, str] = {}
    last: str | None = None
    item = 0
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        for index, piece in enumerate(line.split(",")):
            item += 1
            key, sep, val = piece.partition("=")
            if sep and ENV_KEY_PATTERN.match(key.strip()):
                last = key.strip()
                env[last] = val
            elif last is not None:
                env[last] += ("," if index else "\n") + piece
            elif piece.strip():
                raise ValueError(f"item {item} is not KEY=VALUE")
    return parse_env(env) if env else {}


def masked_env(env: Mapping[str, str]) -> dict[str, str]:
    """The env as people may see it: names, and values hidden unless they are RunPod secret
    references (which hold no secret)."""
    return {k: v if SECRET_REFERENCE.match(v) else MASK for k, v in env.items()}
