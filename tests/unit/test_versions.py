"""Specification of the serverVersion property: configured, else fetched, cached and kept."""

from __future__ import annotations

import threading
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog

from orchestrator_telemetry.collect.versions import ServerVersion

START = datetime(2024, 6, 1, 0, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class Fetch:
    """A fetch answering scripted versions, or raising scripted errors, and counting calls."""

    def __init__(self, *answers: str | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def warnings_in(logged: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logged if entry["log_level"] == "warning"]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_configured_version_wins_and_the_api_server_is_never_asked(clock: Clock) -> None:
    fetch = Fetch("v1.29.4+k3s1")
    version = ServerVersion("v1.17.17", fetch, clock)

    assert [version.get() for _ in range(3)] == ["v1.17.17"] * 3
    assert fetch.calls == 0


def test_the_fetched_version_is_cached_until_the_refresh_interval_has_elapsed(
    clock: Clock,
) -> None:
    fetch = Fetch("v1.29.4+k3s1", "v1.30.0")
    version = ServerVersion(None, fetch, clock, refresh=timedelta(hours=24))

    assert version.get() == "v1.29.4+k3s1"
    clock.advance(timedelta(hours=23, minutes=59))
    assert version.get() == "v1.29.4+k3s1"
    assert fetch.calls == 1

    clock.advance(timedelta(minutes=1))
    assert version.get() == "v1.30.0"
    assert fetch.calls == 2


def test_a_failing_fetch_reports_unknown_and_warns_once_however_often_asked(clock: Clock) -> None:
    fetch = Fetch(ConnectionError("connection refused"))
    version = ServerVersion(None, fetch, clock)

    with structlog.testing.capture_logs() as logged:
        answers = [version.get() for _ in range(50)]

    assert answers == ["unknown"] * 50
    [warning] = warnings_in(logged)
    assert warning["reason"] == "connection refused"
    assert warning["server_version"] == "unknown"


def test_without_a_way_to_fetch_it_is_unknown_with_one_warning_saying_why(clock: Clock) -> None:
    version = ServerVersion(None, None, clock)

    with structlog.testing.capture_logs() as logged:
        answers = {version.get() for _ in range(10)}

    assert answers == {"unknown"}
    [warning] = warnings_in(logged)
    assert "devtron.server_version" in warning["reason"]


def test_the_last_good_version_is_kept_when_a_refresh_fails(clock: Clock) -> None:
    fetch = Fetch("v1.29.4+k3s1", RuntimeError("kubernetes: 503 Service Unavailable"))
    version = ServerVersion(None, fetch, clock, refresh=timedelta(hours=1))
    assert version.get() == "v1.29.4+k3s1"

    clock.advance(timedelta(hours=2))
    with structlog.testing.capture_logs() as logged:
        assert version.get() == "v1.29.4+k3s1"
        assert version.get() == "v1.29.4+k3s1"

    [warning] = warnings_in(logged)
    assert warning["server_version"] == "v1.29.4+k3s1"
    assert "503" in warning["reason"]


def test_an_empty_answer_counts_as_a_failure(clock: Clock) -> None:
    version = ServerVersion(None, Fetch(""), clock)

    with structlog.testing.capture_logs() as logged:
        assert version.get() == "unknown"

    assert len(warnings_in(logged)) == 1


def test_a_success_after_a_failure_rearms_the_warning(clock: Clock) -> None:
    failure = TimeoutError("no answer within 5s")
    fetch = Fetch(failure, failure, "v1.29.4+k3s1", failure)
    version = ServerVersion(None, fetch, clock, refresh=timedelta(hours=1))

    with structlog.testing.capture_logs() as logged:
        assert version.get() == "unknown"
        assert version.get() == "unknown"
        assert version.get() == "v1.29.4+k3s1"
        clock.advance(timedelta(hours=1))
        assert version.get() == "v1.29.4+k3s1"
        assert version.get() == "v1.29.4+k3s1"

    assert [w["server_version"] for w in warnings_in(logged)] == ["unknown", "v1.29.4+k3s1"]
    assert fetch.calls == 5


def test_concurrent_callers_share_one_fetch(clock: Clock) -> None:
    started, release = threading.Event(), threading.Event()
    calls = 0

    def slow_fetch() -> str:
        nonlocal calls
        calls += 1
        started.set()
        release.wait(5)
        return "v1.29.4+k3s1"

    version = ServerVersion(None, slow_fetch, clock)
    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(version.get())) for _ in range(8)]
    threads[0].start()
    assert started.wait(5)
    for thread in threads[1:]:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(5)

    assert answers == ["v1.29.4+k3s1"] * 8
    assert calls == 1


@pytest.mark.parametrize("configured", [None, ""])
def test_an_unset_or_empty_configured_version_means_ask_the_api_server(
    clock: Clock, configured: str | None
) -> None:
    fetch: Callable[[], str] = Fetch("v1.29.4+k3s1")

    assert ServerVersion(configured, fetch, clock).get() == "v1.29.4+k3s1"
