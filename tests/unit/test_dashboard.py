"""The Grafana dashboard and the alerts use only metrics the daemon exports."""

from __future__ import annotations

import json
import re

from orchestrator_telemetry.serve.metrics import Monitor
from tests.support.promtool import DASHBOARD, rule_groups

# Series names as exposed: counters with _total, histograms as _bucket, _sum and _count.
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
}
_METRIC = re.compile(r"\b(?:orchestrator_telemetry|process)_[a-z_]+\b")


def exported() -> set[str]:
    return {
        family.name + suffix
        for family in Monitor().registry.collect()
        for suffix in _SUFFIXES[family.type]
    }


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_expressions() -> list[str]:
    return [rule["expr"] for group in rule_groups()["groups"] for rule in group["rules"]]


def test_every_dashboard_panel_queries_only_exported_metrics() -> None:
    queries = dashboard_queries()
    used = {name for query in queries for name in _METRIC.findall(query)}

    assert queries
    assert used
    assert used <= exported(), used - exported()


def test_every_dashboard_template_variable_reads_an_exported_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [
        variable["query"]
        for variable in dashboard["templating"]["list"]
        if variable["type"] == "query"
    ]

    used = {name for query in queries for name in _METRIC.findall(query)}

    assert used <= exported(), used - exported()


def test_every_alert_queries_only_exported_metrics() -> None:
    used = {name for expression in alert_expressions() for name in _METRIC.findall(expression)}

    assert used <= exported(), used - exported()


def test_the_dashboard_shows_delivery_outbox_failures_and_footprint() -> None:
    used = {name for query in dashboard_queries() for name in _METRIC.findall(query)}

    assert {
        "orchestrator_telemetry_last_success_timestamp_seconds",
        "orchestrator_telemetry_outbox_events",
        "orchestrator_telemetry_send_failures_total",
        "orchestrator_telemetry_config_valid",
        "process_resident_memory_bytes",
    } <= used
