"""Devtron's telemetry endpoints and an HTTP forward proxy, as real local HTTP servers.

`FakeDevtronApi` answers the two calls Devtron's orchestrator makes to telemetry.devtron.ai
(reference §4): the PostHog key endpoint and the per-installation opt-out lookup.
`RecordingProxy` is a forward proxy that records every request it is asked to relay and relays
it to a local server chosen by host name, so unresolvable names (`posthog.invalid`) still work.
"""

from __future__ import annotations

import base64
import http.client
import json
import sys
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self, cast
from urllib.parse import urlsplit

__all__ = [
    "DISCOVERED_KEY",
    "KEY_PATH",
    "OPT_OUT_PATH",
    "DevtronRequest",
    "FakeDevtronApi",
    "ProxiedRequest",
    "RecordingProxy",
    "Route",
]

KEY_PATH = "/devtron/telemetry/posthogInfo"
"""Devtron's PostHog key endpoint."""

OPT_OUT_PATH = "/devtron/telemetry/opt-out"
"""Devtron's opt-out lookup, asked as `<OPT_OUT_PATH>/<ucid>`."""

DISCOVERED_KEY = "phc_discoveredByKeyEndpoint0123456789"
"""The PostHog key the fake hands out unless told otherwise; never configured locally."""

MAX_DELAY_SECONDS = 10.0
"""Upper bound of a scripted delay, so a forgotten slow answer cannot stall a test run."""

Route = Literal["key", "opt-out"]

# Headers that describe one connection, not the message: a proxy never relays them.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_MAX_BODY_BYTES = 20 * 1024 * 1024


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


class _QuietServer(ThreadingHTTPServer):
    """A threading server whose handlers reach their owner, and that ignores clients leaving."""

    daemon_threads = True
    owner: Any

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that went away (e.g. after their timeout); report anything else."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Serving:
    """Start, stop and address of a `_QuietServer` served from a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], host: str, name: str) -> None:
        self._handler = handler
        self._host = host
        self._name = name
        self._stopping = threading.Event()
        self._httpd: _QuietServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Bind a free port and serve in a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError(f"{self._name} is already running")
        self._stopping.clear()
        httpd = _QuietServer((self._host, 0), self._handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self._name}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release delayed answers, stop serving, close the socket and join the thread."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    @property
    def port(self) -> int:
        """Return the bound TCP port."""
        if self._httpd is None:
            raise RuntimeError(f"{self._name} is not running; use it as a context manager")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        return f"http://{self._host}:{self.port}"


# Devtron's telemetry endpoints ------------------------------------------------------------


@dataclass(frozen=True)
class DevtronRequest:
    """One request the fake received; header names are lower-cased; status is its answer."""

    method: str
    path: str
    headers: dict[str, str]
    status: int

    def header(self, name: str) -> str | None:
        """Return a header value by case-insensitive name, or None."""
        return self.headers.get(name.lower())


@dataclass
class _Failure:
    """Answer `status` (after `delay` seconds) `remaining` more times; None means until cleared."""

    status: int
    remaining: int | None
    delay: float


@dataclass(frozen=True)
class _Answer:
    status: int
    body: str
    delay: float = 0.0


class _DevtronHandler(BaseHTTPRequestHandler):
    server_version = "fake-devtron-telemetry"
    protocol_version = "HTTP/1.0"  # one request per connection: no stale keep-alive sockets
    timeout = 10.0

    def do_GET(self) -> None:
        """Handle GET."""
        self._handle()

    def do_POST(self) -> None:
        """Handle POST."""
        self._handle()

    def do_PUT(self) -> None:
        """Handle PUT."""
        self._handle()

    def _handle(self) -> None:
        api = cast(FakeDevtronApi, cast(_QuietServer, self.server).owner)
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = api._admit(self.command, self.path, headers)
        if answer.delay > 0:
            api._stopping.wait(min(answer.delay, MAX_DELAY_SECONDS))
        payload = answer.body.encode("utf-8")
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean: no per-request stderr line."""


class FakeDevtronApi(_Serving):
    """A real local HTTP server answering like telemetry.devtron.ai's two telemetry endpoints.

    `GET /devtron/telemetry/posthogInfo` answers
    `{"result": {"PosthogApiKey": base64(api_key), "PosthogEndpoint": posthog_endpoint}}`;
    `GET /devtron/telemetry/opt-out/<ucid>` answers `{"result": opted_out}`. Other paths are
    404, other methods 405. `fail()` scripts errors per route; every request is recorded, in
    arrival order, with the status it was answered.
    """

    def __init__(
        self,
        *,
        api_key: str = DISCOVERED_KEY,
        posthog_endpoint: str | None = None,
        opted_out: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        """Prepare a server handing out `api_key` and `posthog_endpoint`; `start()` binds it."""
        super().__init__(_DevtronHandler, host, "fake-devtron-api")
        self.api_key = api_key
        self.posthog_endpoint = posthog_endpoint
        self.opted_out = opted_out
        self._lock = threading.Lock()
        self._requests: list[DevtronRequest] = []
        self._failures: dict[Route, _Failure] = {}

    # addresses ---------------------------------------------------------------------------

    @property
    def key_url(self) -> str:
        """The key endpoint's URL, as `posthog.key_url` takes it."""
        return self.url + KEY_PATH

    @property
    def opt_out_url(self) -> str:
        """The opt-out lookup's base URL, as `telemetry.opt_out_url` takes it."""
        return self.url + OPT_OUT_PATH

    # scripting ---------------------------------------------------------------------------

    def fail(
        self, route: Route, status: int = 503, *, times: int | None = None, delay: float = 0.0
    ) -> None:
        """Answer `route` with `status` the next `times` requests (None: until `recover`).

        A status of 200 with a `delay` makes the route slow but correct.
        """
        with self._lock:
            self._failures[route] = _Failure(status, times, delay)

    def recover(self, route: Route) -> None:
        """Answer `route` normally again."""
        with self._lock:
            self._failures.pop(route, None)

    # observations ------------------------------------------------------------------------

    @property
    def requests(self) -> list[DevtronRequest]:
        """Every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def key_requests(self) -> list[DevtronRequest]:
        """The requests to the key endpoint."""
        return [r for r in self.requests if urlsplit(r.path).path == KEY_PATH]

    @property
    def opt_out_requests(self) -> list[DevtronRequest]:
        """The requests to the opt-out lookup."""
        return [r for r in self.requests if urlsplit(r.path).path.startswith(OPT_OUT_PATH + "/")]

    # handler callback --------------------------------------------------------------------

    def _admit(self, method: str, raw_path: str, headers: dict[str, str]) -> _Answer:
        """Choose the answer for one request and record both (from a handler thread)."""
        with self._lock:
            answer = self._choose(method, urlsplit(raw_path).path)
            self._requests.append(DevtronRequest(method, raw_path, headers, answer.status))
            return answer

    def _choose(self, method: str, path: str) -> _Answer:
        route: Route | None = None
        if path == KEY_PATH:
            route = "key"
        elif path.startswith(OPT_OUT_PATH + "/") and len(path) > len(OPT_OUT_PATH) + 1:
            route = "opt-out"
        if route is None:
            return _Answer(404, json.dumps({"code": 404, "status": "Not Found"}))
        if method != "GET":
            return _Answer(405, json.dumps({"code": 405, "status": "Method Not Allowed"}))
        delay = 0.0
        failure = self._failures.get(route)
        if failure is not None:
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    del self._failures[route]
            delay = failure.delay
            if failure.status != 200:
                body = json.dumps({"code": failure.status, "status": _phrase(failure.status)})
                return _Answer(failure.status, body, delay)
        if route == "key":
            result: dict[str, Any] = {
                "PosthogApiKey": base64.b64encode(self.api_key.encode()).decode()
            }
            if self.posthog_endpoint is not None:
                result["PosthogEndpoint"] = self.posthog_endpoint
            return _Answer(200, json.dumps({"code": 200, "status": "OK", "result": result}), delay)
        answer = {"code": 200, "status": "OK", "result": self.opted_out}
        return _Answer(200, json.dumps(answer), delay)


# a forward proxy --------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxiedRequest:
    """One request a client asked the proxy to relay; `target` is its request-target as sent."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def host(self) -> str | None:
        """The host the client wanted to reach (None unless the target is absolute)."""
        return urlsplit(self.target).hostname

    def header(self, name: str) -> str | None:
        """Return a header value by case-insensitive name, or None."""
        return self.headers.get(name.lower())


class _ProxyHandler(BaseHTTPRequestHandler):
    server_version = "recording-proxy"
    protocol_version = "HTTP/1.0"
    timeout = 10.0

    def do_GET(self) -> None:
        """Relay GET."""
        self._relay()

    def do_POST(self) -> None:
        """Relay POST."""
        self._relay()

    def do_CONNECT(self) -> None:
        """Refuse tunnels: this proxy relays plain HTTP only, and says so."""
        self._relay()

    def _relay(self) -> None:
        proxy = cast(RecordingProxy, cast(_QuietServer, self.server).owner)
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        body = self.rfile.read(length) if 0 < length <= _MAX_BODY_BYTES else b""
        status, reply_headers, payload = proxy._forward(self.command, self.path, headers, body)
        self.send_response(status)
        for name, value in reply_headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean: no per-request stderr line."""


class RecordingProxy(_Serving):
    """A forward HTTP proxy relaying absolute-form requests to local servers, by host name.

    `upstreams` maps the host a client asks for (e.g. `posthog.invalid`) to the base URL of the
    local server that answers for it. A request for another host is answered 502, a request
    that is not in absolute form 400 and CONNECT 405: a client that does not really use the
    proxy as a proxy gets no answer it could mistake for success.
    """

    def __init__(self, upstreams: dict[str, str], host: str = "127.0.0.1") -> None:
        """Prepare a proxy relaying to `upstreams`; `start()` binds it."""
        super().__init__(_ProxyHandler, host, "recording-proxy")
        self.upstreams = dict(upstreams)
        self._lock = threading.Lock()
        self._requests: list[ProxiedRequest] = []

    @property
    def requests(self) -> list[ProxiedRequest]:
        """Every request the proxy was asked to relay, in arrival order."""
        with self._lock:
            return list(self._requests)

    def _forward(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        status, reply_headers, payload = self._answer(method, target, headers, body)
        with self._lock:
            self._requests.append(ProxiedRequest(method, target, headers, body, status))
        return status, reply_headers, payload

    def _answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        plain = [("Content-Type", "text/plain")]
        if method == "CONNECT":
            return 405, plain, b"this proxy does not tunnel\n"
        split = urlsplit(target)
        if split.scheme != "http" or not split.hostname:
            return 400, plain, b"a proxy needs an absolute http:// request-target\n"
        upstream = self.upstreams.get(split.hostname)
        if upstream is None:
            return 502, plain, f"unknown host {split.hostname}\n".encode()
        base = urlsplit(upstream)
        path = split.path or "/"
        if split.query:
            path += "?" + split.query
        relayed = {name: value for name, value in headers.items() if name not in _HOP_BY_HOP}
        connection = http.client.HTTPConnection(base.hostname or "127.0.0.1", base.port, timeout=10)
        try:
            connection.request(method, path, body=body or None, headers=relayed)
            response = connection.getresponse()
            payload = response.read()
            kept = [
                (name, value)
                for name, value in response.getheaders()
                if name.lower() not in _HOP_BY_HOP | {"content-length", "server", "date"}
            ]
            return response.status, kept, payload
        except OSError as exc:
            return 502, plain, f"upstream {upstream} failed: {exc}\n".encode()
        finally:
            connection.close()
