"""Request checking against the repository's OpenAPI document, with RunPod's 422 messages.

Why: every v2 request schema is closed, and clients learn what they got wrong from `errors[]`
(`$: additional properties 'dataCenterId' not allowed`, `$: missing property 'dataCenter'`,
`value must be one of '…'`). The schemas are declared once, in `openapi-v2.json` (package data);
this module checks bodies and query parameters against them. It implements only the JSON Schema
keywords that document uses (type, properties, required, additionalProperties, enum, minimum,
maximum, minLength, pattern, items, maxItems, minProperties, anyOf, $ref), so the emulator needs
no schema library at run time; the tests validate answers with `jsonschema` independently.

What it must not do: apply business rules (capacity, balance, state) or build responses.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from scheduler.emulator.rest.problems import BAD_JSON, RestError, invalid

Schema = dict[str, Any]
_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
}


@cache
def openapi() -> dict[str, Any]:
    """The OpenAPI document of the subset served (parsed once per process)."""
    text = resources.files("scheduler.emulator").joinpath("openapi-v2.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def component(name: str) -> Schema:
    schema: Schema = openapi()["components"]["schemas"][name]
    return schema


def _resolve(schema: Schema) -> Schema:
    while "$ref" in schema:
        schema = component(schema["$ref"].rsplit("/", 1)[-1])
    return schema


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"  # JSON Schema: 1.0 is an integer
    for name, kind in _TYPES.items():
        if isinstance(value, kind):
            return name
    return "unknown"


def _is(value: Any, type_: str) -> bool:
    actual = _type_name(value)
    return actual == type_ or (type_ == "number" and actual == "integer")


def _quoted(items: Any) -> str:
    return ", ".join(f"'{item}'" for item in items)


def check(value: Any, schema: Schema, path: str = "$") -> list[str]:
    """The failures of `value` against `schema`, one message per failure ([] when valid)."""
    schema = _resolve(schema)
    if "anyOf" in schema:
        options = [check(value, option, path) for option in schema["anyOf"]]
        return [] if any(not o for o in options) else min(options, key=len)
    types = schema.get("type")
    if types is not None:
        wanted = [types] if isinstance(types, str) else types
        if not any(_is(value, t) for t in wanted):
            return [f"{path}: expected {' or '.join(wanted)}, but got {_type_name(value)}"]
    if value is None:
        return []
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: value must be one of {_quoted(schema['enum'])}"]
    if isinstance(value, dict):
        return _check_object(value, schema, path)
    if isinstance(value, list):
        errors = []
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(
                f"{path}: maximum {schema['maxItems']} items allowed, but found {len(value)} items"
            )
        for i, item in enumerate(value):
            errors.extend(check(item, schema.get("items", {}), f"{path}[{i}]"))
        return errors
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return [f"{path}: length must be >= {schema['minLength']}, but got {len(value)}"]
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return [f"{path}: '{value}' does not match pattern '{schema['pattern']}'"]
        return []
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return [f"{path}: must be >= {schema['minimum']} but found {value}"]
        if "maximum" in schema and value > schema["maximum"]:
            return [f"{path}: must be <= {schema['maximum']} but found {value}"]
    return []


def _check_object(value: dict[str, Any], schema: Schema, path: str) -> list[str]:
    errors: list[str] = []
    props: dict[str, Schema] = schema.get("properties", {})
    if len(value) < schema.get("minProperties", 0):
        errors.append(
            f"{path}: minimum {schema['minProperties']} properties required, "
            f"but found {len(value)} properties"
        )
    missing = [name for name in schema.get("required", ()) if name not in value]
    if missing:
        noun = "property" if len(missing) == 1 else "properties"
        errors.append(f"{path}: missing {noun} {_quoted(missing)}")
    extra = schema.get("additionalProperties", True)
    unknown = [name for name in value if name not in props]
    if extra is False and unknown:
        errors.append(f"{path}: additional properties {_quoted(unknown)} not allowed")
    for name, item in value.items():
        if name in props:
            errors.extend(check(item, props[name], f"{path}.{name}"))
        elif isinstance(extra, dict):
            errors.extend(check(item, extra, f"{path}.{name}"))
    return errors


def body(raw: bytes, schema_name: str) -> dict[str, Any]:
    """The JSON body checked against a request schema; RestError 400 (not JSON) or 422."""
    try:
        value = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # nesting deeper than Python
        raise RestError(400, BAD_JSON) from exc
    errors = check(value, component(schema_name))
    if errors:
        raise invalid(*errors)
    result: dict[str, Any] = value
    return result


def _coerce(text: str, schema: Schema) -> Any:
    schema = _resolve(schema)
    kind = schema.get("type")
    if kind == "array":
        return [_coerce(part, schema.get("items", {})) for part in text.split(",") if part]
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    return text


def query(raw: dict[str, list[str]], parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """The declared query parameters, coerced and checked (unknown ones are ignored, as RunPod
    does); RestError 422 naming each bad one."""
    values: dict[str, Any] = {}
    errors: list[str] = []
    for parameter in parameters:
        if parameter.get("in") != "query" or parameter["name"] not in raw:
            continue
        name = parameter["name"]
        value = _coerce(raw[name][-1], parameter["schema"])
        problems = check(value, parameter["schema"], name)
        if problems:
            errors.extend(problems)
        else:
            values[name] = value
    if errors:
        raise invalid(*errors)
    return values
