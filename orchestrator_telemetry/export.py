"""Export files: recorded events carried by hand out of an installation without egress.

One JSON document, `{"format": FORMAT, "batch": [capture, ...]}`, each capture exactly what
PostHog's batch API would receive (before the posthog client adds its `$` properties): nothing
else, no key, no URL. A file is read whole and checked whole before a single event of it is sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from . import schemas
from .events import Event
from .history import Entry

FORMAT = "orchestrator-telemetry/export/v1"


class ExportInvalid(ValueError):
    """The file is not a valid export; the message is one line naming what is wrong."""


def document(entries: Iterable[Entry]) -> dict[str, Any]:
    """The export document of these events, ordered by timestamp."""
    captures = sorted((entry.event.to_capture() for entry in entries), key=_chronological)
    return {"format": FORMAT, "batch": captures}


def parse(text: str) -> list[dict[str, Any]]:
    """The events of an export document, each checked against its payload schema."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExportInvalid(
            f"not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(data, dict) or "format" not in data:
        raise ExportInvalid(f'not an export: no "format" marker (expected "{FORMAT}")')
    if data["format"] != FORMAT:
        raise ExportInvalid(f'unknown format {data["format"]!r}; this version reads "{FORMAT}"')
    unknown = sorted(set(data) - {"format", "batch"})
    if unknown:
        raise ExportInvalid(f"unknown top-level keys {unknown}; an export holds format and batch")
    batch = data.get("batch")
    if not isinstance(batch, list):
        raise ExportInvalid('"batch" must be a list of events')
    seen: set[str] = set()
    for index, capture in enumerate(batch):
        if not isinstance(capture, dict):
            raise ExportInvalid(f"batch[{index}]: must be an event object")
        try:
            schemas.validate_any(capture)
        except schemas.PayloadInvalid as exc:
            raise ExportInvalid(f"batch[{index}] ({_label(capture)}): {exc}") from None
        if capture["uuid"] in seen:
            raise ExportInvalid(f"batch[{index}] ({_label(capture)}): uuid appears twice")
        seen.add(capture["uuid"])
    return batch


def to_event(capture: Mapping[str, Any]) -> Event:
    """A checked capture as an Event, keeping its own uuid and timestamp."""
    timestamp = datetime.fromisoformat(capture["timestamp"])
    return Event(
        name=capture["event"],
        distinct_id=capture["distinct_id"],
        uuid=UUID(capture["uuid"]),
        period=timestamp,
        timestamp=timestamp,
        properties=dict(capture["properties"]),
    )


def label(event: Event) -> str:
    """How an event is named in messages: kind and uuid."""
    return f"{event.name} {event.uuid}"


def _label(capture: Mapping[str, Any]) -> str:
    return f"{capture.get('event', '?')} {capture.get('uuid', '?')}"


def _chronological(capture: Mapping[str, Any]) -> tuple[datetime, str]:
    return datetime.fromisoformat(capture["timestamp"]), str(capture["uuid"])
