"""deploy/'s PrometheusRule loads in Prometheus, and each alert fires when it should, only then.

promtool reads plain rule files, so the PrometheusRule's spec is written out first, as the
Prometheus Operator does.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.support.promtool import DASHBOARD, RULE_TESTS, rule_groups, run_promtool

pytestmark = pytest.mark.integration


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A folder with the rule file promtool loads and its unit tests."""
    (tmp_path / "prometheus-rule.rules.yaml").write_text(yaml.safe_dump(rule_groups()))
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    return tmp_path


def test_the_prometheus_rule_passes_promtool_check_rules(rules_dir: Path) -> None:
    result = run_promtool("check", "rules", "prometheus-rule.rules.yaml", cwd=rules_dir)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_every_alert_passes_its_promtool_unit_tests(rules_dir: Path) -> None:
    result = run_promtool("test", "rules", RULE_TESTS.name, cwd=rules_dir)

    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test() -> None:
    alerts = {rule["alert"] for group in rule_groups()["groups"] for rule in group["rules"]}
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }

    assert alerts == tested
    assert alerts >= {
        "OrchestratorTelemetrySummaryOverdue",
        "OrchestratorTelemetryEventsLost",
        "OrchestratorTelemetrySendsFailing",
        "OrchestratorTelemetryDatabaseUnreachable",
        "OrchestratorTelemetryConfigInvalid",
    }


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    # Each query as a recording rule: promtool then parses it as Prometheus would.
    rules = [
        {"record": f"dashboard:query_{index}", "expr": re.sub(r"\$\w+", ".*", query)}
        for index, query in enumerate(queries)
    ]
    (tmp_path / "dashboard.rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )

    result = run_promtool("check", "rules", "dashboard.rules.yaml", cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
