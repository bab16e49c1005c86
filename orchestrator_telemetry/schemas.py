"""A JSON Schema per event, payload format and mode, generated from the catalogue, and enforced.

Every Heartbeat and Summary is validated against its schema before it is recorded: nothing
outside the allowlist, of the wrong type, or breaking omitempty can be stored or sent. The
generated schemas also ship in the wheel (`orchestrator_telemetry/payload_schemas/`) and are
printed by the `schema` command.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any, Final

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator

from .collect.catalogue import Layout, Metric, by_key, layout, summary_layout
from .collect.payload import MODE_NAMES
from .errors import PayloadInvalid
from .events import INSTALLER_EVENTS, SUMMARY_KEYS, EventName

FORMATS: Final = ("documented", "extended")
MODES: Final = ("full", "ea-only")
EVENTS: Final = (EventName.SUMMARY.value, EventName.HEARTBEAT.value)
DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
_ID: Final = "urn:orchestrator-telemetry:schema:"
# As `events.rfc3339` writes it: UTC, `Z`, fractional seconds only when there are some.
RFC3339_UTC: Final = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d*[1-9])?Z$"


# omitempty in Go, but the envelope always sets them (reference §2): never absent.
_ENVELOPE_ALWAYS_SET: Final = frozenset({"serverVersion", "devtronVersion", "devtronMode"})


def schema_for(event: str, payload_format: str, mode: str) -> dict[str, Any]:
    """The JSON Schema of the properties of `event` in `payload_format` and `mode`."""
    if payload_format not in FORMATS:
        raise ValueError(f"unknown payload format {payload_format!r}; expected one of {FORMATS}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    if event in {name.value for name in INSTALLER_EVENTS}:
        return _installer(event)
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; expected Summary, Heartbeat or an installer's")
    if payload_format == "documented":
        return _documented(event, mode)
    return _extended(event, mode)


def validate(capture: Mapping[str, Any], payload_format: str, mode: str) -> None:
    """Raise `PayloadInvalid` unless the capture's properties match their schema."""
    event = str(capture.get("event"))
    error = best_match(_validator(event, payload_format, mode).iter_errors(capture["properties"]))
    if error is not None:
        where = error.json_path.removeprefix("$") or " (the properties)"
        message = error.message.splitlines()[0]
        raise PayloadInvalid(
            f"{event} ({payload_format}, {mode}) property{where}: {message}; it is not recorded"
        )


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


def shipped(event: str, payload_format: str, mode: str) -> dict[str, Any]:
    """The schema file the wheel ships for `event`, `payload_format` and `mode`."""
    name = file_name(event, payload_format, mode)
    text = (files("orchestrator_telemetry") / "payload_schemas" / name).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def file_name(event: str, payload_format: str, mode: str) -> str:
    """Where the generated schema of one event, format and mode is kept."""
    return f"{event}.{payload_format}.{mode}.json"


# JSON Schema calls 2.0 an integer; the payload must not carry a float where Go sends an int.
_Strict = validators.extend(  # type: ignore[no-untyped-call]  # jsonschema leaves it untyped
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda checker, value: isinstance(value, int) and not isinstance(value, bool)
    ),
)


@cache
def _validator(event: str, payload_format: str, mode: str) -> Validator:
    validator: Validator = _Strict(schema_for(event, payload_format, mode))
    return validator


def _document(
    event: str, title: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {
        "$schema": DRAFT,
        "$id": _ID + title.replace(" ", "."),
        "title": title,
        "description": f"The properties of a {event} event (PostHog adds its own `$` ones).",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _envelope(event_type: Any) -> dict[str, Any]:
    return {
        "ucid": {"type": "string", "minLength": 1},
        "timestamp": {"type": "string", "pattern": RFC3339_UTC},
        "eventType": {"const": event_type},
        "devtronVersion": {"type": "string", "minLength": 1},
        "serverVersion": {"type": "string", "minLength": 1},
    }


def _documented(event: str, mode: str) -> dict[str, Any]:
    name = EventName(event)
    properties = _envelope(name.event_type)
    if name is EventName.SUMMARY:
        counts = {key: _count(by_key(key)) for key in SUMMARY_KEYS}
        properties["summary"] = {
            "type": "object",
            "properties": counts,
            "required": list(SUMMARY_KEYS),
            "additionalProperties": False,
        }
    return _document(event, f"{event} documented {mode}", properties, list(properties))


def _installer(event: str) -> dict[str, Any]:
    properties = _envelope(EventName(event).event_type)
    return _document(event, f"{event} installer", properties, list(properties))


def _extended(event: str, mode: str) -> dict[str, Any]:
    which: Layout = (
        "heartbeat" if event == EventName.HEARTBEAT.value else summary_layout("extended", mode)
    )
    metrics = layout(which)
    properties = {metric.key: _property(metric, event, mode) for metric in metrics}
    required = [m.key for m in metrics if not m.omit or m.key in _ENVELOPE_ALWAYS_SET]
    return _document(event, f"{event} extended {mode}", properties, required)


def _count(metric: Metric) -> dict[str, Any]:
    return {"type": "integer", "minimum": -1, "description": metric.meaning}


def _property(metric: Metric, event: str, mode: str) -> dict[str, Any]:
    fixed: dict[str, Any] = {
        "eventType": {"const": event},
        "devtronMode": {"const": MODE_NAMES[mode]},
        "timestamp": {"type": "string", "pattern": RFC3339_UTC},
        "LastLoginTime": {"type": "string", "pattern": RFC3339_UTC},
        "ExternalHelmAppClusterCount": {"type": "object", "maxProperties": 0},
    }
    if event == EventName.HEARTBEAT.value and metric.from_database:
        fixed[metric.key] = {"const": metric.heartbeat}
    if metric.key in fixed:
        schema: dict[str, Any] = fixed[metric.key]
    elif metric.type == "int":
        schema = _count(metric)
        if metric.omit:
            schema["not"] = {"const": 0}  # omitempty: a zero is left out, never sent
    elif metric.type == "bool":
        schema = {"const": True} if metric.omit else {"type": "boolean"}
    elif metric.type == "list":
        schema = {
            "type": "array",
            "items": {"type": "string"},
            "uniqueItems": True,
            "minItems": 1 if metric.omit else 0,
        }
    else:
        schema = {"type": "string", "minLength": 1}  # omitempty drops "", and no other is empty
    return {**schema, "description": metric.meaning}


def generated() -> dict[str, dict[str, Any]]:
    """Every schema the wheel ships, by file name."""
    return {
        file_name(event, payload_format, mode): schema_for(event, payload_format, mode)
        for event in EVENTS
        for payload_format in FORMATS
        for mode in MODES
    }
