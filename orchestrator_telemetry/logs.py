"""Logging: structlog for our events and for the stdlib loggers of every library, one renderer."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

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
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Mask `secret` from now on (a key discovered at run time, say)."""
        # Shorter values would mask ordinary words; a secret that short is no secret anyway.
        if len(secret) < _SHORTEST_SECRET:
            return
        # As written, and as JSON escapes it (quotes, backslashes, non-ASCII characters).
        found = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
        # Longest first, so a URL is masked whole before the password inside it is.
        self._secrets = sorted(set(self._secrets) | found, key=len, reverse=True)

    def mask(self, text: str) -> str:
        """`text` with every known secret replaced by ***."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

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


_SHORTEST_SECRET = 4


def configure(
    level: str = "info",
    fmt: str = "auto",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> Redactor:
    """Route structlog and stdlib logging through one renderer on `stream` (stdout by default)."""
    out = stream or sys.stdout
    redactor = Redactor(secrets)
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
