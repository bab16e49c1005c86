"""A local PostHog-compatible capture server that records what the posthog client sends."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tests.support.http import MAX_DELAY_SECONDS, JsonReply, LocalServer, RequestHandler, phrase

__all__ = [
    "BATCH_PATH",
    "HANG_UP",
    "MAX_DELAY_SECONDS",
    "CaptureServer",
    "CapturedRequest",
    "Reply",
]

BATCH_PATH = "/batch/"
"""The legacy (v0) capture endpoint the posthog client posts events to."""

_ACCEPTED_BODY = '{"status": 1}'

HANG_UP = 0
"""The status recorded for a request the server closed the connection on, unanswered."""


@dataclass(frozen=True)
class Reply(JsonReply):
    """One scripted answer of the capture server: status, JSON body text, delay before answering."""

    body: str = _ACCEPTED_BODY

    @classmethod
    def ok(cls) -> Reply:
        """Accept the batch, as PostHog does."""
        return cls()

    @classmethod
    def error(
        cls, status: int, detail: str | None = None, *, retry_after: float | None = None
    ) -> Reply:
        """Answer an error with a PostHog-style body; its `detail` becomes APIError.message."""
        text = detail if detail is not None else phrase(status)
        body = json.dumps({"type": "server_error", "code": "scripted", "detail": text})
        headers = () if retry_after is None else (("Retry-After", f"{retry_after:g}"),)
        return cls(status=status, body=body, headers=headers)

    @classmethod
    def hang_up(cls) -> Reply:
        """Close the connection without answering, as a host that refuses the request does."""
        return cls(status=HANG_UP)

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


class _Handler(RequestHandler["CaptureServer"]):
    """Routes every request to the owning CaptureServer."""

    server_version = "capture-test-server"
    methods = ("POST", "GET", "PUT", "PATCH", "DELETE")

    def handle_request(self) -> None:
        """Record the request and answer it, after its reply's delay."""
        capture = self.owner
        raw = self.read_body(chunked=True, gunzip=True)
        body, malformed = _decode_body(raw)
        reply = capture._admit(self.command, self.path, self.header_map(), body, malformed)
        if reply.delay > 0:
            capture._sleep(reply.delay)
        if reply.status == HANG_UP:
            self.close_connection = True
            return
        self.send_json(reply)


def _decode_body(raw: bytes | None) -> tuple[dict[str, Any], bool]:
    """Decode a JSON object body (None: unreadable); return it and whether it was malformed."""
    if not raw:
        return {}, True
    try:
        decoded = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}, True
    if not isinstance(decoded, dict):
        return {"_body": decoded}, True
    return decoded, False


class CaptureServer(LocalServer[CapturedRequest]):
    """A real local HTTP server that answers like PostHog's `/batch/` and records requests."""

    # Requests to `/batch/` take the next scripted Reply (see `respond_with`), or 200
    # `{"status": 1}` when none is queued. A body that is not a JSON object with a `batch`
    # list gets 400 and one without `api_key` gets 401, as PostHog would answer, without
    # consuming a scripted reply. Any other path answers 404 (non-POST on `/batch/`: 405).
    # Everything is recorded in arrival order, at arrival (before any scripted delay).

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Prepare a server on `host`:`port` (0 picks a free port); `start()` binds it."""
        super().__init__(
            _Handler,
            host=host,
            port=port,
            name="capture-server",
            label="CaptureServer",
            usage="`with CaptureServer()`",
        )
        self._replies: deque[Reply] = deque()
        self._default: Callable[[], Reply] = Reply.ok

    # scripting ---------------------------------------------------------------------------

    def respond_with(self, *replies: Reply) -> None:
        """Queue replies, used one per `/batch/` request in order, after those already queued."""
        with self._lock:
            self._replies.extend(replies)

    def answer_by(self, choose: Callable[[], Reply]) -> None:
        """Answer with `choose()` whenever no scripted reply is queued (default: accept)."""
        with self._lock:
            self._default = choose

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
    def events(self) -> list[dict[str, Any]]:
        """Return the `batch` events of requests answered 200: what PostHog accepted."""
        return [
            event
            for request in self.requests
            if request.status == 200 and urlsplit(request.path).path == BATCH_PATH
            for event in request.batch
        ]

    def events_named(self, name: str) -> list[dict[str, Any]]:
        """Return the accepted events called `name`, in the order they arrived."""
        return [event for event in self.events if event["event"] == name]

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
            self._record(CapturedRequest(raw_path, headers, body, reply.status, method))
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
        return self._replies.popleft() if self._replies else self._default()
