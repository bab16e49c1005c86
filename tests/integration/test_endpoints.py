"""The HTTP endpoint: liveness, readiness, Prometheus metrics and preview, over real HTTP.

First the `Endpoints` server in this process, driven by a `Monitor` and plain callables; then
the daemon (`run`) as a subprocess against a real database, probed as the kubelet would.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from orchestrator_telemetry.sandbox.demo import as_summary
from orchestrator_telemetry.sandbox.devtron import load_sample_data
from orchestrator_telemetry.sandbox.postgres import free_port
from orchestrator_telemetry.schedule import utc_now
from orchestrator_telemetry.serve.endpoints import Endpoints
from orchestrator_telemetry.serve.metrics import Monitor
from tests.support.cli import CliProcess, cli_env, plain_url
from tests.support.slots import settled_schedules

pytestmark = pytest.mark.integration

STARTUP_TIMEOUT = 15.0  # generous: a process start, its imports and a migration

METRIC_NAMES = (
    "orchestrator_telemetry_runs_total",
    "orchestrator_telemetry_run_duration_seconds",
    "orchestrator_telemetry_last_success_timestamp_seconds",
    "orchestrator_telemetry_outbox_events",
    "orchestrator_telemetry_send_failures_total",
    "orchestrator_telemetry_events_delivered_total",
    "orchestrator_telemetry_last_summary_count",
)


@dataclass(frozen=True)
class Answer:
    """One HTTP answer."""

    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        """The body, decoded as JSON."""
        return json.loads(self.body)


def request(url: str, method: str = "GET", data: bytes | None = None) -> Answer:
    """Ask `url` directly (no proxy from the environment), whatever the status."""
    assert url.startswith("http://127.0.0.1:"), url
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    outgoing = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http:// only
    try:
        with opener.open(outgoing, timeout=10) as response:
            return Answer(
                int(response.status), response.headers.get("Content-Type", ""), response.read()
            )
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, error.headers.get("Content-Type", ""), error.read())


def samples(metrics_text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
    }


def sample_value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float | None:
    return found.get((name, frozenset(labels.items())))


# the endpoint in this process ---------------------------------------------------------------


@dataclass
class Probe:
    """What the endpoint is wired to: switches a test turns, and counts it reads."""

    alive: bool = True
    preview_calls: int = 0
    preview_error: Exception | None = None


PREVIEW = [
    {"event": "Heartbeat", "distinct_id": "abcdefgh12345678", "properties": {"eventType": 0}},
    {"event": "Summary", "distinct_id": "abcdefgh12345678", "properties": {"eventType": 6}},
]


@dataclass
class Served:
    """A running endpoint, its monitor and its base URL."""

    url: str
    monitor: Monitor
    probe: Probe

    def get(self, path: str) -> Answer:
        return request(self.url + path)


@pytest.fixture
def served() -> Iterator[Served]:
    """An endpoint on a free port of 127.0.0.1, stopped after the test."""
    monitor, probe = Monitor(), Probe()

    def preview() -> list[dict[str, Any]]:
        probe.preview_calls += 1
        if probe.preview_error is not None:
            raise probe.preview_error
        return PREVIEW

    endpoints = Endpoints(monitor, alive=lambda: probe.alive, preview=preview)
    port = endpoints.start("127.0.0.1", 0)
    try:
        yield Served(f"http://127.0.0.1:{port}", monitor, probe)
    finally:
        endpoints.stop()


def test_healthz_answers_what_alive_says(served: Served) -> None:
    alive = served.get("/healthz")
    served.probe.alive = False
    dead = served.get("/healthz")

    assert (alive.status, alive.json()) == (200, {"alive": True})
    assert (dead.status, dead.json()) == (503, {"alive": False})
    assert alive.content_type == "application/json"


def test_readyz_is_503_until_a_run_succeeded_and_after_a_failed_database_probe(
    served: Served,
) -> None:
    readiness = served.monitor.readiness

    before = served.get("/readyz")
    readiness.record(schema_at_head=True, database_ok=True, reason=None)
    ready = served.get("/readyz")
    readiness.record(
        schema_at_head=None,
        database_ok=False,
        reason="state database: connection to server at 127.0.0.1 failed",
    )
    failed = served.get("/readyz")

    assert before.status == 503
    assert before.json()["ready"] is False
    assert ready.status == 200
    assert ready.json() == {
        "ready": True,
        "config": True,
        "schema_at_head": True,
        "database": True,
        "reason": None,
    }
    assert failed.status == 503
    assert failed.json()["database"] is False
    assert failed.json()["schema_at_head"] is True  # still known from the run before
    assert failed.json()["reason"] == "state database: connection to server at 127.0.0.1 failed"


def test_metrics_is_prometheus_text_with_every_documented_metric(served: Served) -> None:
    monitor = served.monitor
    monitor.observe_run("startup", "ok", 0.2)
    monitor.observe_run("heartbeat", "failed", 3.0)
    before = time.time()
    monitor.observe_outcome("sent", "Summary")
    after = time.time()
    monitor.observe_outcome("transient", "Heartbeat")
    monitor.observe_outcome("transient", "Heartbeat")
    monitor.observe_outbox({"pending": 2, "sent": 5}, utc_now())
    monitor.observe_summary({"userCount": 4, "clusterCount": -1})

    answer = served.get("/metrics")

    assert answer.status == 200
    assert answer.content_type.startswith("text/plain")
    text = answer.body.decode()
    for name in METRIC_NAMES:
        assert name in text
    found = samples(text)
    runs = "orchestrator_telemetry_runs_total"
    assert sample_value(found, runs, job="startup", outcome="ok") == 1.0
    assert sample_value(found, runs, job="heartbeat", outcome="failed") == 1.0
    duration = "orchestrator_telemetry_run_duration_seconds_count"
    assert sample_value(found, duration, job="heartbeat") == 1.0
    last_success = "orchestrator_telemetry_last_success_timestamp_seconds"
    assert before <= (sample_value(found, last_success, event="Summary") or 0) <= after
    delivered = "orchestrator_telemetry_events_delivered_total"
    assert sample_value(found, delivered, event="Summary") == 1.0
    outbox = "orchestrator_telemetry_outbox_events"
    assert sample_value(found, outbox, status="pending") == 2.0
    assert sample_value(found, outbox, status="sent") == 5.0
    assert sample_value(found, outbox, status="dead") == 0.0
    failures = "orchestrator_telemetry_send_failures_total"
    assert sample_value(found, failures, kind="transient") == 2.0
    counts = "orchestrator_telemetry_last_summary_count"
    assert sample_value(found, counts, metric="userCount") == 4.0
    assert sample_value(found, counts, metric="clusterCount") == -1.0


def test_preview_answers_the_preview_as_json_and_caches_it(served: Served) -> None:
    first = served.get("/preview")
    second = served.get("/preview")

    assert first.status == 200
    assert first.content_type == "application/json"
    assert first.json() == PREVIEW
    assert second.body == first.body
    assert served.probe.preview_calls == 1


def test_a_failing_preview_is_503_with_one_line_and_is_not_cached(served: Served) -> None:
    served.probe.preview_error = RuntimeError(
        "connection to postgresql://devtron:s3cret@db failed\nsecond line"
    )

    failed = served.get("/preview")
    served.probe.preview_error = None
    recovered = served.get("/preview")

    assert failed.status == 503
    assert failed.body.decode().count("\n") == 1
    assert failed.body.endswith(b"\n")
    assert "error" in failed.json()
    assert b"s3cret" not in failed.body  # the cause goes to the log, not to whoever asked
    assert recovered.status == 200
    assert recovered.json() == PREVIEW


@pytest.mark.parametrize("path", ["/", "/health", "/metrics/extra", "/readyz/", "/admin"])
def test_an_unknown_path_is_404(served: Served, path: str) -> None:
    answer = served.get(path)

    assert answer.status == 404
    assert answer.json()["error"] == "not found"


@pytest.mark.parametrize("path", ["/healthz", "/preview", "/metrics"])
def test_a_post_is_405(served: Served, path: str) -> None:
    answer = request(served.url + path, method="POST", data=b"{}")

    assert answer.status == 405
    assert served.probe.preview_calls == 0


# the daemon, end to end ---------------------------------------------------------------------


def started(daemon: CliProcess) -> dict[str, Any]:
    """Wait for the daemon's first run to finish; return its log line."""
    return daemon.wait_for_log(
        lambda line: line["msg"] == "job finished" and line.get("job") == "startup",
        STARTUP_TIMEOUT,
    )


def daemon_env(database_url: str, port: int) -> dict[str, str]:
    """A daemon printing events instead of sending them, serving HTTP on 127.0.0.1:port."""
    return cli_env(
        OT_DATABASE_URL=database_url,
        OT_DELIVERY_SINK="console",
        OT_HTTP_HOST="127.0.0.1",
        OT_HTTP_PORT=str(port),
    )


def test_the_daemon_serves_readiness_metrics_and_preview_after_its_first_run(
    orchestrator_db_url: str, orchestrator_engine: Engine
) -> None:
    schedules = settled_schedules()  # the daemon's latest slots are these, even at midnight
    with orchestrator_engine.begin() as connection:
        expected = as_summary(load_sample_data(connection, schedules.summary_slot))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**daemon_env(plain_url(orchestrator_db_url), port), **schedules.env()}

    with CliProcess("run", env=env) as daemon:
        startup = started(daemon)
        health = request(base + "/healthz")
        readiness = request(base + "/readyz")
        metrics = request(base + "/metrics")
        preview = request(base + "/preview")
        assert daemon.stop(signal.SIGTERM) == 0, daemon.describe()

    assert startup["outcome"] == "ok", daemon.describe()
    assert health.status == 200
    assert readiness.status == 200, readiness.body
    found = samples(metrics.body.decode())
    assert (
        sample_value(found, "orchestrator_telemetry_runs_total", job="startup", outcome="ok") == 1.0
    )
    assert sample_value(
        found, "orchestrator_telemetry_last_summary_count", metric="userCount"
    ) == float(expected["userCount"])
    assert sample_value(found, "orchestrator_telemetry_outbox_events", status="sent") == 2.0
    assert preview.status == 200
    previewed = preview.json()
    assert [event["event"] for event in previewed] == ["Heartbeat", "Summary"]
    assert previewed[1]["properties"]["summary"] == expected
    # The console sink printed what was delivered: the preview speaks for the same installation.
    printed = [json.loads(line) for line in daemon.stdout_lines if line.startswith('{"event"')]
    assert {event["distinct_id"] for event in printed} == {previewed[0]["distinct_id"]}


def test_healthz_stays_200_while_the_database_is_unreachable() -> None:
    port = free_port()
    unreachable = f"postgresql://devtron:pw@127.0.0.1:{free_port()}/orchestrator"
    base = f"http://127.0.0.1:{port}"

    with CliProcess("run", env=daemon_env(unreachable, port)) as daemon:
        startup = started(daemon)
        health = request(base + "/healthz")
        readiness = request(base + "/readyz")
        assert daemon.stop(signal.SIGTERM) == 0, daemon.describe()

    assert startup["outcome"] == "failed"
    assert health.status == 200  # liveness: restarting the pod would not bring the database
    assert readiness.status == 503
    assert readiness.json()["database"] is False
    assert "state database" in readiness.json()["reason"]


def test_after_a_failed_run_the_outbox_gauges_are_refreshed_and_the_database_reported_down(
    orchestrator_db_url: str,
) -> None:
    port = free_port()
    unreachable = f"postgresql://devtron:pw@127.0.0.1:{free_port()}/orchestrator"
    env = {**daemon_env(unreachable, port), "OT_STATE_URL": plain_url(orchestrator_db_url)}
    before = utc_now().timestamp()

    with CliProcess("run", env=env) as daemon:
        startup = started(daemon)
        metrics = request(f"http://127.0.0.1:{port}/metrics")
        assert daemon.stop(signal.SIGTERM) == 0, daemon.describe()

    assert startup["outcome"] == "failed", daemon.describe()
    found = samples(metrics.body.decode())
    refreshed = sample_value(found, "orchestrator_telemetry_outbox_refresh_timestamp_seconds")
    assert refreshed is not None
    assert refreshed >= before - 1
    assert sample_value(found, "orchestrator_telemetry_outbox_events", status="pending") == 0.0
    assert sample_value(found, "orchestrator_telemetry_database_up") == 0.0
    failed = sample_value(
        found, "orchestrator_telemetry_runs_total", job="startup", outcome="failed"
    )
    assert failed == 1.0
