"""Whether telemetry may run, and with which PostHog key: opt-out switches and key discovery.

Devtron's orchestrator fetches its PostHog key from a Devtron endpoint and asks another whether an
installation opted out. Both are optional here, use short timeouts, and retry with backoff.
"""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
import structlog
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ..errors import KeyDiscoveryError
from ..schedule import Clock

log = structlog.get_logger(__name__)


_RETRIES = 3


def session(deadline: float = 30.0) -> requests.Session:
    """An HTTP session retrying connection errors and 5xx, every look-up bounded by `deadline`.

    Each wait between attempts, `Retry-After` included (urllib3 honours it up to six hours by
    default), is capped so that all attempts at their `attempt_timeout` and all waits fit in
    `deadline` seconds.
    """
    # requests honours HTTP(S)_PROXY and NO_PROXY from the environment by default.
    longest_wait = _slice(deadline)
    retry = Retry(
        total=_RETRIES,
        backoff_factor=0.5,
        backoff_max=longest_wait,
        retry_after_max=int(longest_wait),  # whole seconds, rounded down: 0 falls back to backoff
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=("GET",),
    )
    http = requests.Session()
    http.mount("https://", HTTPAdapter(max_retries=retry))
    http.mount("http://", HTTPAdapter(max_retries=retry))
    return http


def attempt_timeout(deadline: float, timeout: float) -> tuple[float, float]:
    """The (connect, read) timeout of one attempt, so that every attempt fits in `deadline`."""
    each = min(timeout, _slice(deadline))
    return (each, each)


def _slice(deadline: float) -> float:
    # Per attempt a connect and a read timeout, between attempts one wait: (retries + 1) * 2 +
    # retries slices, plus one to spare, make the whole look-up end before the deadline.
    return deadline / ((_RETRIES + 1) * 2 + _RETRIES + 1)


@dataclass(frozen=True)
class PosthogTarget:
    """Where to send events, and whose key it is."""

    api_key: str
    host: str
    source: str


class KeyDiscovery:
    """Asks Devtron's key endpoint for the PostHog key and host.

    It asks anew at every call: the caller keeps the answer (LazySink) and calls again when
    PostHog refuses the key, which may have been rotated.
    """

    def __init__(
        self,
        url: str,
        *,
        default_host: str,
        timeout: tuple[float, float],
        http: requests.Session,
    ):
        self._url = url
        self._default_host = default_host
        self._timeout = timeout
        self._http = http

    def target(self) -> PosthogTarget:
        """The key and host, as the endpoint gives them now."""
        found = self._fetch()
        log.info("posthog key discovered", host=found.host, source=self._url)
        return found

    def _fetch(self) -> PosthogTarget:
        try:
            answer = self._http.get(self._url, timeout=self._timeout)
            answer.raise_for_status()
            result = answer.json()["result"]
            key = base64.b64decode(result["PosthogApiKey"], validate=True).decode().strip()
        except requests.RequestException as exc:
            raise KeyDiscoveryError(f"key endpoint {self._url}: {type(exc).__name__}") from None
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
            raise KeyDiscoveryError(f"key endpoint {self._url}: unexpected answer") from None
        if not key:
            raise KeyDiscoveryError(f"key endpoint {self._url}: empty key")
        host = result.get("PosthogEndpoint") or self._default_host
        return PosthogTarget(api_key=key, host=str(host), source=f"key endpoint {self._url}")


class OptOut:
    """Devtron's per-installation opt-out lookup, cached; a failed lookup does not opt out."""

    def __init__(
        self,
        url: str,
        *,
        cache: timedelta,
        timeout: tuple[float, float],
        http: requests.Session,
        clock: Clock,
    ) -> None:
        self._url = url.rstrip("/")
        self._cache = cache
        self._timeout = timeout
        self._http = http
        self._clock = clock
        self._known: tuple[datetime, bool] | None = None
        self._lock = threading.Lock()

    def opted_out(self, ucid: str) -> bool:
        """Whether Devtron records this installation as opted out (asked at most once a cache)."""
        with self._lock:
            now = self._clock()
            if self._known is not None and now - self._known[0] < self._cache:
                return self._known[1]
            try:
                answer = self._http.get(f"{self._url}/{ucid}", timeout=self._timeout)
                answer.raise_for_status()
                result = answer.json()["result"]
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                # Devtron's own client treats an unanswered lookup as "not opted out" too.
                log.warning("opt-out lookup failed; not opted out", error=type(exc).__name__)
                return False
            opted_out = result is True
            if opted_out and (self._known is None or not self._known[1]):
                log.warning("this installation opted out of telemetry; nothing will be sent")
            self._known = (now, opted_out)
            return opted_out
