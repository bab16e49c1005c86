"""What the local HTTP servers of the tests share: serving, handlers, bodies, replies, records.

A `LocalServer` serves a `RequestHandler` subclass from a daemon thread on a free port of
127.0.0.1, as a context manager, and records requests under its lock; the handler reaches its
server as `owner`. One request per connection, no per-request log line, and clients that go
away (e.g. after their own timeout) are not reported as server errors.
"""

from __future__ import annotations

import gzip
import sys
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DELAY_SECONDS",
    "JsonReply",
    "LocalServer",
    "QuietServer",
    "RequestHandler",
    "phrase",
]

MAX_DELAY_SECONDS = 10.0
"""Upper bound of a scripted delay, so a forgotten slow answer cannot stall a test run."""

MAX_BODY_BYTES = 20 * 1024 * 1024
"""The largest request body a handler reads unless told otherwise."""

OwnerT = TypeVar("OwnerT")
RecordT = TypeVar("RecordT")


def phrase(status: int, unknown: str | None = None) -> str:
    """Return the standard reason phrase of a status code, or `unknown` (default `HTTP <code>`)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return unknown if unknown is not None else f"HTTP {status}"


@dataclass(frozen=True)
class JsonReply:
    """One answer: status, JSON body text, delay before answering, extra headers."""

    status: int = 200
    body: str = "{}"
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


class QuietServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its `LocalServer` and keeps client disconnects quiet."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        owner: LocalServer[Any],
        quiet_errors: tuple[type[BaseException], ...],
    ) -> None:
        """Bind `address` (port 0 picks a free one); nothing is served yet."""
        super().__init__(address, handler)
        self.owner = owner
        self.quiet_errors = quiet_errors

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that went away (`quiet_errors`); report anything else."""
        # socketserver calls handle_error inside its `except` block.
        if isinstance(sys.exc_info()[1], self.quiet_errors):
            return
        super().handle_error(request, client_address)


def _dispatch(handler: RequestHandler[Any]) -> None:
    handler.handle_request()


class RequestHandler(BaseHTTPRequestHandler, Generic[OwnerT]):
    """A handler answering the HTTP `methods` it lists with `handle_request`; others get 501."""

    methods: ClassVar[tuple[str, ...]] = ()
    protocol_version = "HTTP/1.0"  # one request per connection: no stale keep-alive sockets
    timeout = 10.0  # socket timeout, so a stalled client cannot pin a handler thread

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Route `do_<METHOD>` of every listed method to `handle_request`."""
        super().__init_subclass__(**kwargs)
        for method in cls.methods:
            setattr(cls, f"do_{method}", _dispatch)

    def handle_request(self) -> None:
        """Answer the current request."""
        raise NotImplementedError

    @property
    def owner(self) -> OwnerT:
        """Return the `LocalServer` this handler serves for."""
        return cast(OwnerT, cast(QuietServer, self.server).owner)

    def header_map(self) -> dict[str, str]:
        """Return the request headers keyed by lower-cased name."""
        return {name.lower(): value for name, value in self.headers.items()}

    def read_body(
        self, max_bytes: int = MAX_BODY_BYTES, *, chunked: bool = False, gunzip: bool = False
    ) -> bytes | None:
        """Read the request body; None if it is unreadable, undecodable or over `max_bytes`.

        The size comes from Content-Length (none: empty), or from the chunks of a chunked body
        when `chunked`; `gunzip` decompresses a body sent with `Content-Encoding: gzip`.
        """
        try:
            if chunked and "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                raw = self._read_chunked()
            else:
                length = int(self.headers.get("Content-Length") or 0)
                if length < 0 or length > max_bytes:
                    return None
                raw = self.rfile.read(length)
        except ValueError:
            return None
        if gunzip and raw and "gzip" in self.headers.get("Content-Encoding", "").lower():
            try:
                return gzip.decompress(raw)
            except (OSError, EOFError, zlib.error):
                return None
        return raw

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline(1024).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # CRLF after the chunk

    def send_json(self, reply: JsonReply) -> None:
        """Answer `reply`: its status, headers and JSON body."""
        headers = [("Content-Type", "application/json"), *reply.headers]
        self.send_payload(reply.status, headers, reply.body.encode("utf-8"))

    def send_payload(self, status: int, headers: Iterable[tuple[str, str]], payload: bytes) -> None:
        """Answer `status` with `headers`, a Content-Length and `payload` (no body for HEAD)."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean: no per-request stderr line."""


class LocalServer(Generic[RecordT]):
    """A real local HTTP server served from a daemon thread, recording requests as `RecordT`.

    `start()` binds `host`:`port` (0: a free port) and `stop()` releases it; as a context
    manager it does both. `_lock` (a Condition) guards the records and any subclass state.
    """

    _quiet_errors: ClassVar[tuple[type[BaseException], ...]] = (ConnectionError, TimeoutError)
    """Errors of a handler thread that mean the client went away, not that the server failed."""

    def __init__(
        self,
        handler: type[RequestHandler[Any]],
        *,
        host: str,
        port: int = 0,
        name: str,
        label: str | None = None,
        usage: str = "it as a context manager",
    ) -> None:
        """Prepare the server; `name` prefixes its thread, `label` and `usage` its errors."""
        self._handler = handler
        self._host = host
        self._bind_port = port
        self._name = name
        self._label = label if label is not None else name
        self._usage = usage
        self._lock = threading.Condition()
        self._requests: list[RecordT] = []
        self._stopping = threading.Event()
        self._httpd: QuietServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the socket and serve in a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError(f"{self._label} is already running")
        self._stopping.clear()
        httpd = QuietServer((self._host, self._bind_port), self._handler, self, self._quiet_errors)
        self._prepare(httpd)
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
        self._release()
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

    def _prepare(self, httpd: QuietServer) -> None:
        """Adjust the bound server before it serves (e.g. wrap its socket); nothing by default."""

    def _release(self) -> None:
        """Release what `_prepare` set up, once the server stopped; nothing by default."""

    def _scheme(self) -> str:
        return "http"

    # address -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """Return the bound TCP port."""
        if self._httpd is None:
            raise RuntimeError(f"{self._label} is not running; use {self._usage}")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        return f"{self._scheme()}://{self._host}:{self.port}"

    # records -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordT]:
        """Return a copy of every request recorded, in arrival order."""
        with self._lock:
            return list(self._requests)

    def _record(self, request: RecordT) -> None:
        """Record one request and wake whoever waits for it (from a handler thread)."""
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()

    def _sleep(self, delay: float) -> None:
        """Sleep for a scripted delay, capped, and cut short when the server stops."""
        self._stopping.wait(min(delay, MAX_DELAY_SECONDS))
