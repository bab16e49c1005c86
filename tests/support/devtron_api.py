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
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from tests.support.http import (
    MAX_DELAY_SECONDS,  # noqa: F401 - part of this module's interface
    JsonReply,
    LocalServer,
    RequestHandler,
    phrase,
)

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
    retry_after: float | None = None


class _DevtronHandler(RequestHandler["FakeDevtronApi"]):
    server_version = "fake-devtron-telemetry"
    methods = ("GET", "POST", "PUT")

    def handle_request(self) -> None:
        """Record the request and answer it, after its answer's delay."""
        api = self.owner
        answer = api._admit(self.command, self.path, self.header_map())
        if answer.delay > 0:
            api._sleep(answer.delay)
        self.send_json(answer)


class FakeDevtronApi(LocalServer[DevtronRequest]):
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
        super().__init__(_DevtronHandler, host=host, name="fake-devtron-api")
        self.api_key = api_key
        self.posthog_endpoint = posthog_endpoint
        self.opted_out = opted_out
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
        self,
        route: Route,
        status: int = 503,
        *,
        times: int | None = None,
        delay: float = 0.0,
        retry_after: float | None = None,
    ) -> None:
        """Answer `route` with `status` the next `times` requests (None: until `recover`).

        A status of 200 with a `delay` makes the route slow but correct; `retry_after` adds a
        `Retry-After` header to the failures.
        """
        with self._lock:
            self._failures[route] = _Failure(status, times, delay, retry_after)

    def recover(self, route: Route) -> None:
        """Answer `route` normally again."""
        with self._lock:
            self._failures.pop(route, None)

    # observations ------------------------------------------------------------------------

    @property
    def key_requests(self) -> list[DevtronRequest]:
        """The requests to the key endpoint."""
        return [r for r in self.requests if urlsplit(r.path).path == KEY_PATH]

    @property
    def opt_out_requests(self) -> list[DevtronRequest]:
        """The requests to the opt-out lookup."""
        return [r for r in self.requests if urlsplit(r.path).path.startswith(OPT_OUT_PATH + "/")]

    # handler callback --------------------------------------------------------------------

    def _admit(self, method: str, raw_path: str, headers: dict[str, str]) -> JsonReply:
        """Choose the answer for one request and record both (from a handler thread)."""
        with self._lock:
            answer = self._choose(method, urlsplit(raw_path).path)
            self._record(DevtronRequest(method, raw_path, headers, answer.status))
            return answer

    def _choose(self, method: str, path: str) -> JsonReply:
        route: Route | None = None
        if path == KEY_PATH:
            route = "key"
        elif path.startswith(OPT_OUT_PATH + "/") and len(path) > len(OPT_OUT_PATH) + 1:
            route = "opt-out"
        if route is None:
            return JsonReply(404, json.dumps({"code": 404, "status": "Not Found"}))
        if method != "GET":
            return JsonReply(405, json.dumps({"code": 405, "status": "Method Not Allowed"}))
        delay = 0.0
        failure = self._failures.get(route)
        if failure is not None:
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    del self._failures[route]
            delay = failure.delay
            if failure.status != 200:
                body = json.dumps({"code": failure.status, "status": phrase(failure.status)})
                headers = (
                    ()
                    if failure.retry_after is None
                    else (("Retry-After", f"{failure.retry_after:g}"),)
                )
                return JsonReply(failure.status, body, delay, headers)
        if route == "key":
            result: dict[str, Any] = {
                "PosthogApiKey": base64.b64encode(self.api_key.encode()).decode()
            }
            if self.posthog_endpoint is not None:
                result["PosthogEndpoint"] = self.posthog_endpoint
            return JsonReply(
                200, json.dumps({"code": 200, "status": "OK", "result": result}), delay
            )
        answer = {"code": 200, "status": "OK", "result": self.opted_out}
        return JsonReply(200, json.dumps(answer), delay)


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


class _ProxyHandler(RequestHandler["RecordingProxy"]):
    server_version = "recording-proxy"
    # CONNECT is answered too: this proxy relays plain HTTP only, and says so.
    methods = ("GET", "POST", "CONNECT")

    def handle_request(self) -> None:
        """Relay the request and answer what came back."""
        body = self.read_body() or b""
        status, reply_headers, payload = self.owner._forward(
            self.command, self.path, self.header_map(), body
        )
        self.send_payload(status, reply_headers, payload)


class RecordingProxy(LocalServer[ProxiedRequest]):
    """A forward HTTP proxy relaying absolute-form requests to local servers, by host name.

    `upstreams` maps the host a client asks for (e.g. `posthog.invalid`) to the base URL of the
    local server that answers for it. A request for another host is answered 502, a request
    that is not in absolute form 400 and CONNECT 405: a client that does not really use the
    proxy as a proxy gets no answer it could mistake for success.
    """

    def __init__(self, upstreams: dict[str, str], host: str = "127.0.0.1") -> None:
        """Prepare a proxy relaying to `upstreams`; `start()` binds it."""
        super().__init__(_ProxyHandler, host=host, name="recording-proxy")
        self.upstreams = dict(upstreams)

    def _forward(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        status, reply_headers, payload = self._answer(method, target, headers, body)
        self._record(ProxiedRequest(method, target, headers, body, status))
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
