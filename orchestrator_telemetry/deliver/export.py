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

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .. import schemas
from ..errors import ExportInvalid, PayloadInvalid
from ..events import Event, EventName
from ..state.history import Entry

FORMAT = "orchestrator-telemetry/export/v1"

# One entry of `batch`: the capture's envelope; its properties are checked by `schemas`.
_ENTRY = Draft202012Validator(
    {
        "type": "object",
        "properties": {
            "event": {"enum": [name.value for name in EventName]},
            "distinct_id": {"type": "string", "minLength": 1},
            "uuid": {
                "type": "string",
                "pattern": r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            },
            "timestamp": {"type": "string", "pattern": schemas.RFC3339_UTC},
            "properties": {"type": "object"},
        },
        "required": ["event", "distinct_id", "uuid", "timestamp", "properties"],
        "additionalProperties": False,
    }
)


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
        where = f"batch[{index}] ({_label(capture)})"
        try:
            _check(capture)
        except PayloadInvalid as exc:
            raise ExportInvalid(f"{where}: {exc}") from None
        if capture["uuid"] in seen:
            raise ExportInvalid(f"{where}: uuid appears twice")
        seen.add(capture["uuid"])
    return batch


def _check(capture: Any) -> None:
    """Raise PayloadInvalid unless `capture` is one event as the daemon records it."""
    error = best_match(_ENTRY.iter_errors(capture))
    if error is not None:
        where = error.json_path.removeprefix("$.") if error.json_path != "$" else "the event"
        raise PayloadInvalid(f"{where}: {error.message.splitlines()[0]}")
    schemas.validate_any(capture)
    ucid = capture["properties"].get("ucid", capture["distinct_id"])
    if capture["distinct_id"] != ucid:
        raise PayloadInvalid("distinct_id: differs from the ucid property")


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


def _label(capture: Any) -> str:
    if not isinstance(capture, dict):
        return "?"
    return f"{capture.get('event', '?')} {capture.get('uuid', '?')}"


def _chronological(capture: Mapping[str, Any]) -> tuple[datetime, str]:
    return datetime.fromisoformat(capture["timestamp"]), str(capture["uuid"])
