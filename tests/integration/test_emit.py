"""`emit EVENT`: an installer lifecycle event, for a Helm hook or an init container.

It carries the same identity and envelope as Heartbeat and Summary, goes through the same outbox
(recorded before it is sent, kept when it is not), and each call is a new event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text

from orchestrator_telemetry.schedule import utc_now
from tests.support.capture import CaptureServer, Reply
from tests.support.cli import API_KEY, cli_env, plain_url, run_cli

pytestmark = pytest.mark.integration

UCID = "emitucid00000042"
SCHEMA = "orchestrator_telemetry"
ENVELOPE = {"ucid", "timestamp", "eventType", "devtronVersion", "serverVersion"}


@pytest.fixture
def env(orchestrator_db_url: str, capture: CaptureServer) -> dict[str, str]:
    """A configured installation delivering to `capture`."""
    return cli_env(
        OT_DATABASE_URL=plain_url(orchestrator_db_url),
        OT_POSTHOG_HOST=capture.url,
        OT_POSTHOG_API_KEY=API_KEY,
        OT_IDENTITY_UCID=UCID,
        OT_DEVTRON_VERSION="v0.7.1",
        OT_DEVTRON_SERVER_VERSION="v1.29.4+k3s1",
    )


def own_properties(event: dict[str, Any]) -> dict[str, Any]:
    """The event's properties without the `$` ones the posthog client adds."""
    return {key: value for key, value in event["properties"].items() if not key.startswith("$")}


def outbox_rows(engine: Engine) -> list[tuple[str, str, str]]:
    """(uuid, event, status) of every recorded event."""
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT uuid, event, status FROM {SCHEMA}.outbox")).all()
    return [(str(uuid), event, status) for uuid, event, status in rows]


def test_emit_installation_success_sends_one_event_in_the_documented_envelope(
    env: dict[str, str], capture: CaptureServer
) -> None:
    before = utc_now()

    result = run_cli("emit", "InstallationSuccess", env=env)

    after = utc_now()
    assert result.returncode == 0, result.describe()
    [event] = capture.events
    assert event["event"] == "InstallationSuccess"
    assert event["distinct_id"] == UCID
    properties = own_properties(event)
    assert set(properties) == ENVELOPE
    assert properties["eventType"] == 2
    assert properties["ucid"] == UCID
    assert properties["devtronVersion"] == "v0.7.1"
    assert properties["serverVersion"] == "v1.29.4+k3s1"
    stamped = datetime.fromisoformat(event["timestamp"])
    assert datetime.fromisoformat(properties["timestamp"]) == stamped
    assert properties["timestamp"].endswith("Z")  # RFC 3339 in UTC, as Devtron writes it
    assert before <= stamped <= after
    assert event["properties"]["$geoip_disable"] is True
    [finished] = [line for line in result.logs if line["msg"] == "emit finished"]
    assert finished["uuid"] == event["uuid"]


def test_an_installer_event_without_a_documented_number_carries_its_name(
    env: dict[str, str], capture: CaptureServer
) -> None:
    result = run_cli("emit", "UpgradeStart", env=env)

    assert result.returncode == 0, result.describe()
    [event] = capture.events
    assert event["event"] == "UpgradeStart"
    assert own_properties(event)["eventType"] == "UpgradeStart"


def test_an_unknown_event_is_a_usage_error(capture: CaptureServer) -> None:
    # No database is needed to refuse it: the arguments are checked first.
    result = run_cli("emit", "Bogus", env=cli_env())

    assert result.returncode == 2, result.describe()
    assert "invalid choice" in result.stderr
    assert "InstallationSuccess" in result.stderr  # the choices are listed
    assert "Traceback" not in result.output
    assert capture.requests == []


@pytest.mark.parametrize("name", ["Heartbeat", "Summary"])
def test_the_daemons_own_events_cannot_be_emitted(name: str) -> None:
    result = run_cli("emit", name, env=cli_env())

    assert result.returncode == 2, result.describe()


def test_an_event_posthog_refused_is_kept_and_delivered_by_the_next_run_as_the_same_event(
    env: dict[str, str], orchestrator_engine: Engine, capture: CaptureServer
) -> None:
    capture.respond_with(Reply.error(503))

    failed = run_cli("emit", "InstallationSuccess", env=env)

    assert failed.returncode == 0, failed.describe()  # recorded: the daemon delivers it later
    assert capture.events == []
    [(kept_uuid, kept_event, status)] = outbox_rows(orchestrator_engine)
    assert (kept_event, status) == ("InstallationSuccess", "pending")
    [refused] = capture.requests
    assert [event["uuid"] for event in refused.batch] == [kept_uuid]

    later = run_cli("once", "--event", "heartbeat", env=env)

    assert later.returncode == 0, later.describe()
    [delivered] = capture.events_named("InstallationSuccess")
    assert delivered["uuid"] == kept_uuid
    assert delivered["timestamp"] == refused.batch[0]["timestamp"]
    assert own_properties(delivered) == own_properties(refused.batch[0])
    assert (kept_uuid, "InstallationSuccess", "sent") in outbox_rows(orchestrator_engine)


def test_each_emit_is_a_new_event(env: dict[str, str], capture: CaptureServer) -> None:
    first = run_cli("emit", "InstallationStart", env=env)
    second = run_cli("emit", "InstallationStart", env=env)

    assert (first.returncode, second.returncode) == (0, 0), first.describe() + second.describe()
    events = capture.events
    assert [event["event"] for event in events] == ["InstallationStart"] * 2
    assert events[0]["uuid"] != events[1]["uuid"]
    stamps = [datetime.fromisoformat(event["timestamp"]) for event in events]
    assert stamps[0] < stamps[1]
    assert {own_properties(event)["eventType"] for event in events} == {1}
