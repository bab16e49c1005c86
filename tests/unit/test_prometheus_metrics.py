"""The daemon's Prometheus instruments, read back through the registry's own exposition."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from orchestrator_telemetry.events import EventName
from orchestrator_telemetry.serve.metrics import JOBS, OUTCOMES, Monitor
from orchestrator_telemetry.state.outbox import FAILURE_KINDS

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def exposed(monitor: Monitor) -> Samples:
    text = generate_latest(monitor.registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_every_labelled_counter_starts_at_0_for_its_known_labels() -> None:
    samples = exposed(Monitor())

    for job in JOBS:
        for outcome in OUTCOMES:
            runs = value(samples, "orchestrator_telemetry_runs_total", job=job, outcome=outcome)
            assert runs == 0.0
    for kind in FAILURE_KINDS:
        assert value(samples, "orchestrator_telemetry_send_failures_total", kind=kind) == 0.0
    for name in EventName:
        expired = value(samples, "orchestrator_telemetry_expired_events_total", event=name.value)
        assert expired == 0.0


def test_process_metrics_are_exported() -> None:
    samples = exposed(Monitor())

    assert value(samples, "process_resident_memory_bytes") > 0
    assert value(samples, "process_start_time_seconds") > 0
    assert value(samples, "process_open_fds") > 0
    assert ("process_cpu_seconds_total", frozenset()) in samples


def test_config_valid_is_1_until_the_configuration_is_invalid() -> None:
    monitor = Monitor()
    before = value(exposed(monitor), "orchestrator_telemetry_config_valid")

    monitor.config_invalid(["database.url: not set"])

    assert before == 1.0
    assert value(exposed(monitor), "orchestrator_telemetry_config_valid") == 0.0
    assert monitor.readiness.checks()["problems"] == ["database.url: not set"]
    assert not monitor.readiness.ready()


def test_database_up_follows_the_last_run_and_is_nan_before_any() -> None:
    monitor = Monitor()
    before = value(exposed(monitor), "orchestrator_telemetry_database_up")
    monitor.readiness.record(schema_at_head=True, database_ok=True, reason=None)
    up = value(exposed(monitor), "orchestrator_telemetry_database_up")
    monitor.readiness.record(schema_at_head=None, database_ok=False, reason="unreachable")
    down = value(exposed(monitor), "orchestrator_telemetry_database_up")

    assert math.isnan(before)
    assert (up, down) == (1.0, 0.0)


def test_outbox_gauges_keep_their_last_values_and_refresh_time_when_unreadable() -> None:
    monitor = Monitor()
    first = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    later = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    monitor.refresh_outbox(lambda: {"pending": 2, "sent": 5}, first)

    def unreadable() -> dict[str, int]:
        raise ConnectionError("state database unreachable")

    monitor.refresh_outbox(unreadable, later)

    samples = exposed(monitor)
    assert value(samples, "orchestrator_telemetry_outbox_events", status="pending") == 2.0
    assert value(samples, "orchestrator_telemetry_outbox_events", status="sent") == 5.0
    refreshed = value(samples, "orchestrator_telemetry_outbox_refresh_timestamp_seconds")
    assert refreshed == pytest.approx(first.timestamp())
