"""The Kubernetes server version events report: configured, else fetched and cached for a while."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

__all__ = ["UNKNOWN", "ServerVersion"]

log = structlog.get_logger(__name__)

UNKNOWN = "unknown"


class ServerVersion:
    """The `serverVersion` property: configured, else the API server's, refreshed periodically."""

    def __init__(
        self,
        configured: str | None,
        fetch: Callable[[], str] | None,
        clock: Callable[[], datetime],
        refresh: timedelta = timedelta(hours=24),
    ) -> None:
        """Prefer `configured`; else call `fetch` at most once per `refresh` as told by `clock`."""
        self._configured = configured or None
        self._fetch = fetch
        self._clock = clock
        self._refresh = refresh
        self._lock = threading.Lock()
        self._value: str | None = None
        self._fetched_at: datetime | None = None
        self._warned = False

    def get(self) -> str:
        """The version to report now; "unknown" when it was never learned."""
        if self._configured is not None:
            return self._configured
        # Held across fetch(): concurrent events wait for one answer instead of all asking.
        with self._lock:
            now = self._clock()
            if (
                self._value is not None
                and self._fetched_at is not None
                and now - self._fetched_at < self._refresh
            ):
                return self._value
            if self._fetch is None:
                return self._fallback(
                    "no Kubernetes API access; set devtron.server_version to report one"
                )
            try:
                value = self._fetch()
            except Exception as exc:  # noqa: BLE001 - any failure means: report the last known one
                return self._fallback(str(exc) or type(exc).__name__)
            if not value:
                return self._fallback("the API server reported an empty version")
            self._value, self._fetched_at = value, now
            # A later failure is news again.
            self._warned = False
            return value

    def _fallback(self, reason: str) -> str:
        """The last good value, else "unknown"; warns the first time in a row (lock held)."""
        answer = self._value if self._value is not None else UNKNOWN
        if not self._warned:
            self._warned = True
            log.warning(
                "cannot learn the Kubernetes server version; reporting the last known one"
                if self._value is not None
                else "cannot learn the Kubernetes server version; reporting unknown",
                reason=reason,
                server_version=answer,
            )
        return answer
