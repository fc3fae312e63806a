"""The metrics endpoint: `/metrics` (Prometheus text format) and `/healthz`, in a daemon thread.

Why not `prometheus_client.start_http_server`: it serves only the registry, and the daemon also
needs `/healthz` (200 `ok` while the last successful tick is recent, else 503 and a reason) on
the same port. This is the same stdlib WSGI server it uses, with prometheus-client's own WSGI
app behind `/metrics`, and TLS from `metrics.tls_cert_file` / `metrics.tls_key_file`.

TLS: the listening socket is wrapped with a server-side `ssl.SSLContext` (TLS 1.2 or newer);
the handshake runs in the request's thread with a timeout, so a client that connects and says
nothing cannot stall the server. Basic auth: prometheus-client offers none for serving (its
maintainers leave it to a real HTTP server), so put a reverse proxy in front when the endpoint
must leave loopback (docs in `monitoring/README.md`).

What it must not do: log request lines or headers, or block the daemon's shutdown.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog
from prometheus_client import CollectorRegistry, make_wsgi_app

from scheduler.domain.errors import SpotschedError

log = structlog.get_logger("spotsched.metrics")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
HealthCheck = Callable[[], str | None]

HANDSHAKE_TIMEOUT = 10.0


class MetricsUnavailable(SpotschedError):
    """The metrics endpoint could not start (address in use, unreadable certificate or key)."""


def make_app(registry: CollectorRegistry, health: HealthCheck) -> WsgiApp:
    """`/metrics` and `/` from the registry; `/healthz` from `health()` (None means healthy)."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/healthz":
            problem = health()
            body = b"ok\n" if problem is None else f"unhealthy: {problem}\n".encode()
            status = "200 OK" if problem is None else "503 Service Unavailable"
            start_response(
                status,
                [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
            )
            return [body]
        if path in ("/metrics", "/"):
            result: Iterable[bytes] = metrics(environ, start_response)
            return result
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: try /metrics or /healthz\n"]

    return app


class _Handler(WSGIRequestHandler):
    timeout = HANDSHAKE_TIMEOUT

    def setup(self) -> None:
        super().setup()  # applies `timeout` to the connection
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: scrapes every few seconds are not news."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A failed TLS handshake or a client that went away: not worth a traceback on stderr.
        log.debug("metrics_request_failed", client=str(client_address[0]))


def _family(host: str, port: int) -> socket.AddressFamily:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return infos[0][0]


def tls_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile=certfile, keyfile=keyfile)
    return ctx


class MetricsServer:
    """`start()` binds and serves in a daemon thread; `stop()` closes the socket and joins."""

    def __init__(
        self,
        app: WsgiApp,
        host: str = "127.0.0.1",
        port: int = 9464,
        *,
        tls_cert_file: str | None = None,
        tls_key_file: str | None = None,
    ) -> None:
        self.app, self.host, self.port = app, host, port
        self.tls_files = (tls_cert_file, tls_key_file)
        self.tls: ssl.SSLContext | None = None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, with the bound port (port 0 picks a free one)."""
        if self._server is None:
            raise RuntimeError("the metrics server is not started")
        address = self._server.server_address
        host, port = str(address[0]), int(address[1])
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def start(self) -> str:
        """Bind and serve; `MetricsUnavailable` when the address or the TLS files fail."""
        where = f"{self.host}:{self.port}"
        cert, key = self.tls_files
        if (cert is None) != (key is None):
            raise MetricsUnavailable(
                "TLS needs both metrics.tls_cert_file and metrics.tls_key_file"
            )
        try:
            if cert is not None and key is not None:
                self.tls = tls_context(cert, key)
            family = _family(self.host, self.port)

            class _Bound(_Server):
                address_family = family  # IPv6 hosts such as "::" need AF_INET6

            server = make_server(self.host, self.port, self.app, _Bound, handler_class=_Handler)
        except (OSError, ssl.SSLError) as exc:
            raise MetricsUnavailable(f"cannot serve metrics on {where}: {exc}") from None
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="metrics", daemon=True
        )
        self._thread.start()
        log.info("metrics_listening", url=self.url, tls=self.tls is not None)
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None
