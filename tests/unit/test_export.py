"""An export file is read whole and refused whole: the envelope, then each event's properties."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from orchestrator_telemetry import events
from orchestrator_telemetry.deliver.export import FORMAT, parse, to_event
from orchestrator_telemetry.errors import ExportInvalid

UCID = "abcdefgh12345678"
VERSIONS = events.Versions("v1", "v1.29.4+k3s1")


def document() -> dict[str, Any]:
    slot = datetime(2026, 11, 25, tzinfo=UTC)
    summary = events.summary(UCID, VERSIONS, slot, dict.fromkeys(events.SUMMARY_KEYS, 2))
    moment = datetime(2026, 11, 25, 6, 1, 2, 345000, tzinfo=UTC)
    upgrade = events.installer(events.EventName.UPGRADE_SUCCESS, UCID, VERSIONS, moment)
    return {"format": FORMAT, "batch": [summary.to_capture(), upgrade.to_capture()]}


def test_what_the_daemon_records_is_read_back_as_the_same_events() -> None:
    original = document()

    read = [to_event(capture).to_capture() for capture in parse(json.dumps(original))]

    assert read == original["batch"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["batch"][0].update(timestamp="2026-11-25 00:00:00"), "timestamp"),
        (lambda d: d["batch"][0].update(uuid="86367762"), "uuid"),
        (lambda d: d["batch"][0].update(distinct_id="someoneelse00000"), "distinct_id"),
        (lambda d: d["batch"][0].update(event="Summry"), "event"),
        (lambda d: d["batch"][0].update(token="x"), "'token' was unexpected"),
        (lambda d: d["batch"][0].pop("properties"), "properties"),
        (lambda d: d["batch"][1]["properties"].update(eventType=4.5), "eventType"),
        (lambda d: d["batch"].append("Summary"), "batch[2]"),
        (lambda d: d.update(batch={}), "batch"),
        (lambda d: d.update(signed_by="me"), "signed_by"),
    ],
    ids=[
        "timestamp",
        "uuid",
        "distinct_id",
        "event",
        "extra key",
        "no properties",
        "eventType",
        "not an object",
        "batch not a list",
        "extra top-level key",
    ],
)
def test_a_bad_file_is_refused_with_one_line_naming_the_problem(change: Any, named: str) -> None:
    bad = copy.deepcopy(document())
    change(bad)

    with pytest.raises(ExportInvalid) as refused:
        parse(json.dumps(bad))

    assert named in str(refused.value)
    assert "\n" not in str(refused.value)


def test_text_that_is_not_json_names_where_it_breaks() -> None:
    with pytest.raises(ExportInvalid, match=r"not JSON \(line 2, column 1"):
        parse('{"format":\n}')
