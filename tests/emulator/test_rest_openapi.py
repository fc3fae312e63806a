"""The OpenAPI document of the REST v2 subset: well-formed, in step with the emulator's routes,
enforced on requests exactly as a real JSON Schema validator would, and every operation's answers
validated against it."""

from __future__ import annotations

import re

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.emulator.rest.app import ENDPOINTS
from scheduler.emulator.rest.validate import check, component

from .openapi_check import document, validator

REQUEST_SCHEMAS = [
    *sorted(name for name in document()["components"]["schemas"] if name.endswith("Request")),
    "SshKeys",
]


def operations():
    for path, item in document()["paths"].items():
        for method, spec in item.items():
            if method != "parameters":
                yield path, method, spec


def test_document_is_well_formed_and_matches_the_routes():
    assert document()["openapi"] == "3.1.0"
    for schema in document()["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    ids = [spec["operationId"] for _p, _m, spec in operations()]
    assert sorted(ids) == sorted(ENDPOINTS)
    for path, method, spec in operations():
        responses = spec["responses"]
        assert {"401", "429"} <= set(responses), (path, method)
        if "requestBody" in spec:
            assert "422" in responses, (path, method)
        assert path.startswith("/v2/")


def test_the_document_is_served_without_auth(emu):
    from .conftest import rest_client

    with rest_client(emu, key="") as anonymous:
        response = anonymous.get("/v2/openapi.json")
    assert response.status_code == 200
    assert response.json() == document()


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5000),
    st.floats(-10, 10, allow_nan=False),
    st.sampled_from(["", "x", "22/tcp", "12.8", "SECURE", "EU-RO-1", "NVIDIA A40", "start"]),
)


def noise():
    return st.recursive(
        json_leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(["id", "count", "path", "volumeId", "K"]), inner),
        ),
        max_leaves=6,
    )


def instances(schema, loose=False):
    """Values valid against `schema` (the subset of JSON Schema the document uses); `loose`
    stretches every bound a little (one past min/max, length and item counts, enums and
    patterns, an extra member), so about half of the loose values break one rule, deep down."""
    while "$ref" in schema:
        schema = component(schema["$ref"].rsplit("/", 1)[-1])
    if "anyOf" in schema:
        return st.one_of(*(instances(option, loose) for option in schema["anyOf"]))
    if "enum" in schema:
        return st.sampled_from([*schema["enum"], *(["bogus"] if loose else [])])
    kinds = schema.get("type", "object")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    return st.one_of(*(_instances_of(kind, schema, loose) for kind in kinds))


def _instances_of(kind, schema, loose):
    slack = 1 if loose else 0
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind in ("integer", "number"):
        low, high = schema.get("minimum", -3) - slack, schema.get("maximum", 5000) + slack
        return st.integers(low, high)
    if kind == "string":
        text = st.text("abc/-.", min_size=max(0, schema.get("minLength", 0) - slack), max_size=6)
        if "pattern" in schema:
            pattern = st.from_regex(schema["pattern"], fullmatch=True)
            return st.one_of(pattern, text) if loose else pattern
        return text
    if kind == "array":
        items = instances(schema.get("items", {}), loose)
        return st.lists(items, max_size=schema.get("maxItems", 3) + slack)
    props = schema.get("properties", {})
    required = schema.get("required", [])
    if not props and isinstance(schema.get("additionalProperties"), dict):
        values = instances(schema["additionalProperties"], loose)
        return st.dictionaries(st.text("AB", max_size=3), values)
    optional = {n: instances(p, loose) for n, p in props.items() if n not in required}
    must = {name: instances(props[name], loose) for name in required}
    if loose:
        optional |= must | {"bogus": json_leaf}
        must = {}
    return st.fixed_dictionaries(must, optional=optional).filter(
        lambda value: loose or len(value) >= schema.get("minProperties", 0)
    )


def _resolve(schema):
    while "$ref" in schema:
        schema = component(schema["$ref"].rsplit("/", 1)[-1])
    return schema


def mutations(value, schema):
    """Every single-rule break of `value` (valid against `schema`), each as a new value."""
    schema = _resolve(schema)
    out = [[1, 2] if not isinstance(value, list) else "wrong-type"]
    if "enum" in schema:
        out.append("bogus")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out.append({**value, "bogus": 1})
        out += [{k: v for k, v in value.items() if k != name} for name in value]
        for name, item in value.items():
            inner = props.get(name) or schema.get("additionalProperties")
            if isinstance(inner, dict):
                out += [{**value, name: broken} for broken in mutations(item, inner)]
    elif isinstance(value, list):
        if value and "maxItems" in schema:
            out.append(value + value[:1] * schema["maxItems"])
        for i, item in enumerate(value):
            broken = mutations(item, schema.get("items", {}))
            out += [[*value[:i], b, *value[i + 1 :]] for b in broken]
    elif isinstance(value, str):
        out += ["" if schema.get("minLength") else None, "no match!" if "pattern" in schema else 5]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out += [schema.get("minimum", 0) - 1, schema.get("maximum", 10**6) + 1, 1.5]
    return out


def bodies(schema_name: str):
    """Valid bodies, bodies that break a rule somewhere, and noise."""
    schema = component(schema_name)
    keys = [*schema.get("properties", {}), "bogus"]
    return st.one_of(
        instances(schema),
        instances(schema, loose=True),
        st.dictionaries(st.sampled_from(keys), noise(), max_size=5),
    )


@pytest.mark.parametrize("schema_name", REQUEST_SCHEMAS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_request_checks_agree_with_jsonschema(schema_name, data):
    """The emulator's own small validator rejects exactly what a full JSON Schema validator
    rejects, so every closed schema in the document is enforced (422) as written."""
    schema = component(schema_name)
    kind = data.draw(st.sampled_from(["valid", "one rule broken", "other"]))
    if kind == "other":
        body = data.draw(bodies(schema_name))
    else:
        body = data.draw(instances(schema))
        if kind == "one rule broken":
            body = data.draw(st.sampled_from(mutations(body, schema)))
    ours = check(body, component(schema_name))
    theirs = list(validator(f"#/components/schemas/{schema_name}").iter_errors(body))
    assert (ours == []) == (theirs == []), (body, ours, [e.message for e in theirs])


def test_every_operation_answers_as_documented(rest, emu):
    """A tour over every operation; the client's hook validates each answer (openapi_check)."""
    rest.put("/v2/account/ssh-keys", json={"keys": ["ssh-ed25519 AAAA me@x"]})
    rest.get("/v2/account/ssh-keys")
    rest.get("/v2/catalog/gpus", params={"include": "AVAILABILITY", "product": "POD"})
    rest.get("/v2/catalog/gpus/NVIDIA A40")
    rest.get("/v2/catalog/datacenters", params={"include": "GPU_AVAILABILITY"})
    rest.get("/v2/catalog/datacenters/EU-RO-1")
    volume = rest.post(
        "/v2/network-volumes", json={"name": "v", "size": 10, "dataCenter": "EU-RO-1"}
    ).json()
    rest.get("/v2/network-volumes")
    rest.get(f"/v2/network-volumes/{volume['id']}")
    rest.patch(f"/v2/network-volumes/{volume['id']}", json={"size": 20})
    template = rest.post("/v2/templates", json={"name": "t", "image": "img"}).json()
    rest.get("/v2/templates")
    rest.get(f"/v2/templates/{template['id']}")
    rest.patch(f"/v2/templates/{template['id']}", json={"name": "t2"})
    mounts = {"network": [{"volumeId": volume["id"], "path": "/workspace"}]}
    pod = rest.post(
        "/v2/pods",
        json={
            "name": "p",
            "templateId": template["id"],
            "gpu": {"id": "NVIDIA A40"},
            "mounts": mounts,
        },
    ).json()
    rest.get("/v2/pods")
    emu.advance(60)
    rest.get(f"/v2/pods/{pod['id']}")
    rest.patch(f"/v2/pods/{pod['id']}", json={"locked": False, "registry": None})
    rest.post(f"/v2/pods/{pod['id']}/action", json={"action": "stop"})
    rest.post(f"/v2/pods/{pod['id']}/action", json={"action": "start"})
    emu.advance(3600)
    rest.get("/v2/billing")
    rest.get("/v2/billing/pods", params={"podId": pod["id"]})
    rest.get("/v2/billing/network-volumes")
    registry = rest.post("/v2/registries", json={"name": "r", "username": "u", "password": "p"})
    rest.get("/v2/registries")
    rest.get(f"/v2/registries/{registry.json()['id']}")
    rest.delete(f"/v2/registries/{registry.json()['id']}")
    rest.delete(f"/v2/pods/{pod['id']}")
    rest.delete(f"/v2/templates/{template['id']}")
    rest.delete(f"/v2/network-volumes/{volume['id']}")
    seen = {operation for operation, status in rest.checked.seen if status < 300}
    assert seen == set(ENDPOINTS)


def full(schema):
    """One value with every optional member present and every list non-empty."""
    schema = _resolve(schema)
    if "anyOf" in schema:
        return full(next(o for o in schema["anyOf"] if _resolve(o).get("type") != "null"))
    if "enum" in schema:
        return schema["enum"][0]
    kinds = schema.get("type", "object")
    kind = next(k for k in ([kinds] if isinstance(kinds, str) else kinds) if k != "null")
    if kind == "object":
        props = schema.get("properties", {})
        if not props and isinstance(schema.get("additionalProperties"), dict):
            return {"K": full(schema["additionalProperties"])}
        return {name: full(item) for name, item in props.items()}
    if kind == "array":
        return [full(schema.get("items", {}))]
    if kind == "string":
        pattern = schema.get("pattern")
        return next(
            c for c in ("22/tcp", "12.8", "abc") if pattern is None or re.search(pattern, c)
        )
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    return True


@pytest.mark.parametrize("schema_name", REQUEST_SCHEMAS)
def test_every_single_rule_break_is_judged_like_jsonschema(schema_name):
    """Exhaustive: each one-rule break of a body using every member, deep down included."""
    schema = component(schema_name)
    base = full(schema)
    if "Create" in schema_name and "mounts" in base:
        base["mounts"].pop("persistent", None)  # one mount kind at a time (a 400 rule)
    judge = validator(f"#/components/schemas/{schema_name}")
    assert check(base, schema) == [] and judge.is_valid(base), base
    for body in mutations(base, schema):
        assert (check(body, schema) == []) == judge.is_valid(body), body
