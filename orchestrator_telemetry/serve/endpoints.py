"""The HTTP endpoint: /healthz, /readyz, /metrics and /preview; every other path is 404.

prometheus_client's own server answers every path with metrics, so the routes are a small WSGI
application in front of its `make_wsgi_app`, served by the standard library's WSGI handler on a
server of our own: dual-stack, with a timeout per connection and a bounded number of workers.
"""

from __future__ import annotations

import errno
import functools
import json
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.types import StartResponse, WSGIEnvironment

import structlog
from prometheus_client import make_wsgi_app

from .metrics import Monitor

log = structlog.get_logger(__name__)

PREVIEW_TTL = 60.0  # seconds: /preview queries the orchestrator at most this often
EVERY_ADDRESS = "*"  # every IPv4 and IPv6 address; IPv4 alone where the kernel has no IPv6
# Idle connections wait in a selector, not in a thread; past this many the oldest is closed, so
# a flood of idle connections cannot exhaust the process's file descriptors.
MAX_IDLE = 4096
# The kernel has no IPv6: dual-stack falls back to IPv4 on these.
_NO_IPV6 = {errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL, errno.EPROTONOSUPPORT}


class _QuietHandler(WSGIRequestHandler):
    server: _Server

    def setup(self) -> None:
        """Every read and write of the connection gives up after the server's timeout."""
        super().setup()
        self.connection.settimeout(self.server.connection_timeout)

    def log_message(self, format: str, *args: Any) -> None:
        """Drop per-request access lines: probes would flood the log."""


class _Server(WSGIServer):
    """Idle connections wait in a selector; a connection with a request goes to a bounded pool."""

    request_queue_size = 128  # a burst of probes or scrapes waits in the kernel, not refused

    def __init__(
        self,
        family: socket.AddressFamily,
        address: Any,
        *,
        dual_stack: bool,
        connection_timeout: float,
        max_connections: int,
    ) -> None:
        self.address_family = family
        self._dual_stack = dual_stack
        self.connection_timeout = connection_timeout
        self._pool = ThreadPoolExecutor(max_connections, thread_name_prefix="http")
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        super().__init__(address, _QuietHandler)

    def server_bind(self) -> None:
        """Bind; on IPv6 "::" accept IPv4 too, whatever the kernel's default for V6ONLY."""
        if self.address_family == socket.AF_INET6 and hasattr(socket, "IPV6_V6ONLY"):
            self.socket.setsockopt(
                socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if self._dual_stack else 1
            )
        super().server_bind()

    def serve(self) -> None:
        """Accept, wait for requests, hand them to the pool, close idle ones; until `stop`."""
        self.socket.setblocking(False)
        idle: dict[socket.socket, tuple[float, Any]] = {}  # oldest first: one timeout for all
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ, "accept")
            selector.register(self._wake_reader, selectors.EVENT_READ, "wake")
            while not self._stopping.is_set():
                wait = None
                if idle:
                    wait = max(0.0, next(iter(idle.values()))[0] - time.monotonic())
                for key, _ in selector.select(wait):
                    if key.data == "accept":
                        self._accept(selector, idle)
                    elif key.data == "request":
                        connection = key.fileobj
                        assert isinstance(connection, socket.socket)  # noqa: S101 - registered so
                        selector.unregister(connection)
                        _, client = idle.pop(connection)
                        self._pool.submit(self._serve_connection, connection, client)
                now = time.monotonic()
                while idle:
                    connection, (deadline, _) = next(iter(idle.items()))
                    if deadline > now and len(idle) <= MAX_IDLE:
                        break
                    selector.unregister(connection)
                    del idle[connection]
                    connection.close()
        for connection in idle:
            connection.close()
        self._stopped.set()

    def _accept(self, selector: selectors.BaseSelector, idle: dict[socket.socket, Any]) -> None:
        while True:
            try:
                connection, client = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors: the oldest idle connection goes
                log.warning("http: cannot accept a connection", error=exc.strerror or str(exc))
                return
            connection.setblocking(False)
            idle[connection] = (time.monotonic() + self.connection_timeout, client)
            selector.register(connection, selectors.EVENT_READ, "request")

    def _serve_connection(self, connection: socket.socket, client: Any) -> None:
        try:
            connection.setblocking(True)
            self.finish_request(connection, client)
        except TimeoutError:
            pass  # a client that stopped talking: its connection is closed below
        except Exception:  # noqa: BLE001 - the server's own report, on stderr (masked)
            self.handle_error(connection, client)
        finally:
            self.shutdown_request(connection)

    def stop(self) -> None:
        """Stop accepting, close idle connections and the socket; running requests finish."""
        self._stopping.set()
        self._wake_writer.send(b"x")
        self._stopped.wait(timeout=5.0)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.server_close()
        self._wake_reader.close()
        self._wake_writer.close()


def bind(host: str, port: int, *, connection_timeout: float, max_connections: int) -> _Server:
    """A server listening on `host`:`port`: "*" every address, "::" both families, else one."""
    server = functools.partial(
        _Server, connection_timeout=connection_timeout, max_connections=max_connections
    )
    if host == EVERY_ADDRESS:
        if socket.has_ipv6:
            try:
                return server(socket.AF_INET6, ("::", port), dual_stack=True)
            except OSError as exc:
                if exc.errno not in _NO_IPV6:
                    raise
        return server(socket.AF_INET, ("0.0.0.0", port), dual_stack=False)  # noqa: S104
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    dual = family == socket.AF_INET6 and address[0] == "::"
    return server(family, address, dual_stack=dual)


class Endpoints:
    """Serves the daemon's health, readiness, metrics and preview in a background thread."""

    def __init__(
        self,
        monitor: Monitor,
        *,
        alive: Callable[[], bool],
        preview: Callable[[], list[dict[str, Any]]],
    ) -> None:
        self._monitor = monitor
        self._alive = alive
        self._preview = preview
        self._metrics = make_wsgi_app(monitor.registry)
        self._cache: tuple[float, bytes] | None = None
        self._cache_lock = threading.Lock()
        self._server: _Server | None = None

    def start(
        self,
        host: str,
        port: int,
        *,
        connection_timeout: float = 10.0,
        max_connections: int = 32,
    ) -> int:
        """Listen on host:port (0 picks a free port); return the port."""
        server = bind(
            host, port, connection_timeout=connection_timeout, max_connections=max_connections
        )
        server.set_app(self)
        self._server = server
        threading.Thread(target=server.serve, name="http", daemon=True).start()
        bound: int = server.server_address[1]
        log.info("http endpoint listening", host=host, port=bound)
        return bound

    def stop(self) -> None:
        """Stop serving and release the socket."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Route one request."""
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _reply(start_response, 405, {"error": "method not allowed"})
        if path == "/metrics":
            body: Iterable[bytes] = self._metrics(environ, start_response)
            return body
        if path == "/healthz":
            alive = self._alive()
            return _reply(start_response, 200 if alive else 503, {"alive": alive})
        if path == "/readyz":
            ready = self._monitor.readiness.ready()
            checks = self._monitor.readiness.checks()
            return _reply(start_response, 200 if ready else 503, {"ready": ready, **checks})
        if path == "/preview":
            return self._serve_preview(start_response)
        return _reply(start_response, 404, {"error": "not found", "paths": _PATHS})

    def _serve_preview(self, start_response: StartResponse) -> Iterable[bytes]:
        with self._cache_lock:
            now = time.monotonic()
            if self._cache is None or now - self._cache[0] > PREVIEW_TTL:
                try:
                    body = json.dumps(self._preview(), indent=2).encode()
                except Exception as exc:  # noqa: BLE001 - reported to the caller, not raised
                    log.warning("preview failed", error=f"{type(exc).__name__}: {exc}")
                    return _reply(start_response, 503, {"error": "preview failed; see the log"})
                self._cache = (now, body)
            body = self._cache[1]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]


_PATHS = ["/healthz", "/readyz", "/metrics", "/preview"]
_STATUS = {
    200: "200 OK",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    503: "503 Service Unavailable",
}


def _reply(start_response: StartResponse, status: int, payload: dict[str, Any]) -> list[bytes]:
    start_response(_STATUS[status], [("Content-Type", "application/json")])
    return [json.dumps(payload).encode() + b"\n"]
