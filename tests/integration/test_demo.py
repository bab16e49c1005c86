"""`make demo` as a newcomer runs it: a sample installation whose Summary shows what it promised."""

from __future__ import annotations

import json
import re
import signal
import time

import pytest

from tests.support.cli import CliProcess, cli_env

pytestmark = pytest.mark.integration


def printed_events(process: CliProcess) -> list[dict[str, object]]:
    """The events the demo printed instead of sending (JSON objects with an `event` key)."""
    found = []
    for line in process.stdout_lines:
        if line.startswith("{"):
            parsed = json.loads(line)
            if "event" in parsed and "uuid" in parsed:
                found.append(parsed)
    return found


@pytest.mark.parametrize("payload_format", ["documented", "extended"])
def test_the_demo_prints_a_heartbeat_and_the_summary_it_promised_then_stops_on_ctrl_c(
    payload_format: str,
) -> None:
    env = cli_env(OT_PAYLOAD_FORMAT=payload_format)
    with CliProcess("demo", env=env) as demo:
        deadline = time.monotonic() + 60
        while {event["event"] for event in printed_events(demo)} < {"Heartbeat", "Summary"}:
            assert time.monotonic() < deadline, demo.describe()
            assert demo.process.poll() is None, demo.describe()
            time.sleep(0.2)
        code = demo.stop(signal.SIGINT)

    assert code == 0, demo.describe()
    [summary] = [event for event in printed_events(demo) if event["event"] == "Summary"]
    properties = summary["properties"]
    assert isinstance(properties, dict)
    if payload_format == "extended":
        assert (properties["eventType"], properties["devtronMode"]) == ("Summary", "FULL")
        return
    # The documented Summary shows exactly the counts the demo promised before starting.
    [promise] = [line for line in demo.stdout_lines if line.startswith("demo: sample installation")]
    promised = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", promise)}
    assert properties["summary"] == promised
