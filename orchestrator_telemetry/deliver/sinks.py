"""Where events go: PostHog, the console (preview and demo), or memory (tests and embedding).

A sink's `send` returns normally only when the event was accepted; otherwise it raises a
`DeliveryError` (see `errors`): transient ones keep the event for a retry, a rejection sets it
aside.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol, TextIO

import requests
from posthog import Posthog
from posthog.request import APIError

from ..errors import (
    AuthenticationError,
    DeliveryError,
    MisconfiguredError,
    RejectedError,
    TransientError,
)
from ..events import Event


class EventSink(Protocol):
    """Something that accepts events one at a time, synchronously."""

    name: str

    def send(self, event: Event) -> None:
        """Deliver `event`, or raise DeliveryError."""

    def close(self) -> None:
        """Release resources; called once, at shutdown."""


class PosthogSink:
    """Delivers through the official posthog client, one synchronous request per event."""

    name = "posthog"

    def __init__(self, api_key: str, host: str, timeout: float, key_source: str) -> None:
        self._key_source = key_source
        # sync_mode: the request happens inside send(), so success is known before marking sent.
        # debug: the only switch that makes the client raise errors instead of swallowing them.
        self._client = Posthog(
            api_key,
            host=host,
            sync_mode=True,
            debug=True,
            timeout=timeout,
            max_retries=0,
            disable_geoip=True,
            capture_mode="v0",
        )
        # debug also turns the client's logger up to DEBUG, which would log every request body.
        logging.getLogger("posthog").setLevel(logging.WARNING)

    def send(self, event: Event) -> None:
        """Capture `event` with its own uuid and timestamp, so a re-send is the same event."""
        try:
            accepted = self._client.capture(
                event.name,
                distinct_id=event.distinct_id,
                properties=event.to_capture()["properties"],
                timestamp=event.timestamp,
                uuid=str(event.uuid),
            )
        except APIError as exc:
            status = exc.status if isinstance(exc.status, int) else 0
            raise classify(status, str(exc.message), self._key_source) from None
        except requests.RequestException as exc:
            raise TransientError(f"{type(exc).__name__}: cannot reach PostHog") from None
        except Exception as exc:  # noqa: BLE001 - the client's failure must not stall the outbox
            raise TransientError(f"posthog client failed: {type(exc).__name__}") from None
        if accepted is None:
            # The client drops events without raising, e.g. once it is shut down.
            raise TransientError("the posthog client dropped the event")

    def close(self) -> None:
        """Flush and stop the client."""
        self._client.shutdown()


# Only these answers speak of the payload itself; anything else may be cured by a fix elsewhere.
_PAYLOAD_REJECTED = frozenset({400, 413, 422})
_KEY_REFUSED = frozenset({401, 403})


def classify(status: int, message: str, key_source: str) -> DeliveryError:
    """The failure an HTTP answer from the capture endpoint means (status 0: no answer)."""
    detail = f"HTTP {status}: {message[:200]}"
    if status in _KEY_REFUSED:
        return AuthenticationError(f"{detail}; check posthog.api_key (set by {key_source})")
    if status in _PAYLOAD_REJECTED:
        return RejectedError(detail)
    if status in {0, 429} or status >= 500:
        return TransientError(detail)
    # A mistyped posthog.host or a proxy answers like this: the events wait for the fix.
    return MisconfiguredError(f"{detail}; check posthog.host and any proxy between")


class LazySink:
    """Builds its sink on the first send, so a key fetched over the network is asked for late.

    A sink whose key PostHog refuses is dropped, so the next send builds it anew: a key fetched
    from Devtron's endpoint may have been rotated since.
    """

    def __init__(
        self,
        name: str,
        build: Callable[[], EventSink],
        quiet: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._build = build
        self._quiet = quiet
        self._monotonic = monotonic
        self._sink: EventSink | None = None
        self._failed: tuple[float, DeliveryError] | None = None
        self._lock = threading.Lock()

    def send(self, event: Event) -> None:
        """Build the sink if needed (a failure is a DeliveryError: retried later), then send."""
        with self._lock:
            if self._sink is None:
                # One failed build answers for a while: the rest of a pass does not ask again.
                if self._failed is not None and self._monotonic() - self._failed[0] < self._quiet:
                    raise self._failed[1]
                try:
                    self._sink = self._build()
                except DeliveryError as exc:
                    self._failed = (self._monotonic(), exc)
                    raise
            sink = self._sink
        try:
            sink.send(event)
        except AuthenticationError as exc:
            with self._lock:
                if self._sink is sink:
                    # Asked again after the quiet period, not for every event of this pass.
                    self._sink, self._failed = None, (self._monotonic(), exc)
            sink.close()
            raise

    def close(self) -> None:
        """Close the sink if it was ever built."""
        if self._sink is not None:
            self._sink.close()


class ConsoleSink:
    """Prints each event as one JSON object per line instead of sending it."""

    name = "console"

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, event: Event) -> None:
        """Write `event` as JSON."""
        with self._lock:
            self._stream.write(json.dumps(event.to_capture(), sort_keys=False) + "\n")
            self._stream.flush()

    def close(self) -> None:
        """Nothing to release."""


class MemorySink:
    """Keeps events in a list; can be told to fail, for tests and embedding."""

    name = "memory"

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.failures: list[DeliveryError] = []
        self._lock = threading.Lock()

    def fail_next(self, *errors: DeliveryError) -> None:
        """Raise these errors, one per send, before accepting events again."""
        with self._lock:
            self.failures.extend(errors)

    def send(self, event: Event) -> None:
        """Record `event`, or raise the next queued failure."""
        with self._lock:
            if self.failures:
                raise self.failures.pop(0)
            self.events.append(event)

    def close(self) -> None:
        """Nothing to release."""
