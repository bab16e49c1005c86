"""Logging: structlog for our events and for the stdlib loggers of every library, one renderer."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

import structlog
from structlog.typing import WrappedLogger

_QUIET = {
    # APScheduler logs every job submission at INFO; the daemon logs one line per run instead.
    "apscheduler": logging.WARNING,
    "posthog": logging.WARNING,
    "sqlalchemy": logging.WARNING,
    "alembic": logging.WARNING,
    "urllib3": logging.WARNING,
}


class Redactor:
    """Masks every known secret value: in each field before rendering, then in the line itself."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern = _URL_PASSWORD
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Mask `secret` from now on (a key discovered at run time, say)."""
        if not secret:
            return
        # As written, and as JSON escapes it (quotes, backslashes, non-ASCII characters).
        self._secrets |= {
            secret,
            json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=False)[1:-1],
        }
        # Longest first, so a URL is masked whole before the password inside it is. A secret
        # shorter than a word is masked where it stands alone, not inside every word holding it.
        alternatives = [
            re.escape(value)
            if len(value) >= _SHORTEST_ANYWHERE
            else rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])"
            for value in sorted(self._secrets, key=len, reverse=True)
        ]
        self._pattern = re.compile("|".join([*alternatives, _URL_PASSWORD.pattern]))

    def mask(self, text: str) -> str:
        """`text` with every known secret, and any URL's password, replaced by ***."""
        return self._pattern.sub(_masked, text)

    def fields(self, logger: WrappedLogger, name: str, event_dict: Any) -> Any:
        """Processor: mask secrets in every string field, before anything renders them."""
        return {key: self._scrub(value) for key, value in event_dict.items()}

    def __call__(self, logger: WrappedLogger, name: str, line: Any) -> Any:
        """Processor after the renderer: mask secrets in the rendered line, whatever printed it."""
        return self.mask(line) if isinstance(line, str) else line

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {key: self._scrub(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(item) for item in value]
        return value


_SHORTEST_ANYWHERE = 4
# The password of any URL with credentials (scheme://user:password@host), known or not.
_URL_PASSWORD = re.compile(r"(?P<userinfo>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@")


def _masked(match: re.Match[str]) -> str:
    userinfo = match.group("userinfo")
    return f"{userinfo}***@" if userinfo is not None else "***"


_active = Redactor()


def mask(text: str) -> str:
    """`text` with the secrets the last `configure` was given masked (for what is stored)."""
    return _active.mask(text)


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def proxy_secrets(environ: Mapping[str, str]) -> list[str]:
    """The passwords in the proxy variables (either case), which requests sends on its own."""
    found = []
    for name in PROXY_VARIABLES:
        for variable in (name, name.lower()):
            password = urlsplit(environ.get(variable, "")).password
            if password:
                found += [password, unquote(password)]
    return found


class MaskedStream(io.TextIOBase):
    """A text stream masking secrets line by line: print, tracebacks, a library's own output."""

    def __init__(self, inner: TextIO, redactor: Redactor) -> None:
        self.inner = inner
        self.redactor = redactor
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        """Write every complete line, masked; keep a partial line until it ends or is flushed."""
        with self._lock:
            self._pending += text
            if "\n" in self._pending:
                lines, _, self._pending = self._pending.rpartition("\n")
                self.inner.write(self.redactor.mask(lines + "\n"))
        return len(text)

    def flush(self) -> None:
        """Write what is pending, masked, and flush the stream beneath."""
        with self._lock:
            if self._pending:
                self.inner.write(self.redactor.mask(self._pending))
                self._pending = ""
        self.inner.flush()

    def isatty(self) -> bool:
        """Whether the stream beneath is a terminal."""
        return self.inner.isatty()

    def fileno(self) -> int:
        """The stream beneath's descriptor."""
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """The stream beneath's encoding."""
        return self.inner.encoding


def mask_streams(redactor: Redactor) -> None:
    """Mask secrets in everything written to stdout and stderr from now on."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, MaskedStream):
            stream.flush()
            stream.redactor = redactor
        else:
            setattr(sys, name, MaskedStream(stream, redactor))


def configure(
    level: str = "info",
    fmt: str = "auto",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> Redactor:
    """Route structlog and stdlib logging through one renderer on `stream` (stdout by default)."""
    global _active  # noqa: PLW0603 - what outbox errors are masked with before they are stored
    out = stream or sys.stdout
    redactor = _active = Redactor(secrets)
    as_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redactor.fields,
    ]
    renderer: Any
    if as_json:
        # Plain tracebacks: structlog's dict tracebacks would print frame locals, secrets included.
        # "msg", not structlog's "event": these lines talk about PostHog events a lot.
        shared_tail: list[Any] = [
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("msg"),
            _leading("timestamp", "level", "logger", "msg"),
        ]
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    else:
        shared_tail = []
        renderer = structlog.dev.ConsoleRenderer(
            colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *shared_tail,
                renderer,
                redactor,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name, quiet in _QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, root.level))
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    return redactor


def _leading(*names: str) -> Any:
    """A processor putting `names` first, so a JSON line reads time, level, logger, message."""

    def reorder(logger: WrappedLogger, name: str, event_dict: Any) -> Any:
        first = {key: event_dict.pop(key) for key in names if key in event_dict}
        return {**first, **event_dict}

    return reorder
