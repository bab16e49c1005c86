"""The extended format end to end: `once` through the CLI, exactly what PostHog receives.

A seeded installation (the sandbox's demo installation plus the extended tables' rows, whose
values are worked out by hand in `sandbox/extended.py`), the command line as an operator runs it,
and the real posthog client posting to the local capture server. Both modes, both formats.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text

from orchestrator_telemetry.app import application
from orchestrator_telemetry.config import load
from orchestrator_telemetry.deliver.sinks import MemorySink
from orchestrator_telemetry.errors import PayloadInvalid
from orchestrator_telemetry.events import rfc3339
from orchestrator_telemetry.sandbox.demo import as_summary
from orchestrator_telemetry.sandbox.devtron import load_sample_data
from orchestrator_telemetry.sandbox.extended import load_extended_sample
from orchestrator_telemetry.schedule import Schedule, utc_now
from tests.support.capture import CaptureServer
from tests.support.cli import API_KEY, cli_env, plain_url, run_cli

pytestmark = pytest.mark.integration

CRON = "0 0 * * *"  # Summary and Heartbeat share the slot
UCID = "extendedpayload1"
SERVER_VERSION = "v1.29.4+k3s1"
ZERO_TIME = "0001-01-01T00:00:00Z"


@pytest.fixture
def slot() -> datetime:
    found = Schedule(CRON).latest_slot(utc_now())
    assert found is not None
    return found


@pytest.fixture
def seeded(orchestrator_engine: Engine, slot: datetime) -> tuple[dict[str, int], dict[str, Any]]:
    """The documented counts and the extended values of the seeded installation."""
    with orchestrator_engine.begin() as connection:
        documented = as_summary(load_sample_data(connection, slot))
        extended = load_extended_sample(connection, slot)
    return documented, extended


def once(url: str, capture: CaptureServer, **variables: str) -> dict[str, dict[str, Any]]:
    """Run `once`; return the Summary and Heartbeat received, without the client's `$` keys."""
    env = cli_env(
        OT_DATABASE_URL=plain_url(url),
        OT_POSTHOG_HOST=capture.url,
        OT_POSTHOG_API_KEY=API_KEY,
        OT_IDENTITY_UCID=UCID,
        OT_DEVTRON_SERVER_VERSION=SERVER_VERSION,
        OT_SCHEDULE_SUMMARY=CRON,
        OT_SCHEDULE_HEARTBEAT=CRON,
        **variables,
    )
    result = run_cli("once", "--event", "all", env=env)
    assert result.returncode == 0, result.describe()
    received = {event["event"]: event for event in capture.events}
    assert set(received) == {"Summary", "Heartbeat"}
    return {
        name: {k: v for k, v in event["properties"].items() if not k.startswith("$")}
        for name, event in received.items()
    }


def test_the_extended_full_summary_and_heartbeat_are_exactly_the_references(
    orchestrator_db_url: str,
    capture: CaptureServer,
    slot: datetime,
    seeded: tuple[dict[str, int], dict[str, Any]],
) -> None:
    _, values = seeded
    received = once(
        orchestrator_db_url,
        capture,
        OT_PAYLOAD_FORMAT="extended",
        OT_DEVTRON_RELEASE_VERSION="v1.2.0",
        OT_DEVTRON_GIT_VERSION="c6520431",
        OT_DEVTRON_CLUSTER_PROVIDER="aws",
    )

    envelope = {
        "ucid": UCID,
        "timestamp": rfc3339(slot),
        "eventType": "Summary",
        "serverVersion": SERVER_VERSION,
        "devtronVersion": "v1",
        "devtronMode": "FULL",
        "devtronGitVersion": "c6520431",
        "devtronReleaseVersion": "v1.2.0",
        "clusterProvider": "aws",
        "ExternalHelmAppClusterCount": {},
    }
    assert received["Summary"] == envelope | values
    # 94 keys; omitted: installTimedOutIntegrations (empty), ChartStoreVisitCount (two rows),
    # HelmAppUpdateCounter (inactive), pluginPolicyCount and appsWithStatefulsetCount (0).
    assert len(received["Summary"]) == 89
    assert received["Heartbeat"] == {
        "ucid": UCID,
        "timestamp": rfc3339(slot),
        "eventType": "Heartbeat",
        "serverVersion": SERVER_VERSION,
        "devtronVersion": "v1",
        "devtronMode": "FULL",
        "LastLoginTime": ZERO_TIME,
        "SkippedOnboarding": False,
    }


def test_the_extended_ea_only_summary_and_heartbeat_are_exactly_the_references(
    orchestrator_db_url: str,
    capture: CaptureServer,
    slot: datetime,
    seeded: tuple[dict[str, int], dict[str, Any]],
) -> None:
    _, values = seeded
    received = once(
        orchestrator_db_url,
        capture,
        OT_PAYLOAD_FORMAT="extended",
        OT_DEVTRON_MODE="ea-only",
        OT_DEVTRON_GIT_VERSION="c6520431",  # never in EA
    )

    assert received["Summary"] == {
        "ucid": UCID,
        "timestamp": rfc3339(slot),
        "eventType": "Summary",
        "serverVersion": SERVER_VERSION,
        "userCount": 4,
        "clusterCount": 3,
        "hostURL": True,
        "ssoLogin": True,
        "devtronVersion": "v1",
        "devtronMode": "EA_ONLY",
        "installedIntegrations": ["argo-cd", "cicd"],
        "installFailedIntegrations": ["security.trivy"],
        "LastLoginTime": values["LastLoginTime"],
        "installingIntegrations": ["notifier"],
        "HelmAppAccessCounter": "7",
        "SkippedOnboarding": True,
        "helmChartSuccessfulDeploymentCount": 2,
        "clusterProvider": "unknown",
        "helmAppCount": 2,
        "physicalClusterCount": 2,
        "isolatedClusterCount": 1,
        "activeUsersLast30Days": 2,
    }
    assert received["Heartbeat"] == {
        "ucid": UCID,
        "timestamp": rfc3339(slot),
        "eventType": "Heartbeat",
        "serverVersion": SERVER_VERSION,
        "devtronVersion": "v1",
        "devtronMode": "EA_ONLY",
        "LastLoginTime": ZERO_TIME,
        "SkippedOnboarding": False,
    }


@pytest.mark.parametrize("mode", ["full", "ea-only"])
def test_the_documented_format_is_unchanged_whatever_the_mode(
    orchestrator_db_url: str,
    capture: CaptureServer,
    slot: datetime,
    seeded: tuple[dict[str, int], dict[str, Any]],
    mode: str,
) -> None:
    counts, _ = seeded
    received = once(
        orchestrator_db_url,
        capture,
        OT_DEVTRON_MODE=mode,
        OT_DEVTRON_RELEASE_VERSION="v1.2.0",
        OT_DEVTRON_CLUSTER_PROVIDER="aws",
    )

    envelope = {"ucid": UCID, "timestamp": rfc3339(slot), "devtronVersion": "v1"}
    envelope["serverVersion"] = SERVER_VERSION
    assert received["Summary"] == envelope | {"eventType": 6, "summary": counts}
    assert received["Heartbeat"] == envelope | {"eventType": 0}


@pytest.mark.parametrize("mode", ["full", "ea-only"])
def test_the_grants_command_gives_a_role_exactly_enough_for_the_extended_summary(
    orchestrator_engine: Engine,
    capture: CaptureServer,
    slot: datetime,
    seeded: tuple[dict[str, int], dict[str, Any]],
    mode: str,
) -> None:
    role = f"grants_{mode.replace('-', '_')}"
    printed = run_cli(
        "grants", "--format", "extended", "--mode", mode, "--role", role, env=cli_env()
    )
    assert printed.returncode == 0, printed.describe()
    database = orchestrator_engine.url.database
    with orchestrator_engine.begin() as admin:
        admin.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'reader-pw'"))
        admin.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        admin.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO {role}'))
        admin.execute(text(printed.stdout))
        admin.execute(text(f"CREATE SCHEMA orchestrator_telemetry AUTHORIZATION {role}"))
    reader = orchestrator_engine.url.set(username=role, password="reader-pw")
    try:
        as_reader = once(
            reader.render_as_string(hide_password=False),
            capture,
            OT_PAYLOAD_FORMAT="extended",
            OT_DEVTRON_MODE=mode,
        )
        with orchestrator_engine.begin() as admin:
            tables = admin.execute(
                text(
                    "SELECT count(DISTINCT table_name) FROM information_schema.role_table_grants"
                    " WHERE grantee = :role AND privilege_type = 'SELECT'"
                    " AND table_schema = 'public'"
                ),
                {"role": role},
            ).scalar_one()
    finally:
        with orchestrator_engine.begin() as admin:
            admin.execute(text("DROP SCHEMA orchestrator_telemetry CASCADE"))
            admin.execute(text(f"DROP OWNED BY {role}"))
            admin.execute(text(f"DROP ROLE {role}"))

    _, values = seeded
    summary = as_reader["Summary"]
    assert {key: summary[key] for key in summary if key in values} == {
        key: value for key, value in values.items() if key in summary
    }
    assert -1 not in summary.values()
    assert tables == (39 if mode == "full" else 8)


@pytest.mark.parametrize("payload_format", ["documented", "extended"])
def test_an_event_that_does_not_match_its_schema_is_never_recorded(
    orchestrator_db_url: str, orchestrator_engine: Engine, slot: datetime, payload_format: str
) -> None:
    config = load(
        None,
        {
            "OT_DATABASE_URL": orchestrator_db_url,
            "OT_IDENTITY_UCID": UCID,
            "OT_PAYLOAD_FORMAT": payload_format,
        },
    )
    sink = MemorySink()
    # An empty serverVersion: every schema requires a non-empty one.
    with application(config, lambda: slot, sink, server_version=lambda: "") as app:
        app.telemetry.prepare()
        with pytest.raises(PayloadInvalid, match=r"serverVersion"):
            app.telemetry.record_heartbeat(slot)
        with pytest.raises(PayloadInvalid, match=r"serverVersion"):
            app.telemetry.record_summary(slot)
        app.telemetry.deliver()

    with orchestrator_engine.connect() as connection:
        recorded = connection.execute(
            text("SELECT count(*) FROM orchestrator_telemetry.outbox")
        ).scalar_one()
    assert recorded == 0
    assert sink.events == []
