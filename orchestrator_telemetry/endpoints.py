"""The HTTP endpoint: /healthz, /readyz, /metrics and /preview; every other path is 404.

prometheus_client's own server answers every path with metrics, so the routes are a small WSGI
application in front of its `make_wsgi_app`, served by the standard library's WSGI server.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

import structlog
from prometheus_client import make_wsgi_app

from .monitoring import Monitor

log = structlog.get_logger(__name__)

PREVIEW_TTL = 60.0  # seconds: /preview queries the orchestrator at most this often
# How often the idle server checks whether it should stop: requests are served at once anyway,
# and the default 0.5 s alone would cost the idle daemon most of its CPU time.
POLL_INTERVAL = 2.0


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow /preview never blocks a liveness probe, nor shutdown


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Drop per-request access lines: probes would flood the log."""


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
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str, port: int) -> int:
        """Listen on host:port (0 picks a free port); return the port."""
        server = make_server(
            host, port, self, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        if not isinstance(server, _ThreadingServer):  # make_server is typed to its base class
            raise TypeError("unexpected server class")
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            name="http",
            daemon=True,
        )
        self._thread.start()
        bound: int = server.server_address[1]
        log.info("http endpoint listening", host=host, port=bound)
        return bound

    def stop(self) -> None:
        """Stop serving and release the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
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
