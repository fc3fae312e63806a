"""HTTP serving: `POST /graphql` and the admin API on a stdlib `ThreadingHTTPServer`.

Why: end-to-end tests, the demo and other processes (the official SDK, runpodctl) need a real
socket. `serve()` blocks until `stop` is set (or the process is interrupted) and then shuts the
server down cleanly; `on_ready` receives the URL once the socket listens (port 0 picks a free
port, and the URL names the real one).

An injected timeout holds the connection for its seconds (wall time), then answers 504.

What it must not do: log request headers or bodies (they carry the API key), or hold any state
of its own beyond the socket.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from scheduler.emulator.handler import HttpRequest

if TYPE_CHECKING:
    from scheduler.emulator.emulator import Emulator


def _handler_class(emu: Emulator, stop: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "spotsched-emulator"

        def _serve(self) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            response = emu.handle(
                HttpRequest(
                    method=self.command,
                    path=path,
                    query=query,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
            )
            if response.timeout is not None:
                stop.wait(response.timeout)
                self.close_connection = True
            try:
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                if response.timeout is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(response.body)
            except OSError:
                # The client gave up (typically after an injected timeout).
                self.close_connection = True

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
