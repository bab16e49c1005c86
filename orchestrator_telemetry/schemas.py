"""The JSON Schemas of every payload: the properties each kind, format and mode may hold.

The schemas are closed (`additionalProperties: false`), so a property nobody documented is
refused, not passed on. PostHog's client adds its own `$` properties after this check.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .events import SUMMARY_KEYS, EventName

FORMATS: Final = ("documented",)  # the payload Devtron publishes
MODES: Final = ("full",)
DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
# As `events.rfc3339` writes it: UTC, `Z`, fractional seconds only when there are some.
RFC3339_UTC: Final = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d*[1-9])?Z$"


class PayloadInvalid(ValueError):
    """An event does not match its schema; the message says which property and why, in one line."""


def schema_for(event: str, payload_format: str, mode: str) -> dict[str, Any]:
    """The JSON Schema of the properties of `event` in `payload_format` and `mode`."""
    if payload_format not in FORMATS:
        raise ValueError(f"unknown payload format {payload_format!r}; expected one of {FORMATS}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    try:
        name = EventName(event)
    except ValueError:
        raise ValueError(f"unknown event {event!r}") from None
    text: dict[str, Any] = {"type": "string", "minLength": 1}
    properties: dict[str, Any] = {
        "ucid": text,
        "timestamp": {"type": "string", "pattern": RFC3339_UTC},
        "eventType": {"const": name.event_type},
        "devtronVersion": text,
        "serverVersion": text,
    }
    if name is EventName.SUMMARY:
        # A count is -1 when it could not be computed, never anything lower.
        count = {"type": "integer", "minimum": -1}
        properties["summary"] = _closed(dict.fromkeys(SUMMARY_KEYS, count))
    return {
        "$schema": DRAFT,
        "title": f"{name.value} {payload_format} {mode}",
        **_closed(properties),
    }


def validate(capture: Mapping[str, Any], payload_format: str, mode: str) -> None:
    """Raise `PayloadInvalid` unless the capture's properties match their schema."""
    event = str(capture.get("event"))
    error = best_match(_validator(event, payload_format, mode).iter_errors(capture["properties"]))
    if error is not None:
        where = error.json_path.removeprefix("$") or " (the properties)"
        message = error.message.splitlines()[0]
        raise PayloadInvalid(f"{event} ({payload_format}, {mode}) property{where}: {message}")


def validate_any(capture: Mapping[str, Any]) -> None:
    """Raise `PayloadInvalid` unless the capture matches its schema in some format and mode."""
    reasons: list[str] = []
    for payload_format in FORMATS:
        for mode in MODES:
            try:
                validate(capture, payload_format, mode)
            except PayloadInvalid as exc:
                reasons.append(str(exc))
            else:
                return
    raise PayloadInvalid("; ".join(reasons))


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
    return Draft202012Validator(schema_for(event, payload_format, mode))
