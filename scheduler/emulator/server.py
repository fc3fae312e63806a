"""HTTP serving: `POST /graphql` and the admin API on a stdlib `ThreadingHTTPServer`.

Why: end-to-end tests, the demo and other processes (the official SDK, runpodctl) need a real
socket. `serve()` blocks until `stop` is set (or the process is interrupted) and then shuts the
server down cleanly; `on_ready` receives the URL once the socket listens (port 0 picks a free
port, and the URL names the real one).

An injected timeout holds the connection for its seconds (wall time), then answers 504.

Malformed HTTP is answered, never crashed on or waited for: a `Content-Length` that is not a
number, negative or over `MAX_REQUEST_BYTES`, or a chunked body, gets a 400 JSON answer and the
connection is closed (its unread bytes cannot be trusted as the next request); so do request
lines and headers `http.server` itself refuses (its HTML error pages are JSON here). A client
that stops sending mid-body is dropped after `READ_TIMEOUT_SECONDS`. An unexpected error inside
the handler is a 500 JSON answer, not a dropped connection.

What it must not do: log request headers or bodies (they carry the API key), or hold any state
of its own beyond the socket.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Final

from scheduler.emulator.handler import HttpRequest, HttpResponse

MAX_REQUEST_BYTES: Final = 4 * 1024 * 1024
READ_TIMEOUT_SECONDS: Final = 60.0
LINGER_SECONDS: Final = 1.0

if TYPE_CHECKING:
    from scheduler.emulator.emulator import Emulator


def _handler_class(emu: Emulator, stop: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "spotsched-emulator"
        timeout = READ_TIMEOUT_SECONDS  # on the socket: a client that stops sending is dropped

        def _body(self) -> bytes | str:
            """The request body, or why it cannot be read (the connection is then closed)."""
            if self.headers.get("Transfer-Encoding") is not None:
                return "chunked request bodies are not supported; send a Content-Length"
            lengths = self.headers.get_all("Content-Length") or []
            if len(set(lengths)) > 1:
                return "conflicting Content-Length headers"
            raw = lengths[0].strip() if lengths else "0"
            if not raw.isascii() or not raw.isdigit():
                return "Content-Length must be a non-negative whole number"
            length = int(raw)
            if length > MAX_REQUEST_BYTES:
                return f"Content-Length over the {MAX_REQUEST_BYTES} bytes limit"
            body = self.rfile.read(length) if length else b""
            if len(body) < length:
                return "the body ended before its Content-Length"
            return body

        def _serve(self) -> None:
            path, _, query = self.path.partition("?")
            try:
                body = self._body()
            except OSError:  # the client stopped sending (timeout) or went away
                self.close_connection = True
                return
            if isinstance(body, str):
                self.close_connection = True
                self._answer(HttpResponse.json(400, {"error": body}))
                self._linger()
                return
            try:
                response = emu.handle(
                    HttpRequest(
                        method=self.command,
                        path=path,
                        query=query,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                    )
                )
            except Exception as exc:
                response = HttpResponse.json(
                    500, {"error": f"emulator error: {type(exc).__name__}"}
                )
            self._answer(response)

        def _answer(self, response: HttpResponse) -> None:
            if response.timeout is not None:
                stop.wait(response.timeout)
                self.close_connection = True
            try:
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                if response.timeout is not None or self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(response.body)
            except OSError:
                # The client gave up (typically after an injected timeout).
                self.close_connection = True

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            """`http.server`'s own refusals (bad request line, headers, method), as JSON; with a
            status line and headers even when the request line was too broken to name a
            version (the standard library would answer those the HTTP/0.9 way, body only)."""
            self.close_connection = True
            self.request_version = self.protocol_version
            status = HTTPStatus(code)
            body = json.dumps({"error": message or status.phrase}).encode()
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD" and code >= HTTPStatus.OK and code not in (204, 304):
                    self.wfile.write(body)
            except OSError:
                return  # the client is gone already
            self._linger()

        def _linger(self) -> None:
            """Close after an error answer without losing it: stop sending, then read what the
            client still sends for a moment. Closing a socket with unread bytes makes the
            kernel reset the connection, and the client may never see the answer."""
            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(LINGER_SECONDS)
                for _ in range(MAX_REQUEST_BYTES // 65536):
                    if not self.connection.recv(65536):
                        break
            except OSError:
                pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        # REST v2 clients send these; without them Python answers an HTML 501 page.
        def do_DELETE(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def do_PATCH(self) -> None:
            self._serve()

        def do_OPTIONS(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: object) -> None:
            """Silent: request lines may carry `?api_key=`."""

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


def serve(
    emu: Emulator,
    host: str = "127.0.0.1",
    port: int = 8765,
    on_ready: Callable[[str], None] | None = None,
    *,
    stop: threading.Event | None = None,
) -> None:
    """Serve until `stop` is set; calls `on_ready("http://HOST:PORT")` once listening."""
    stop = stop or threading.Event()
    server = _Server((host, port), _handler_class(emu, stop))

    def _watch() -> None:
        stop.wait()
        server.shutdown()

    watcher = threading.Thread(target=_watch, daemon=True)
    try:
        watcher.start()
        real_host, real_port = server.server_address[:2]
        if on_ready is not None:
            on_ready(f"http://{real_host!s}:{real_port}")
        server.serve_forever(poll_interval=0.1)
    finally:
        stop.set()
        server.server_close()
