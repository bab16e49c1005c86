"""Every event is checked against its JSON Schema; nothing outside the allowlist passes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator_telemetry import events, schemas
from orchestrator_telemetry.collect import payload
from orchestrator_telemetry.collect.catalogue import layout
from orchestrator_telemetry.errors import PayloadInvalid
from orchestrator_telemetry.schemas import schema_for, validate

SLOT = datetime(2026, 11, 25, tzinfo=UTC)
VERSIONS = events.Versions("v1", "v1.29.4+k3s1")
UCID = "abcdefgh12345678"
COUNTS = dict.fromkeys(events.SUMMARY_KEYS, 3)


def full_values() -> dict[str, Any]:
    """A value for every FULL metric read from the database: 1, true, a list, a string."""
    sample = {"int": 1, "bool": True, "list": ["cicd"], "str": "7"}
    values = {m.key: sample[m.type] for m in layout("full") if m.from_database}
    return values | {"LastLoginTime": "2026-11-24T22:00:00Z"}


def extended_summary(mode: payload.Mode = "full") -> dict[str, Any]:
    devtron = payload.Devtron(mode=mode, release_version="v1.2.0", git_version="abc")
    return payload.summary(UCID, VERSIONS, SLOT, full_values(), devtron).to_capture()


def test_the_events_the_daemon_builds_match_their_schemas() -> None:
    documented = events.summary(UCID, VERSIONS, SLOT, COUNTS).to_capture()
    validate(documented, "documented", "full")
    validate(events.heartbeat(UCID, VERSIONS, SLOT).to_capture(), "documented", "ea-only")
    validate(extended_summary("full"), "extended", "full")
    validate(extended_summary("ea-only"), "extended", "ea-only")
    for mode in schemas.MODES:
        devtron = payload.Devtron(mode=mode)
        validate(payload.heartbeat(UCID, VERSIONS, SLOT, devtron).to_capture(), "extended", mode)
    installer = events.installer(events.EventName.UPGRADE_START, UCID, VERSIONS, SLOT)
    validate(installer.to_capture(), "extended", "full")


def test_failure_values_match_the_schema() -> None:
    failed = {m.key: m.failure for m in layout("full") if m.from_database}
    capture = payload.summary(UCID, VERSIONS, SLOT, failed, payload.Devtron()).to_capture()
    validate(capture, "extended", "full")
    assert capture["properties"]["userCount"] == -1
    assert "installedIntegrations" not in capture["properties"]


def broken(capture: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(capture)
    changed["properties"].update(changes)
    return changed


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"hostname": "db.internal"}, "Additional properties are not allowed"),
        ({"userCount": 2.0}, "is not of type 'integer'"),
        ({"userCount": "2"}, "is not of type 'integer'"),
        ({"userCount": 0}, "should not be valid"),  # omitempty: a zero is never sent
        ({"userCount": -2}, "less than the minimum of -1"),
        ({"hostURL": False}, "True was expected"),
        ({"eventType": 6}, "'Summary' was expected"),
        ({"devtronMode": "EA_ONLY"}, "'FULL' was expected"),
        ({"installedIntegrations": ["cicd", "cicd"]}, "non-unique elements"),
        ({"ExternalHelmAppClusterCount": {"c": 1}}, "is expected to be empty"),
        ({"timestamp": "2026-11-25T00:00:00+00:00"}, "does not match"),
    ],
)
def test_an_extended_summary_outside_its_schema_is_refused_in_one_line(
    change: dict[str, Any], reason: str
) -> None:
    with pytest.raises(PayloadInvalid) as raised:
        validate(broken(extended_summary(), **change), "extended", "full")

    message = str(raised.value)
    assert reason in message
    assert message.startswith("Summary (extended, full) property")
    assert "\n" not in message


def test_a_full_only_key_is_refused_in_ea_only_mode() -> None:
    capture = extended_summary("ea-only")
    with pytest.raises(PayloadInvalid, match="appCount"):
        validate(broken(capture, appCount=3), "extended", "ea-only")


def test_a_missing_always_sent_key_is_refused() -> None:
    capture = extended_summary()
    del capture["properties"]["ciCreatedPerDay"]
    with pytest.raises(PayloadInvalid, match="'ciCreatedPerDay' is a required property"):
        validate(capture, "extended", "full")


def test_the_documented_summary_allows_only_its_six_integer_counts() -> None:
    capture = events.summary(UCID, VERSIONS, SLOT, COUNTS).to_capture()
    capture["properties"]["summary"]["prodAppCount"] = 1
    with pytest.raises(PayloadInvalid, match="prodAppCount"):
        validate(capture, "documented", "full")


def test_the_documented_heartbeat_has_no_summary() -> None:
    capture = events.heartbeat(UCID, VERSIONS, SLOT).to_capture()
    with pytest.raises(PayloadInvalid, match="summary"):
        validate(broken(capture, summary={}), "documented", "full")


def test_the_shipped_schemas_are_the_generated_ones() -> None:
    for event in schemas.EVENTS:
        for payload_format in schemas.FORMATS:
            for mode in schemas.MODES:
                assert schemas.shipped(event, payload_format, mode) == schema_for(
                    event, payload_format, mode
                )


def test_an_unknown_format_or_event_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown payload format 'flat'"):
        schema_for("Summary", "flat", "full")
    with pytest.raises(ValueError, match="unknown event 'Identify'"):
        schema_for("Identify", "documented", "full")
