"""Specification of the local capture server, exercised with the real posthog client."""

from __future__ import annotations

import gzip
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import posthog
import pytest
import requests
from posthog.request import APIError
from posthog.version import VERSION as POSTHOG_VERSION

from tests.support.capture import BATCH_PATH, CaptureServer, Reply

API_KEY = "phc_test"
CLIENT_TIMEOUT = 2.0

# Every event sent by posthog 7.x (sync_mode, disable_geoip, is_server left at its default)
# carries these `$` properties besides the caller's own, as observed on the wire:
#   $lib ("posthog-python"), $lib_version (POSTHOG_VERSION), $geoip_disable (True),
#   $is_server (True), $python_runtime, $python_version, $os, $os_version and, on Linux,
#   $os_distro. With no distinct_id the client also adds $process_person_profile=False,
#   and $release_id appears when POSTHOG_RELEASE_ID is set.
LIBRARY_PROPERTIES = {
    "$lib": "posthog-python",
    "$lib_version": POSTHOG_VERSION,
    "$geoip_disable": True,
}

ClientFactory = Callable[..., posthog.Posthog]


@pytest.fixture
def server() -> Iterator[CaptureServer]:
    """Run a capture server for one test."""
    with CaptureServer() as capture_server:
        yield capture_server


@pytest.fixture
def make_client(server: CaptureServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[ClientFactory]:
    """Build real posthog clients configured as the daemon configures its own."""
    # The environment must not switch the wire protocol or add properties under the test.
    monkeypatch.delenv("POSTHOG_CAPTURE_MODE", raising=False)
    monkeypatch.delenv("POSTHOG_RELEASE_ID", raising=False)
    clients: list[posthog.Posthog] = []

    def build(**overrides: Any) -> posthog.Posthog:
        options: dict[str, Any] = {
            "project_api_key": API_KEY,
            "host": server.url,
            "sync_mode": True,
            "debug": True,  # re-raise send errors instead of logging them
            "timeout": CLIENT_TIMEOUT,
            "disable_geoip": True,
            **overrides,
        }
        client = posthog.Posthog(**options)
        logging.getLogger("posthog").setLevel(logging.WARNING)  # debug=True turned on DEBUG
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.shutdown()


@pytest.fixture
def client(make_client: ClientFactory) -> posthog.Posthog:
    """Return a client in the daemon's configuration."""
    return make_client()


def _capture_one(client: posthog.Posthog, distinct_id: str = "installation-1") -> str:
    """Capture a minimal event and return its uuid."""
    event_uuid = str(uuid.uuid4())
    client.capture("Heartbeat", distinct_id=distinct_id, uuid=event_uuid)
    return event_uuid


def test_a_captured_event_arrives_as_one_batch_request_carrying_what_was_passed(
    server: CaptureServer, client: posthog.Posthog
) -> None:
    event_uuid = uuid.uuid4()
    timestamp = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    properties = {"ucid": "abc-123", "serverVersion": "v0.7.1", "clusters": 3, "nested": {"a": 1}}

    returned = client.capture(
        "Summary",
        distinct_id="installation-1",
        properties=properties,
        timestamp=timestamp,
        uuid=event_uuid,
    )

    assert returned == str(event_uuid)
    [request] = server.requests
    assert request.method == "POST"
    assert request.path == BATCH_PATH
    assert request.status == 200
    assert server.api_keys == [API_KEY]
    assert request.header("Content-Type") == "application/json"
    assert request.header("User-Agent") == f"posthog-python/{POSTHOG_VERSION}"
    assert datetime.fromisoformat(request.body["sent_at"]).tzinfo is not None

    [event] = server.events
    assert event["event"] == "Summary"
    assert event["distinct_id"] == "installation-1"
    assert event["uuid"] == str(event_uuid)
    assert event["timestamp"] == timestamp.isoformat()
    assert {k: v for k, v in event["properties"].items() if not k.startswith("$")} == properties
    assert LIBRARY_PROPERTIES.items() <= event["properties"].items()


def test_a_gzip_body_is_decoded(server: CaptureServer, make_client: ClientFactory) -> None:
    client = make_client(gzip=True)

    event_uuid = _capture_one(client)

    [request] = server.requests
    assert request.header("Content-Encoding") == "gzip"
    assert request.body["api_key"] == API_KEY
    assert [event["uuid"] for event in server.events] == [event_uuid]


def test_an_accepted_batch_answers_200_with_status_1(server: CaptureServer) -> None:
    body = gzip.compress(json.dumps({"api_key": API_KEY, "batch": []}).encode())

    response = requests.post(
        server.url + BATCH_PATH,
        data=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        timeout=CLIENT_TIMEOUT,
    )

    assert (response.status_code, response.json()) == (200, {"status": 1})


def test_a_scripted_503_makes_capture_raise_api_error_503(
    server: CaptureServer, client: posthog.Posthog
) -> None:
    server.respond_with(Reply.error(503))

    with pytest.raises(APIError) as raised:
        _capture_one(client)

    assert raised.value.status == 503
    assert [request.status for request in server.requests] == [503]
    assert server.events == []  # PostHog did not accept it
    assert server.api_keys == [API_KEY]  # but the key was sent


def test_a_scripted_400_makes_capture_raise_api_error_400_with_its_detail(
    server: CaptureServer, client: posthog.Posthog
) -> None:
    server.respond_with(Reply.error(400, "invalid event"))

    with pytest.raises(APIError) as raised:
        _capture_one(client)

    assert raised.value.status == 400
    assert raised.value.message == "invalid event"
    assert server.events == []


def test_a_retry_after_header_reaches_the_api_error(
    server: CaptureServer, client: posthog.Posthog
) -> None:
    server.respond_with(Reply.error(429, retry_after=7))

    with pytest.raises(APIError) as raised:
        _capture_one(client)

    assert (raised.value.status, raised.value.retry_after) == (429, 7.0)


def test_a_reply_slower_than_the_client_timeout_makes_capture_raise_a_timeout(
    server: CaptureServer, client: posthog.Posthog
) -> None:
    server.respond_with(Reply.slow(CLIENT_TIMEOUT + 1.5, status=503))
    started = time.monotonic()

    with pytest.raises(requests.exceptions.Timeout):
        _capture_one(client)

    assert time.monotonic() - started < CLIENT_TIMEOUT + 1
    assert len(server.requests) == 1  # recorded on arrival, before the delay


def test_a_slow_reply_still_counts_as_accepted_when_its_status_is_200(
    server: CaptureServer, make_client: ClientFactory
) -> None:
    client = make_client(timeout=0.2)
    server.respond_with(Reply.slow(1.0))
    event_uuid = str(uuid.uuid4())

    with pytest.raises(requests.exceptions.Timeout):
        client.capture("Heartbeat", distinct_id="installation-1", uuid=event_uuid)

    # The client gave up, yet PostHog ingested the event: the at-least-once case.
    assert [event["uuid"] for event in server.events] == [event_uuid]


def test_after_the_scripted_replies_run_out_requests_are_accepted_again(
    server: CaptureServer, client: posthog.Posthog
) -> None:
    server.respond_with(Reply.error(503), Reply.error(500))

    for expected_status in (503, 500):
        with pytest.raises(APIError) as raised:
            _capture_one(client)
        assert raised.value.status == expected_status
    accepted_uuid = _capture_one(client)

    assert [request.status for request in server.requests] == [503, 500, 200]
    assert server.pending_replies == 0
    assert [event["uuid"] for event in server.events] == [accepted_uuid]


def test_a_disabled_client_sends_nothing(server: CaptureServer, make_client: ClientFactory) -> None:
    client = make_client(disabled=True)

    assert client.capture("Heartbeat", distinct_id="installation-1") is None

    assert server.requests == []
    assert server.api_keys == []


def test_unknown_paths_answer_404_and_are_recorded(server: CaptureServer) -> None:
    response = requests.post(
        server.url + "/capture/", json={"api_key": API_KEY}, timeout=CLIENT_TIMEOUT
    )

    assert response.status_code == 404
    [request] = server.requests
    assert (request.path, request.status, request.body) == ("/capture/", 404, {"api_key": API_KEY})
    assert server.events == []


def test_a_malformed_batch_answers_400_without_using_a_scripted_reply(
    server: CaptureServer,
) -> None:
    server.respond_with(Reply.error(503))

    response = requests.post(server.url + BATCH_PATH, data=b"not json", timeout=CLIENT_TIMEOUT)

    assert response.status_code == 400
    assert server.requests[0].status == 400
    assert server.pending_replies == 1


def test_stopping_does_not_wait_for_a_pending_delay() -> None:
    with CaptureServer() as capture_server:
        capture_server.respond_with(Reply.slow(30))
        with pytest.raises(requests.exceptions.Timeout):
            requests.post(
                capture_server.url + BATCH_PATH,
                json={"api_key": API_KEY, "batch": []},
                timeout=0.2,
            )
        started = time.monotonic()

    assert time.monotonic() - started < 1.0
    with pytest.raises(RuntimeError):
        _ = capture_server.url
