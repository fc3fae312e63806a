"""JSON numbers as RunPod prints them: an integral float is written without `.0`.

Why: RunPod's servers are JavaScript (GraphQL) and Go (REST v2), which write the number 6 as `6`
whatever its type; Python writes `6.0` for a float. The GraphQL reference shows `"vcpuCount":6,
"memoryInGb":62` for `Float` fields, and the REST v2 billing example `"cpuAmount":0`; a client
that parses `6.0` differently (a strict integer field, a golden file) must see what production
sends.

What it must not do: change any value (6.0 and 6 are the same JSON number) or any other type.
"""

from __future__ import annotations

from typing import Any


def js_numbers(value: Any) -> Any:
    """`value` with every integral float (recursively) replaced by the equal int."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, dict):
        return {k: js_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [js_numbers(v) for v in value]
    return value
