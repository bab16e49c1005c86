"""The JSON Schemas of every payload: what an event of each kind, format and mode may hold.

A capture is one event as PostHog's batch API receives it (`Event.to_capture()`), before the
posthog client adds its `$` properties. The schemas are closed (`additionalProperties: false`), so
a property nobody documented is refused, not passed on.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .events import SUMMARY_KEYS, EventName

# Payload formats and the modes each one has; the documented format is the one Devtron publishes.
FORMATS: Mapping[str, tuple[str, ...]] = {"documented": ("full",)}

_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# As `events.rfc3339` writes it: UTC, `Z`, fractional seconds only when there are some.
_RFC3339_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"
_TEXT: dict[str, Any] = {"type": "string", "minLength": 1}
# A count is -1 when it could not be computed, never anything lower.
_COUNT: dict[str, Any] = {"type": "integer", "minimum": -1}


class PayloadInvalid(ValueError):
    """A payload does not match the schema of its kind; the message is one line saying why."""


def schema_for(event: str, payload_format: str, mode: str) -> dict[str, Any]:
    """The JSON Schema of one capture of `event` in `payload_format` and `mode`."""
    if mode not in FORMATS.get(payload_format, ()):
        known = ", ".join(f"{name}/{m}" for name, modes in FORMATS.items() for m in modes)
        raise ValueError(f"unknown payload format {payload_format}/{mode}; known: {known}")
    try:
        name = EventName(event)
    except ValueError:
        raise ValueError(f"unknown event {event!r}") from None
    properties: dict[str, Any] = {
        "ucid": _TEXT,
        "timestamp": {"type": "string", "pattern": _RFC3339_UTC},
        "eventType": {"const": name.event_type},
        "devtronVersion": _TEXT,
        "serverVersion": _TEXT,
    }
    if name is EventName.SUMMARY:
        properties["summary"] = _closed(dict.fromkeys(SUMMARY_KEYS, _COUNT))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{name.value} ({payload_format}, {mode})",
        **_closed(
            {
                "event": {"const": name.value},
                "distinct_id": _TEXT,
                "uuid": {"type": "string", "pattern": _UUID},
                "timestamp": {"type": "string", "pattern": _RFC3339_UTC},
                "properties": _closed(properties),
            }
        ),
    }


def validate(capture: Mapping[str, Any], payload_format: str, mode: str) -> None:
    """Raise PayloadInvalid unless `capture` matches its kind's schema in this format and mode."""
    name = capture.get("event")
    if not isinstance(name, str) or name not in set(EventName):
        raise PayloadInvalid(f"event: unknown event {name!r}")
    error = best_match(_validator(name, payload_format, mode).iter_errors(capture))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(event)"
        raise PayloadInvalid(f"{where}: {error.message}")
    if capture["distinct_id"] != capture["properties"]["ucid"]:
        raise PayloadInvalid("distinct_id: differs from properties/ucid")


def validate_any(capture: Mapping[str, Any]) -> None:
    """Raise PayloadInvalid unless `capture` matches its kind's schema in some known format."""
    reasons: list[str] = []
    for payload_format, modes in FORMATS.items():
        for mode in modes:
            try:
                validate(capture, payload_format, mode)
            except PayloadInvalid as exc:
                reasons.append(str(exc))
            else:
                return
    raise PayloadInvalid(reasons[0] if len(set(reasons)) == 1 else "; ".join(reasons))


def _closed(properties: dict[str, Any]) -> dict[str, Any]:
    """An object with exactly these properties, every one required."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


@cache
def _validator(event: str, payload_format: str, mode: str) -> Draft202012Validator:
    schema = schema_for(event, payload_format, mode)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)
