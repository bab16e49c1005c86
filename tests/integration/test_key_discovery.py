"""The PostHog key, asked of Devtron's key endpoint when none is configured.

Devtron's orchestrator fetches its PostHog key and host at start and never retries; here the
key endpoint is asked only when an event is to be sent, retried with backoff, and a failure
costs nothing: the events wait in the outbox for the next try. Commands run as subprocesses.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text

from orchestrator_telemetry import events
from orchestrator_telemetry.deliver.access import KeyDiscovery, session
from orchestrator_telemetry.deliver.sinks import EventSink, LazySink, PosthogSink
from orchestrator_telemetry.errors import AuthenticationError
from orchestrator_telemetry.events import Versions
from tests.support.capture import CaptureServer, Reply
from tests.support.cli import CliResult, cli_env, plain_url, run_cli
from tests.support.devtron_api import DISCOVERED_KEY, KEY_PATH, FakeDevtronApi
from tests.support.slots import settled_schedules

pytestmark = pytest.mark.integration

SCHEMA = "orchestrator_telemetry"
SLOT = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


@pytest.fixture
def devtron(capture: CaptureServer) -> Iterator[FakeDevtronApi]:
    """Devtron's key endpoint, handing out DISCOVERED_KEY for `capture`."""
    with FakeDevtronApi(api_key=DISCOVERED_KEY, posthog_endpoint=capture.url) as api:
        yield api


@pytest.fixture
def env(orchestrator_db_url: str, devtron: FakeDevtronApi) -> dict[str, str]:
    """No API key and no PostHog host configured: only the key endpoint.

    Two runs of a test report the same slots, even across midnight or a six-hour mark.
    """
    return cli_env(
        OT_DATABASE_URL=plain_url(orchestrator_db_url),
        OT_POSTHOG_KEY_URL=devtron.key_url,
        **settled_schedules().env(),
    )


def outbox(engine: Engine) -> dict[str, tuple[str, str]]:
    """Each recorded event's name, by uuid, with its status."""
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT uuid, event, status FROM {SCHEMA}.outbox")).all()
    return {str(uuid): (event, status) for uuid, event, status in rows}


def assert_key_not_printed(result: CliResult) -> None:
    encoded = base64.b64encode(DISCOVERED_KEY.encode()).decode()
    assert DISCOVERED_KEY not in result.output
    assert encoded not in result.output


def accepted_uuids(capture: CaptureServer) -> dict[str, str]:
    """The uuid of each event PostHog accepted, by event name."""
    return {event["event"]: event["uuid"] for event in capture.events}


def test_the_key_and_host_from_the_key_endpoint_are_used_to_send(
    env: dict[str, str], capture: CaptureServer, devtron: FakeDevtronApi
) -> None:
    result = run_cli("once", env=env)

    assert result.returncode == 0, result.describe()
    assert {event["event"] for event in capture.events} == {"Summary", "Heartbeat"}
    assert capture.api_keys == [DISCOVERED_KEY, DISCOVERED_KEY]
    # Asked once per process, with a GET, and nothing else asked of Devtron.
    assert [(r.method, r.path) for r in devtron.requests] == [("GET", KEY_PATH)]
    assert_key_not_printed(result)
    [discovered] = [line for line in result.logs if line["msg"] == "posthog key discovered"]
    assert discovered["host"] == capture.url


def test_a_failing_key_endpoint_keeps_the_event_until_it_recovers(
    env: dict[str, str],
    orchestrator_engine: Engine,
    capture: CaptureServer,
    devtron: FakeDevtronApi,
) -> None:
    # One event: every event of a pass asks the failing endpoint again, with its own retries.
    devtron.fail("key", 503)

    failed = run_cli("once", "--event", "heartbeat", env=env)

    assert failed.returncode == 1, failed.describe()
    assert capture.requests == []
    kept = outbox(orchestrator_engine)
    assert [(event, status) for event, status in kept.values()] == [("Heartbeat", "pending")]
    [failure] = [line for line in failed.logs if line["msg"] == "delivery failed; will retry"]
    assert devtron.key_url in failure["reason"]
    assert failure["level"] == "warning"
    assert "Traceback" not in failed.output
    assert_key_not_printed(failed)

    devtron.recover("key")
    recovered = run_cli("once", "--event", "heartbeat", env=env)

    assert recovered.returncode == 0, recovered.describe()
    assert accepted_uuids(capture) == {event: uuid for uuid, (event, _) in kept.items()}
    assert outbox(orchestrator_engine) == dict.fromkeys(kept, ("Heartbeat", "sent"))
    assert_key_not_printed(recovered)


def test_a_key_endpoint_failing_twice_is_retried_within_one_run(
    env: dict[str, str], capture: CaptureServer, devtron: FakeDevtronApi
) -> None:
    devtron.fail("key", 503, times=2)

    result = run_cli("once", env=env)

    assert result.returncode == 0, result.describe()
    assert [r.status for r in devtron.requests] == [503, 503, 200]
    assert {event["event"] for event in capture.events} == {"Summary", "Heartbeat"}
    assert set(capture.api_keys) == {DISCOVERED_KEY}


def test_an_answer_without_an_endpoint_sends_to_the_configured_host(
    env: dict[str, str], capture: CaptureServer, devtron: FakeDevtronApi
) -> None:
    devtron.posthog_endpoint = None

    result = run_cli("once", env={**env, "OT_POSTHOG_HOST": capture.url})

    assert result.returncode == 0, result.describe()
    assert set(capture.api_keys) == {DISCOVERED_KEY}
    assert len(capture.events) == 2


def test_a_configured_key_wins_and_the_key_endpoint_is_never_asked(
    env: dict[str, str], capture: CaptureServer, devtron: FakeDevtronApi
) -> None:
    configured: dict[str, Any] = {
        **env,
        "OT_POSTHOG_API_KEY": "phc_configuredlocally000",
        "OT_POSTHOG_HOST": capture.url,
    }

    result = run_cli("once", env=configured)

    assert result.returncode == 0, result.describe()
    assert devtron.requests == []
    assert set(capture.api_keys) == {"phc_configuredlocally000"}


def test_a_key_posthog_refuses_is_asked_for_again_and_the_rotated_key_delivers(
    capture: CaptureServer, devtron: FakeDevtronApi
) -> None:
    """A key found once used to be kept for the life of the process, rotated or not."""
    rotated = "phc_rotatedkeyafterrevocation"
    discovery = KeyDiscovery(
        devtron.key_url, default_host=capture.url, timeout=(2.0, 2.0), http=session(10.0)
    )
    now = [0.0]

    def discovered() -> EventSink:
        target = discovery.target()
        return PosthogSink(target.api_key, host=target.host, timeout=2, key_source=target.source)

    sink = LazySink("posthog", discovered, quiet=60.0, monotonic=lambda: now[0])
    capture.respond_with(Reply.error(401, "Invalid API key."))
    event = events.heartbeat("abcdefgh12345678", Versions("v1", "v1.29.4"), SLOT)

    with pytest.raises(AuthenticationError):
        sink.send(event)
    devtron.api_key = rotated
    with pytest.raises(AuthenticationError):
        sink.send(event)  # within the quiet period: not asked again, nothing sent
    now[0] += 60.0
    sink.send(event)
    sink.close()

    assert len(devtron.key_requests) == 2
    assert capture.api_keys == [DISCOVERED_KEY, rotated]
    assert [accepted["uuid"] for accepted in capture.events] == [str(event.uuid)]
