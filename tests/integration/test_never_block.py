"""Whatever happens to telemetry, the orchestrator's pod starts: `run` stays up, `emit` exits 0.

A native sidecar that exits at start holds back the orchestrator's containers, and a Helm hook
that fails fails the install: so an invalid configuration or a busy port keeps `run` up (sending
nothing, saying why), and `emit` succeeds once its event is recorded.
"""

from __future__ import annotations

import json
import signal
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator_telemetry.sandbox.postgres import free_port
from tests.support.capture import CaptureServer, Reply
from tests.support.cli import API_KEY, CliProcess, cli_env, plain_url, run_cli

pytestmark = pytest.mark.integration

STARTUP_TIMEOUT = 15.0


def get(url: str) -> tuple[int, Any]:
    """Status and decoded body of a GET, whatever the status (no proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as response:
            return int(response.status), _decode(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, _decode(error.read())


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode()


def metric(text: str, name: str) -> float | None:
    """The value of the unlabelled sample `name` in a Prometheus exposition."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return sample.value
    return None


def invalid_env(capture: CaptureServer, port: int) -> dict[str, str]:
    """No database configured and a broken schedule: two problems; PostHog is reachable."""
    return cli_env(
        OT_POSTHOG_HOST=capture.url,
        OT_POSTHOG_API_KEY=API_KEY,
        OT_SCHEDULE_SUMMARY="0 0 * *",
        OT_HTTP_HOST="127.0.0.1",
        OT_HTTP_PORT=str(port),
    )


def console_env(database_url: str, port: int) -> dict[str, str]:
    """A valid configuration printing events instead of sending them, on 127.0.0.1:`port`."""
    return cli_env(
        OT_DATABASE_URL=plain_url(database_url),
        OT_DELIVERY_SINK="console",
        OT_HTTP_HOST="127.0.0.1",
        OT_HTTP_PORT=str(port),
    )


# run with an invalid configuration -------------------------------------------------------------


def test_run_with_an_invalid_configuration_stays_up_reports_it_and_sends_nothing(
    capture: CaptureServer,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    with CliProcess("run", env=invalid_env(capture, port)) as daemon:
        daemon.wait_for_log(lambda line: line["msg"] == "http endpoint listening", STARTUP_TIMEOUT)
        health = get(base + "/healthz")
        ready = get(base + "/readyz")
        _, metrics = get(base + "/metrics")
        assert daemon.process.poll() is None, daemon.describe()
        assert daemon.stop(signal.SIGTERM) == 0, daemon.describe()

    assert health == (200, {"alive": True})
    status, body = ready
    assert status == 503
    assert body["ready"] is False
    assert body["config"] is False
    problems = body["problems"]
    assert len(problems) == 2, body
    assert any(problem.startswith("database.url: not set") for problem in problems)
    assert any(problem.startswith("schedule.summary:") for problem in problems)
    assert metric(metrics, "orchestrator_telemetry_config_valid") == 0.0
    errors = [line["msg"] for line in daemon.logs if line["level"] == "error"]
    # Each problem once, as check-config prints it, and one line saying what that means.
    assert sorted(errors[:2]) == sorted(f"config error: {problem}" for problem in problems)
    assert len(errors) == 3, daemon.describe()
    assert capture.requests == []


def test_run_strict_exits_2_on_an_invalid_configuration(capture: CaptureServer) -> None:
    result = run_cli("run", "--strict", env=invalid_env(capture, free_port()))

    assert result.returncode == 2, result.describe()
    problems = [line for line in result.stderr.splitlines() if line.startswith("config error:")]
    assert len(problems) == 2, result.describe()
    assert capture.requests == []


def test_a_valid_configuration_exports_config_valid_1(orchestrator_db_url: str) -> None:
    port = free_port()
    env = console_env(orchestrator_db_url, port)

    with CliProcess("run", env=env) as daemon:
        daemon.wait_for_log(lambda line: line["msg"] == "job finished", STARTUP_TIMEOUT)
        _, metrics = get(f"http://127.0.0.1:{port}/metrics")
        assert daemon.stop(signal.SIGTERM) == 0, daemon.describe()

    assert metric(metrics, "orchestrator_telemetry_config_valid") == 1.0


# run with its port taken --------------------------------------------------------------------


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_run_with_its_port_taken_keeps_running_without_the_endpoint_and_says_so_once(
    orchestrator_db_url: str, taken_port: int
) -> None:
    env = console_env(orchestrator_db_url, taken_port)

    with CliProcess("run", env=env) as daemon:
        startup = daemon.wait_for_log(lambda line: line["msg"] == "job finished", STARTUP_TIMEOUT)
        assert daemon.process.poll() is None, daemon.describe()
        assert daemon.stop(signal.SIGTERM) == 0, daemon.describe()

    assert startup["outcome"] == "ok", daemon.describe()
    refused = [line for line in daemon.logs if line["msg"].startswith("cannot serve http")]
    assert len(refused) == 1, daemon.describe()
    assert refused[0]["level"] == "error"
    assert "running without the endpoint" in refused[0]["msg"]
    assert refused[0]["address"] == f"127.0.0.1:{taken_port}"


def test_run_strict_exits_2_when_its_port_is_taken(
    orchestrator_db_url: str, taken_port: int
) -> None:
    env = console_env(orchestrator_db_url, taken_port)

    result = run_cli("run", "--strict", env=env)

    assert result.returncode == 2, result.describe()
    assert any(message.startswith("cannot serve http") for message in result.messages())


# emit ------------------------------------------------------------------------------------------


@pytest.fixture
def emit_env(orchestrator_db_url: str, capture: CaptureServer) -> dict[str, str]:
    """A configured installation delivering to `capture`."""
    return cli_env(
        OT_DATABASE_URL=plain_url(orchestrator_db_url),
        OT_POSTHOG_HOST=capture.url,
        OT_POSTHOG_API_KEY=API_KEY,
        OT_IDENTITY_UCID="emitucid00000042",
        OT_DEVTRON_SERVER_VERSION="v1.29.4",
    )


def test_emit_exits_0_once_recorded_though_posthog_refuses_it_now(
    emit_env: dict[str, str], capture: CaptureServer
) -> None:
    capture.respond_with(Reply.error(503))

    result = run_cli("emit", "InstallationStart", env=emit_env)

    assert result.returncode == 0, result.describe()
    assert len(capture.requests) == 1  # it still tried at once
    [finished] = [line for line in result.logs if line["msg"] == "emit finished"]
    assert "pending" in finished["outcome"]


def test_emit_wait_exits_1_when_the_event_is_not_delivered_in_time(
    emit_env: dict[str, str], capture: CaptureServer
) -> None:
    capture.respond_with(*[Reply.error(503)] * 20)

    result = run_cli("emit", "--wait", "3", "InstallationStart", env=emit_env)

    assert result.returncode == 1, result.describe()
    assert len(capture.requests) >= 2  # tried again while waiting
    assert capture.events == []


def test_emit_wait_retries_and_exits_0_once_delivered(
    emit_env: dict[str, str], capture: CaptureServer
) -> None:
    capture.respond_with(Reply.error(503))

    result = run_cli("emit", "InstallationSuccess", "--wait", "10", env=emit_env)

    assert result.returncode == 0, result.describe()
    assert len(capture.requests) == 2
    assert [event["event"] for event in capture.events] == ["InstallationSuccess"]


def test_emit_help_lists_the_events() -> None:
    result = run_cli("emit", "--help", env=cli_env())

    assert result.returncode == 0, result.describe()
    for name in ("InstallationStart", "InstallationSuccess", "UpgradeFailure"):
        assert name in result.stdout
    assert "--wait" in result.stdout


# --config --------------------------------------------------------------------------------------


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_config_is_accepted_before_or_after_the_subcommand(tmp_path: Path, before: bool) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("devtron:\n  version: v-from-file\n", encoding="utf-8")
    env = cli_env(OT_DATABASE_URL="postgresql://u@h/db")
    args = ["--config", str(config), "check-config"]

    result = run_cli(*(args if before else [*args[2:], *args[:2]]), env=env)

    assert result.returncode == 0, result.describe()
    assert 'devtron.version: "v-from-file"' in result.stdout
