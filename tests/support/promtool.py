"""Running Prometheus' promtool on the deploy/ files: rules as Prometheus would load them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).parents[2] / "deploy" / "monitoring"
RULE = DEPLOY / "prometheus-rule.yaml"
RULE_TESTS = DEPLOY / "prometheus-rule.test.yaml"
DASHBOARD = DEPLOY / "grafana-dashboard.json"


def promtool() -> str:
    """The promtool binary; in CI a missing one fails the test instead of skipping it."""
    found = shutil.which("promtool")
    if found is None:
        message = "promtool not found; install Debian's prometheus package (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def run_promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run promtool with `args` in `cwd`."""
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def rule_groups() -> dict[str, Any]:
    """The PrometheusRule's spec: the plain rule file promtool reads."""
    document = yaml.safe_load(RULE.read_text(encoding="utf-8"))
    spec: dict[str, Any] = document["spec"]
    return spec
