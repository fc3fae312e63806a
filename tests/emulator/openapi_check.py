"""Checks every REST v2 answer of the emulator against `openapi-v2.json` with `jsonschema`.

Used as an httpx response hook by the REST test clients: the status must be documented for the
operation, the body must match the documented schema and media type (problem+json for errors,
none for 204), `x-request-id` is always present and the rate-limit headers are on every
authenticated answer.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

import httpx
import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

URN = "urn:spotsched:openapi-v2"


@cache
def document() -> dict[str, Any]:
    text = resources.files("scheduler.emulator").joinpath("openapi-v2.json").read_text("utf-8")
    return json.loads(text)


@cache
def registry() -> Registry:
    return Registry().with_resource(
        URN, Resource.from_contents(document(), default_specification=DRAFT202012)
    )


@cache
def validator(ref: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {"$ref": f"{URN}{ref}"},
        registry=registry(),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def operation(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    for template, item in document()["paths"].items():
        pattern = "^" + template.replace("{id}", "[^/]+") + "$"
        if re.match(pattern, path) and method.lower() in item:
            return template, item[method.lower()]
    return None


class Checked:
    """Counts what was checked, so tests can show the hook really ran."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def __call__(self, response: httpx.Response) -> None:
        request = response.request
        path = request.url.path.rstrip("/")
        if not path.startswith("/v2") or path == "/v2/openapi.json":  # the document itself
            return
        response.read()
        found = operation(request.method, path)
        if found is None:  # unknown path or method: 404/405 problem
            assert response.status_code in (401, 404, 405, 413, 429), response.text
            self._problem(response)
            return
        _template, spec = found
        status = str(response.status_code)
        documented = spec["responses"]
        if status not in documented:
            status = f"{status[0]}XX"
        assert status in documented, f"{request.method} {path}: undocumented {status}"
        assert response.headers.get("x-request-id"), "x-request-id missing"
        authenticated = "authorization" in request.headers
        if authenticated and response.status_code not in (401, 413):
            assert response.headers.get("ratelimit"), "RateLimit missing"
            assert response.headers.get("ratelimit-policy"), "RateLimit-Policy missing"
        if response.status_code == 429:
            assert response.headers["retry-after"].isdigit()
        content = documented[status].get("content")
        if response.headers.get("content-type", "").startswith("text/html"):
            assert content is not None and "text/html" in content
        elif content is None:
            assert response.content == b"", response.content
        elif "application/problem+json" in content:
            self._problem(response)
        else:
            assert response.headers["content-type"] == "application/json"
            ref = content["application/json"]["schema"]["$ref"]
            validator(ref).validate(response.json())
        self.seen.append((spec["operationId"], response.status_code))

    def _problem(self, response: httpx.Response) -> None:
        assert response.headers["content-type"] == "application/problem+json", response.text
        body = response.json()
        validator("#/components/schemas/Problem").validate(body)
        assert body["status"] == response.status_code
        assert body["title"] == response.reason_phrase or body["title"]
