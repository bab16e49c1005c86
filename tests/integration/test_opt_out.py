"""Opting out: silent means silent, Devtron's remote opt-out is honoured, proxies are used.

Opted out by `telemetry.enabled: false` or `DO_NOT_TRACK=1`, the daemon opens no outbound
connection of any kind (PostHog, the key endpoint, the opt-out lookup) and queries nothing: every
test here points the database at a closed port, so a single query attempt would end the command
with exit code 3. Commands run as subprocesses, as in a container. Air-gapped installations record
and never send: tests/integration/test_air_gap_export.py.
"""

from __future__ import annotations

import json
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import structlog
import yaml
from sqlalchemy import Engine, text

from orchestrator_telemetry.deliver.access import OptOut, attempt_timeout, session
from orchestrator_telemetry.sandbox.demo import as_summary
from orchestrator_telemetry.sandbox.devtron import load_sample_data
from orchestrator_telemetry.sandbox.postgres import free_port
from orchestrator_telemetry.schedule import utc_now
from tests.support.capture import CaptureServer
from tests.support.cli import API_KEY, CliProcess, CliResult, cli_env, plain_url, run_cli
from tests.support.devtron_api import OPT_OUT_PATH, FakeDevtronApi, RecordingProxy
from tests.support.slots import settled_schedules

pytestmark = pytest.mark.integration

UCID = "optoutucid000042"
SILENT = "telemetry is disabled; nothing is collected or sent"
OPTED_OUT = "this installation opted out (Devtron's opt-out lookup); nothing sent"
SCHEMA = "orchestrator_telemetry"
STARTUP_TIMEOUT = 15.0  # generous: a process start and its imports


@pytest.fixture
def devtron(capture: CaptureServer) -> Iterator[FakeDevtronApi]:
    """Devtron's key endpoint and opt-out lookup; the key it hands out points at `capture`."""
    with FakeDevtronApi(posthog_endpoint=capture.url) as api:
        yield api


def closed_database_url() -> str:
    """A database URL on a port nothing listens on: any query attempt fails with exit 3."""
    return f"postgresql://devtron:pw@127.0.0.1:{free_port()}/orchestrator"


def everything_wired(
    capture: CaptureServer,
    devtron: FakeDevtronApi,
    database_url: str | None = None,
    **variables: str,
) -> dict[str, str]:
    """An environment in which every outbound path leads to a fake: key, lookup, PostHog.

    The database is a closed port unless `database_url` is given.
    """
    return cli_env(
        OT_DATABASE_URL=database_url or closed_database_url(),
        OT_POSTHOG_HOST=capture.url,
        OT_POSTHOG_KEY_URL=devtron.key_url,
        OT_TELEMETRY_REMOTE_OPT_OUT="true",
        OT_TELEMETRY_OPT_OUT_URL=devtron.opt_out_url,
        OT_IDENTITY_UCID=UCID,
        **variables,
    )


def silences(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The log lines saying telemetry is disabled."""
    return [line for line in lines if line["msg"] == SILENT]


def get(url: str) -> tuple[int, dict[str, Any]]:
    """GET `url` directly (no proxy); return the status and the decoded JSON body."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def health(port: int) -> int | str:
    """The status of /healthz, or why there was none."""
    try:
        return get(f"http://127.0.0.1:{port}/healthz")[0]
    except OSError as error:
        return type(error).__name__


MAIN_LOOP_TURN = 0.2
"""Seconds between the daemon's own liveness checks in FAST_MAIN_LOOP (30 in production)."""

FAST_MAIN_LOOP = (
    sys.executable,
    "-c",
    "import sys; from orchestrator_telemetry import cli;"
    f" cli.LIVENESS_CHECK = {MAIN_LOOP_TURN}; sys.exit(cli.main())",
)
"""The command line, its main loop turning often enough that a test sees many turns."""


def assert_silent(result: CliResult, capture: CaptureServer, devtron: FakeDevtronApi) -> None:
    """Exit 0, nothing received anywhere, and one line saying why."""
    assert result.returncode == 0, result.describe()
    assert capture.requests == []
    assert devtron.requests == []
    [line] = silences(result.logs)
    assert line["level"] == "warning"
    assert "cannot use the database" not in result.output


# locally opted out -------------------------------------------------------------------------


OPT_OUT_SWITCHES = {
    "DO_NOT_TRACK=1": {"DO_NOT_TRACK": "1"},
    "OT_TELEMETRY_ENABLED=false": {"OT_TELEMETRY_ENABLED": "false"},
    # Devtron's and the de-facto standard switches win over the daemon's own setting.
    "DO_NOT_TRACK=1 beats OT_TELEMETRY_ENABLED=true": {
        "DO_NOT_TRACK": "1",
        "OT_TELEMETRY_ENABLED": "true",
    },
}


@pytest.mark.parametrize("switch", OPT_OUT_SWITCHES.values(), ids=OPT_OUT_SWITCHES.keys())
def test_once_opted_out_by_the_environment_connects_to_nothing_and_says_why(
    switch: dict[str, str], capture: CaptureServer, devtron: FakeDevtronApi
) -> None:
    result = run_cli("once", env=everything_wired(capture, devtron, **switch))

    assert_silent(result, capture, devtron)
    [line] = silences(result.logs)
    deciding = "DO_NOT_TRACK" if "DO_NOT_TRACK" in switch else next(iter(switch))
    assert deciding in line["reason"]


def test_once_opted_out_in_the_yaml_file_connects_to_nothing_and_says_why(
    capture: CaptureServer, devtron: FakeDevtronApi, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "telemetry": {
                    "enabled": False,
                    "remote_opt_out": True,
                    "opt_out_url": devtron.opt_out_url,
                },
                "database": {"url": closed_database_url()},
                "posthog": {"host": capture.url, "key_url": devtron.key_url},
                "identity": {"ucid": UCID},
            }
        ),
        encoding="utf-8",
    )

    result = run_cli("once", "--config", str(config), env=cli_env())

    assert_silent(result, capture, devtron)
    [line] = silences(result.logs)
    assert str(config) in line["reason"]


def test_emit_opted_out_records_and_sends_nothing(
    capture: CaptureServer, devtron: FakeDevtronApi
) -> None:
    env = everything_wired(capture, devtron, DO_NOT_TRACK="1")

    result = run_cli("emit", "InstallationSuccess", env=env)

    assert_silent(result, capture, devtron)


def test_run_opted_out_stays_up_silent_and_healthy_and_stops_on_sigterm(
    capture: CaptureServer, devtron: FakeDevtronApi
) -> None:
    port = free_port()
    env = everything_wired(
        capture, devtron, DO_NOT_TRACK="1", OT_HTTP_HOST="127.0.0.1", OT_HTTP_PORT=str(port)
    )
    with CliProcess("run", env=env, command=FAST_MAIN_LOOP) as daemon:
        daemon.wait_for_log(lambda line: line["msg"] == SILENT, STARTUP_TIMEOUT)
        # Watched for ten turns of the daemon's main loop: up and healthy at every look.
        deadline = time.monotonic() + 10 * MAIN_LOOP_TURN
        statuses: list[int | str] = []
        while time.monotonic() < deadline:
            statuses.append(health(port) if daemon.process.poll() is None else "exited")
            time.sleep(MAIN_LOOP_TURN / 2)
        assert set(statuses) == {200}, f"{statuses}\n{daemon.describe()}"
        ready_status, readiness = get(f"http://127.0.0.1:{port}/readyz")

        code = daemon.stop(signal.SIGTERM)

        assert code == 0, daemon.describe()
        # Not a failing dependency: a silent daemon is as ready as it will ever be.
        assert ready_status == 200
        assert "DO_NOT_TRACK" in str(readiness["reason"])
        assert len(silences(daemon.logs)) == 1, daemon.describe()
        assert capture.requests == []
        assert devtron.requests == []
        messages = [line["msg"] for line in daemon.logs]
        assert "cannot use the database" not in messages
        assert messages[-1] == "stopped"


def test_run_opted_out_needs_no_posthog_key_at_all() -> None:
    # A silenced installation has no key to configure and no key endpoint to reach.
    port = free_port()
    env = cli_env(
        OT_DATABASE_URL=closed_database_url(),
        DO_NOT_TRACK="1",
        OT_HTTP_HOST="127.0.0.1",
        OT_HTTP_PORT=str(port),
    )
    with CliProcess("run", env=env) as daemon:
        try:
            daemon.wait_for_log(lambda line: line["msg"] == SILENT, STARTUP_TIMEOUT)
            assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        finally:
            if daemon.process.poll() is None:
                assert daemon.stop(signal.SIGTERM) == 0, daemon.describe()
        assert "Traceback" not in "\n".join(daemon.stderr_lines)


def test_preview_still_shows_both_events_when_opted_out(
    orchestrator_db_url: str,
    orchestrator_engine: Engine,
    capture: CaptureServer,
    devtron: FakeDevtronApi,
) -> None:
    schedules = settled_schedules()  # the preview's latest slots are these, even at midnight
    with orchestrator_engine.begin() as connection:
        expected = as_summary(load_sample_data(connection, schedules.summary_slot))
    env = everything_wired(
        capture, devtron, plain_url(orchestrator_db_url), DO_NOT_TRACK="1", **schedules.env()
    )

    result = run_cli("preview", env=env)

    assert result.returncode == 0, result.describe()
    heartbeat, summary = json.loads(result.stdout)
    assert (heartbeat["event"], summary["event"]) == ("Heartbeat", "Summary")
    assert summary["properties"]["summary"] == expected
    assert summary["distinct_id"] == UCID
    assert capture.requests == []
    assert devtron.requests == []


# Devtron's remote opt-out --------------------------------------------------------------------


@pytest.fixture
def remote_env(
    orchestrator_db_url: str, capture: CaptureServer, devtron: FakeDevtronApi
) -> dict[str, str]:
    """A real database, a configured key, and Devtron's lookup switched on."""
    return cli_env(
        OT_DATABASE_URL=plain_url(orchestrator_db_url),
        OT_POSTHOG_HOST=capture.url,
        OT_POSTHOG_API_KEY=API_KEY,
        OT_TELEMETRY_REMOTE_OPT_OUT="true",
        OT_TELEMETRY_OPT_OUT_URL=devtron.opt_out_url,
        OT_IDENTITY_UCID=UCID,
    )


def outbox_size(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text(f"SELECT count(*) FROM {SCHEMA}.outbox")) or 0)


def test_an_installation_devtron_records_as_opted_out_sends_nothing(
    remote_env: dict[str, str],
    orchestrator_engine: Engine,
    capture: CaptureServer,
    devtron: FakeDevtronApi,
) -> None:
    devtron.opted_out = True

    result = run_cli("once", env=remote_env)

    assert result.returncode == 0, result.describe()
    assert capture.requests == []
    [lookup] = devtron.requests
    assert (lookup.method, lookup.path) == ("GET", f"{OPT_OUT_PATH}/{UCID}")
    assert OPTED_OUT in result.messages()
    assert outbox_size(orchestrator_engine) == 0  # nothing recorded to be sent later either


def test_an_installation_devtron_does_not_record_as_opted_out_is_reported(
    remote_env: dict[str, str], capture: CaptureServer, devtron: FakeDevtronApi
) -> None:
    devtron.opted_out = False

    result = run_cli("once", env=remote_env)

    assert result.returncode == 0, result.describe()
    assert {event["event"] for event in capture.events} == {"Summary", "Heartbeat"}
    assert [r.path for r in devtron.requests] == [f"{OPT_OUT_PATH}/{UCID}"]


def test_a_failing_opt_out_lookup_does_not_opt_out(
    remote_env: dict[str, str], capture: CaptureServer, devtron: FakeDevtronApi
) -> None:
    # Devtron's own client treats an unanswered lookup as "not opted out".
    devtron.opted_out = True  # what it would say, could it answer
    devtron.fail("opt-out", 500)

    result = run_cli("once", env=remote_env)

    assert result.returncode == 0, result.describe()
    assert {event["event"] for event in capture.events} == {"Summary", "Heartbeat"}
    assert devtron.opt_out_requests
    assert {r.status for r in devtron.opt_out_requests} == {500}
    assert "opt-out lookup failed; not opted out" in result.messages()


def test_the_opt_out_answer_is_cached_and_asked_again_when_the_cache_expires() -> None:
    now = [datetime(2026, 11, 25, 6, 0, tzinfo=UTC)]
    with FakeDevtronApi(opted_out=True) as devtron, session() as http:
        lookup = OptOut(
            devtron.opt_out_url,
            cache=timedelta(hours=24),
            timeout=(5.0, 5.0),
            http=http,
            clock=lambda: now[0],
        )

        first = lookup.opted_out(UCID)
        devtron.opted_out = False
        now[0] += timedelta(hours=23)
        cached = lookup.opted_out(UCID)
        asked_within_the_cache = len(devtron.requests)
        now[0] += timedelta(hours=2)
        expired = lookup.opted_out(UCID)

    assert (first, cached, expired) == (True, True, False)
    assert asked_within_the_cache == 1
    assert [r.path for r in devtron.requests] == [f"{OPT_OUT_PATH}/{UCID}"] * 2


def lookup_within(deadline: float, devtron: FakeDevtronApi, http: requests.Session) -> OptOut:
    """The opt-out look-up as the daemon builds it, every look-up bounded by `deadline`."""
    return OptOut(
        devtron.opt_out_url,
        cache=timedelta(hours=24),
        timeout=attempt_timeout(deadline, 5.0),
        http=http,
        clock=utc_now,
    )


def test_an_opt_out_lookup_that_does_not_answer_in_time_does_not_opt_out() -> None:
    deadline = 2.0
    with FakeDevtronApi(opted_out=True) as devtron, session(deadline) as http:
        devtron.fail("opt-out", 200, delay=5.0)  # correct, and far too late
        lookup = lookup_within(deadline, devtron, http)

        started = time.monotonic()
        with structlog.testing.capture_logs() as logged:
            answer = lookup.opted_out(UCID)
        elapsed = time.monotonic() - started

    assert answer is False
    assert elapsed < deadline + 0.5  # the answer would have come after 5 s
    [warning] = [entry for entry in logged if entry["log_level"] == "warning"]
    assert warning["error"] in {"ReadTimeout", "ConnectionError"}


def test_an_opt_out_lookup_asked_to_retry_after_six_hours_still_ends_within_its_deadline() -> None:
    """urllib3 alone would sleep the whole Retry-After, six hours, inside the daemon's run."""
    deadline = 2.0
    with FakeDevtronApi(opted_out=True) as devtron, session(deadline) as http:
        devtron.fail("opt-out", 503, retry_after=6 * 3600)
        lookup = lookup_within(deadline, devtron, http)

        started = time.monotonic()
        answer = lookup.opted_out(UCID)
        elapsed = time.monotonic() - started

    assert answer is False
    assert elapsed < deadline
    assert len(devtron.opt_out_requests) == 4  # the first try and three retries, all in time


# proxies -----------------------------------------------------------------------------------


def test_posthog_delivery_goes_through_http_proxy(
    orchestrator_db_url: str, capture: CaptureServer
) -> None:
    with RecordingProxy({"posthog.invalid": capture.url}) as proxy:
        env = cli_env(
            OT_DATABASE_URL=plain_url(orchestrator_db_url),
            OT_POSTHOG_HOST="http://posthog.invalid",  # resolvable by the proxy alone
            OT_POSTHOG_API_KEY=API_KEY,
            HTTP_PROXY=proxy.url,
            NO_PROXY="localhost,127.0.0.1,.svc,.cluster.local",
        )

        result = run_cli("once", env=env)

    assert result.returncode == 0, result.describe()
    relayed = [(r.method, r.target, r.status) for r in proxy.requests]
    assert relayed == [("POST", "http://posthog.invalid/batch/", 200)] * 2
    assert {event["event"] for event in capture.events} == {"Summary", "Heartbeat"}
    assert {r.header("host") for r in capture.requests} == {"posthog.invalid"}


def test_key_discovery_and_opt_out_lookup_go_through_http_proxy_too(
    orchestrator_db_url: str, capture: CaptureServer
) -> None:
    with (
        FakeDevtronApi(posthog_endpoint="http://posthog.invalid") as devtron,
        RecordingProxy({"posthog.invalid": capture.url, "devtron.invalid": devtron.url}) as proxy,
    ):
        env = cli_env(
            OT_DATABASE_URL=plain_url(orchestrator_db_url),
            OT_POSTHOG_KEY_URL="http://devtron.invalid/devtron/telemetry/posthogInfo",
            OT_TELEMETRY_REMOTE_OPT_OUT="true",
            OT_TELEMETRY_OPT_OUT_URL="http://devtron.invalid/devtron/telemetry/opt-out",
            OT_IDENTITY_UCID=UCID,
            http_proxy=proxy.url,  # the lower-case spelling is as common as the upper-case one
        )

        result = run_cli("once", env=env)

    assert result.returncode == 0, result.describe()
    targets = [(r.method, r.target) for r in proxy.requests]
    assert targets[:2] == [
        ("GET", f"http://devtron.invalid{OPT_OUT_PATH}/{UCID}"),
        ("GET", "http://devtron.invalid/devtron/telemetry/posthogInfo"),
    ]
    assert targets[2:] == [("POST", "http://posthog.invalid/batch/")] * 2
    assert len(devtron.requests) == 2
    assert {event["event"] for event in capture.events} == {"Summary", "Heartbeat"}
    assert set(capture.api_keys) == {devtron.api_key}
