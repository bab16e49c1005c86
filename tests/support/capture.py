"""A local PostHog-compatible capture server that records what the posthog client sends."""

from __future__ import annotations

import gzip
import json
import sys
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import urlsplit

__all__ = ["BATCH_PATH", "MAX_DELAY_SECONDS", "CaptureServer", "CapturedRequest", "Reply"]

BATCH_PATH = "/batch/"
"""The legacy (v0) capture endpoint the posthog client posts events to."""

MAX_DELAY_SECONDS = 10.0
"""Upper bound of a scripted delay, so a forgotten slow reply cannot stall a test run."""

_ACCEPTED_BODY = '{"status": 1}'
_MAX_BODY_BYTES = 20 * 1024 * 1024


def _reason(status: int) -> str:
    """Return the standard reason phrase of a status code, or a generic one."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


@dataclass(frozen=True)
class Reply:
    """One scripted answer of the capture server: status, JSON body text, delay before answering."""

    status: int = 200
    body: str = _ACCEPTED_BODY
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def ok(cls) -> Reply:
        """Accept the batch, as PostHog does."""
        return cls()

    @classmethod
    def error(
        cls, status: int, detail: str | None = None, *, retry_after: float | None = None
    ) -> Reply:
        """Answer an error with a PostHog-style body; its `detail` becomes APIError.message."""
        text = detail if detail is not None else _reason(status)
        body = json.dumps({"type": "server_error", "code": "scripted", "detail": text})
        headers = () if retry_after is None else (("Retry-After", f"{retry_after:g}"),)
        return cls(status=status, body=body, headers=headers)

    @classmethod
    def slow(cls, delay: float, status: int = 200) -> Reply:
        """Answer only after `delay` seconds, to make the client time out."""
        return cls(status=status, delay=delay)


@dataclass(frozen=True)
class CapturedRequest:
    """One request the server received; header names are lower-cased; status is what it answered."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int
    method: str = "POST"

    def header(self, name: str) -> str | None:
        """Return a header value by case-insensitive name, or None."""
        return self.headers.get(name.lower())

    @property
    def batch(self) -> list[dict[str, Any]]:
        """Return the events of the request body's `batch` (empty when absent or malformed)."""
        batch = self.body.get("batch")
        if not isinstance(batch, list):
            return []
        return [event for event in batch if isinstance(event, dict)]


class _BadRequestError(Exception):
    """The request body could not be read as a JSON object."""


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its CaptureServer and keeps client disconnects quiet."""

    daemon_threads = True
    capture: CaptureServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that went away (e.g. after a timeout); report anything else."""
        # socketserver calls handle_error inside its `except` block.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Routes every request to the owning CaptureServer."""

    server_version = "capture-test-server"
    protocol_version = "HTTP/1.0"  # one request per connection: no stale keep-alive sockets
    timeout = 10.0  # socket timeout, so a stalled client cannot pin a handler thread

    def do_POST(self) -> None:
        """Handle POST."""
        self._handle()

    def do_GET(self) -> None:
        """Handle GET."""
        self._handle()

    def do_PUT(self) -> None:
        """Handle PUT."""
        self._handle()

    def do_PATCH(self) -> None:
        """Handle PATCH."""
        self._handle()

    def do_DELETE(self) -> None:
        """Handle DELETE."""
        self._handle()

    def _handle(self) -> None:
        capture = cast(_HTTPServer, self.server).capture
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            raw = self._read_raw_body()
            body, malformed = _decode_body(raw, headers.get("content-encoding", ""))
        except _BadRequestError:
            body, malformed = {}, True
        reply = capture._admit(self.command, self.path, headers, body, malformed)
        if reply.delay > 0:
            capture._sleep(reply.delay)
        self._answer(reply)

    def _read_raw_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError as exc:
            raise _BadRequestError from exc
        if length < 0 or length > _MAX_BODY_BYTES:
            raise _BadRequestError
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError as exc:
                raise _BadRequestError from exc
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # CRLF after the chunk

    def _answer(self, reply: Reply) -> None:
        payload = reply.body.encode("utf-8")
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean: no per-request stderr line."""


def _decode_body(raw: bytes, content_encoding: str) -> tuple[dict[str, Any], bool]:
    """Decode a (possibly gzip) JSON object body; return it and whether it was malformed."""
    if not raw:
        return {}, True
    if "gzip" in content_encoding.lower():
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            return {}, True
    try:
        decoded = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}, True
    if not isinstance(decoded, dict):
        return {"_body": decoded}, True
    return decoded, False


class CaptureServer:
    """A real local HTTP server that answers like PostHog's `/batch/` and records requests."""

    # Requests to `/batch/` take the next scripted Reply (see `respond_with`), or 200
    # `{"status": 1}` when none is queued. A body that is not a JSON object with a `batch`
    # list gets 400 and one without `api_key` gets 401, as PostHog would answer, without
    # consuming a scripted reply. Any other path answers 404 (non-POST on `/batch/`: 405).
    # Everything is recorded in arrival order, at arrival (before any scripted delay).

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Prepare a server on `host`:`port` (0 picks a free port); `start()` binds it."""
        self._address = (host, port)
        self._lock = threading.Condition()
        self._requests: list[CapturedRequest] = []
        self._replies: deque[Reply] = deque()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the socket and serve in a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("CaptureServer is already running")
        self._stopping.clear()
        httpd = _HTTPServer(self._address, _Handler)
        httpd.capture = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"capture-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release delayed replies, stop serving, close the socket and join the thread."""
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

    # address -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """Return the bound TCP port."""
        if self._httpd is None:
            raise RuntimeError("CaptureServer is not running; use `with CaptureServer()`")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Return the base URL to pass as the posthog client's `host`."""
        return f"http://{self._address[0]}:{self.port}"

    # scripting ---------------------------------------------------------------------------

    def respond_with(self, *replies: Reply) -> None:
        """Queue replies, used one per `/batch/` request in order, after those already queued."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def pending_replies(self) -> int:
        """Return how many scripted replies have not been used yet."""
        with self._lock:
            return len(self._replies)

    def reset(self) -> None:
        """Forget recorded requests and queued replies."""
        with self._lock:
            self._requests.clear()
            self._replies.clear()

    # observations ------------------------------------------------------------------------

    @property
    def requests(self) -> list[CapturedRequest]:
        """Return a copy of every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Return the `batch` events of requests answered 200: what PostHog accepted."""
        return [
            event
            for request in self.requests
            if request.status == 200 and urlsplit(request.path).path == BATCH_PATH
            for event in request.batch
        ]

    @property
    def api_keys(self) -> list[str]:
        """Return the `api_key` of every request that carried one, in arrival order."""
        return [
            request.body["api_key"]
            for request in self.requests
            if isinstance(request.body.get("api_key"), str)
        ]

    def wait_for_requests(self, count: int, timeout: float = 2.0) -> list[CapturedRequest]:
        """Wait until at least `count` requests arrived (or `timeout` passed) and return all."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(remaining)
            return list(self._requests)

    # handler callbacks -------------------------------------------------------------------

    def _admit(
        self,
        method: str,
        raw_path: str,
        headers: dict[str, str],
        body: dict[str, Any],
        malformed: bool,
    ) -> Reply:
        """Choose the reply for one request and record both atomically (from a handler thread)."""
        with self._lock:
            reply = self._choose(method, urlsplit(raw_path).path, body, malformed)
            self._requests.append(CapturedRequest(raw_path, headers, body, reply.status, method))
            self._lock.notify_all()
            return reply

    def _choose(self, method: str, path: str, body: dict[str, Any], malformed: bool) -> Reply:
        """Return the reply PostHog would give, or the next scripted one (lock held)."""
        if path != BATCH_PATH:
            return Reply.error(404, "Not found")
        if method != "POST":
            return Reply.error(405, f'Method "{method}" not allowed.')
        if malformed or not isinstance(body.get("batch"), list):
            return Reply.error(400, "Malformed request data")
        if not body.get("api_key"):
            return Reply.error(401, "API key not provided.")
        return self._replies.popleft() if self._replies else Reply.ok()

    def _sleep(self, delay: float) -> None:
        """Sleep for a scripted delay, capped, and cut short when the server stops."""
        self._stopping.wait(min(delay, MAX_DELAY_SECONDS))
