"""The emulator served over a real socket, as another process (the demo, a test harness, a curious
neighbour on the machine) meets it: its admin API needs the key it was started with, and
malformed HTTP gets a 400 JSON answer - never a crash, a hang, or an HTML page.

Raw requests go through a plain socket so that the malformed ones arrive exactly as written.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator

from .conftest import START, Served

ADMIN_KEY = "emu-admin-key-7f3a"


@pytest.fixture
def keyed() -> Iterator[Served]:
    server = Served(Emulator(VirtualClock(START), seed=7, api_key=ADMIN_KEY))
    yield server
    server.close()


def _raw(
    url: str, request: bytes, *, shut_write: bool = False
) -> tuple[int, dict[str, str], bytes]:
    """Send `request` bytes as they are; the status, headers and body of the one answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer: {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = 0 if request.startswith(b"HEAD ") else int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed mid-body"
            body += chunk
    return status, headers, body[:length]


def _post(path: str, body: bytes, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: emulator", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _alive(url: str) -> None:
    """The server still answers an ordinary request after whatever came before."""
    with httpx.Client(base_url=url, timeout=10) as c:
        assert c.post("/graphql", json={"query": "{ gpuTypes { id } }"}).status_code == 200


# ------------------------------------------------------------------ the admin API's key


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-the-key"},
        {"Authorization": "Bearer  x"},
        {"Authorization": "Basic " + ADMIN_KEY},
    ],
    ids=["none", "wrong", "spaced", "not-bearer"],
)
def test_the_admin_api_refuses_requests_without_the_emulators_key(
    keyed: Served, headers: dict[str, str]
) -> None:
    with httpx.Client(base_url=keyed.url, timeout=10, headers=headers) as c:
        for method, path, body in [
            ("GET", "/_emulator/state", None),
            ("POST", "/_emulator/advance", {"seconds": 3600}),
            ("POST", "/_emulator/faults", {"kind": "http_503"}),
            ("POST", "/_emulator/market", {"gpuTypeId": "NVIDIA A40", "spotPrice": 0.0}),
        ]:
            response = c.request(method, path, json=body)
            assert response.status_code == 401, (path, response.text)
            assert "API key" in response.json()["error"]
            assert ADMIN_KEY not in response.text
    state = keyed.emu.state()
    assert state["now"] == START.isoformat() and state["faults"] == []  # nothing happened


def test_the_admin_api_answers_with_the_key_in_the_header_or_the_query(keyed: Served) -> None:
    with httpx.Client(base_url=keyed.url, timeout=10) as c:
        auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
        assert c.post("/_emulator/advance", json={"seconds": 60}, headers=auth).status_code == 200
        assert c.get("/_emulator/state", params={"api_key": ADMIN_KEY}).status_code == 200


def test_without_a_configured_key_the_admin_api_stays_open(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as c:
        assert c.get("/_emulator/state").status_code == 200


def test_a_non_ascii_key_is_refused_not_crashed_on(keyed: Served) -> None:
    for path, body in [
        ("/_emulator/state", b""),
        ("/graphql", b'{"query": "{ myself { id } }"}'),
        ("/v2/pods", b'{"name": "x"}'),
    ]:
        status, _, answer = _raw(
            keyed.url,
            _post(
                path,
                body,
                "Authorization: Bearer k\xe9y\xff",
                "Content-Type: application/json",
                f"Content-Length: {len(body)}",
            ),
        )
        assert status == 401, answer
    _alive(keyed.url)


# ------------------------------------------------------------------ malformed HTTP


@pytest.mark.parametrize(
    ("content_length", "words"),
    [
        ("abc", "non-negative whole number"),
        ("-5", "non-negative whole number"),
        ("1e3", "non-negative whole number"),
        (str(10**12), "limit"),
        ("99999999999999999999999999999999999999", "limit"),
    ],
)
@pytest.mark.parametrize("path", ["/graphql", "/_emulator/state"])
def test_a_bad_content_length_is_a_400_json_answer_at_once(
    keyed: Served, content_length: str, words: str, path: str
) -> None:
    status, headers, body = _raw(
        keyed.url,
        _post(
            path,
            b'{"query": "{ gpuTypes { id } }"}',
            "Content-Type: application/json",
            f"Content-Length: {content_length}",
        ),
    )
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert headers.get("connection") == "close"
    assert words in json.loads(body)["error"]
    _alive(keyed.url)


def test_a_body_shorter_than_its_content_length_is_a_400_not_a_hang(keyed: Served) -> None:
    status, _, body = _raw(
        keyed.url,
        _post("/graphql", b'{"query"', "Content-Type: application/json", "Content-Length: 500"),
        shut_write=True,
    )
    assert status == 400 and "ended before" in json.loads(body)["error"]
    _alive(keyed.url)


def test_a_chunked_body_is_a_400(keyed: Served) -> None:
    status, _, body = _raw(
        keyed.url,
        _post(
            "/graphql",
            b'5\r\n{"a":\r\n0\r\n\r\n',
            "Content-Type: application/json",
            "Transfer-Encoding: chunked",
        ),
    )
    assert status == 400 and "chunked" in json.loads(body)["error"]
    _alive(keyed.url)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"HELLO THERE FRIEND\r\n\r\n", 400),
        (b"GET /graphql HTTP/9.9\r\n\r\n", 505),
        (b"BREW /graphql HTTP/1.1\r\nHost: e\r\nContent-Length: 0\r\n\r\n", 501),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    ],
    ids=["garbage", "version", "method", "long-line"],
)
def test_requests_http_server_refuses_are_answered_in_json(
    keyed: Served, request_bytes: bytes, status: int
) -> None:
    got, headers, body = _raw(keyed.url, request_bytes)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert isinstance(json.loads(body)["error"], str)
    _alive(keyed.url)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"not json at all", "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        (b'{"query": ' + b"[" * 200 + b"]" * 200 + b"}", "application/json"),
        (b'{"query": "{ gpuTypes { id } }"}', "text/plain"),
        (b'{"query": "{ gpuTypes { id } }"}', "application/x-www-form-urlencoded"),
    ],
    ids=["text", "binary", "deep", "deep-query", "text-plain", "form"],
)
def test_a_body_that_is_not_json_is_a_400_on_both_apis(
    keyed: Served, body: bytes, content_type: str
) -> None:
    auth = f"Authorization: Bearer {ADMIN_KEY}"
    for path in ("/graphql", "/_emulator/advance"):
        status, headers, answer = _raw(
            keyed.url,
            _post(
                path, body, auth, f"Content-Type: {content_type}", f"Content-Length: {len(body)}"
            ),
        )
        assert status == 400, (path, answer[:200])
        assert headers["content-type"] == "application/json"
        parsed = json.loads(answer)
        assert parsed.get("error") or parsed["errors"][0]["message"]
    assert keyed.emu.state()["now"] == START.isoformat()  # the advance never happened
    _alive(keyed.url)


def test_a_json_content_type_with_parameters_is_accepted(keyed: Served) -> None:
    body = b'{"query": "{ gpuTypes { id } }"}'
    status, _, _ = _raw(
        keyed.url,
        _post(
            "/graphql",
            body,
            "Content-Type: application/json; charset=utf-8",
            f"Content-Length: {len(body)}",
        ),
    )
    assert status == 200


# ------------------------------------------------------------------ any request at all

_HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=40,
)
_CONTENT_LENGTHS = st.one_of(
    st.none(),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    _HEADER_TEXT,
)
_BODIES = st.one_of(
    st.binary(max_size=200),
    st.just(b'{"query": "{ gpuTypes { id } }"}'),
    st.just(b'{"seconds": 60}'),
    st.integers(min_value=1, max_value=5_000).map(lambda n: b"[" * n + b"]" * n),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "G\x00T"]),
    path=st.sampled_from(["/graphql", "/_emulator/state", "/_emulator/advance", "/", "/x%00"]),
    content_type=st.one_of(st.none(), st.just("application/json"), _HEADER_TEXT),
    content_length=_CONTENT_LENGTHS,
    body=_BODIES,
    key=st.one_of(st.none(), st.just(ADMIN_KEY), _HEADER_TEXT),
)
def test_any_request_is_answered_in_json_and_the_server_carries_on(
    keyed: Served,
    method: str,
    path: str,
    content_type: str | None,
    content_length: str | None,
    body: bytes,
    key: str | None,
) -> None:
    headers = []
    if content_type is not None:
        headers.append(f"Content-Type: {content_type}")
    if content_length is not None:
        headers.append(f"Content-Length: {content_length}")
    if key is not None:
        headers.append(f"Authorization: Bearer {key}")
    lines = [f"{method} {path} HTTP/1.1", "Host: emulator", *headers]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    status, response_headers, answer = _raw(keyed.url, request, shut_write=True)
    assert 200 <= status < 600
    assert status != 500, answer  # an emulator bug, not the client's fault
    if method != "HEAD" and answer:
        assert response_headers["content-type"].endswith("json"), response_headers
        json.loads(answer)
    _alive(keyed.url)
