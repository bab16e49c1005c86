"""Air-gapped recording, history, export and upload, through the installed command line.

Air-gapped, the daemon records its events as usual and opens no outbound connection of any kind:
every HTTP path (PostHog, Devtron's key endpoint and opt-out lookup) leads to a local fake, and a
forward proxy named in the environment would see any other. `export` carries the events out;
`upload` sends them, each with its own uuid and timestamp, from wherever there is egress.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from orchestrator_telemetry.deliver.export import FORMAT
from orchestrator_telemetry.sandbox.demo import as_summary
from orchestrator_telemetry.sandbox.devtron import load_sample_data
from orchestrator_telemetry.schedule import Schedule, utc_now
from tests.support.capture import CaptureServer, Reply
from tests.support.cli import API_KEY, CliProcess, cli_env, plain_url, run_cli
from tests.support.devtron_api import FakeDevtronApi, RecordingProxy

pytestmark = pytest.mark.integration

UCID = "airgapucid000011"
SCHEMA = "orchestrator_telemetry"


@pytest.fixture
def devtron(capture: CaptureServer) -> Iterator[FakeDevtronApi]:
    """Devtron's key endpoint and opt-out lookup; the key it hands out points at `capture`."""
    with FakeDevtronApi(posthog_endpoint=capture.url) as api:
        yield api


@pytest.fixture
def proxy(capture: CaptureServer, devtron: FakeDevtronApi) -> Iterator[RecordingProxy]:
    """A forward proxy every outbound HTTP request of the command would pass through."""
    with RecordingProxy({"posthog.invalid": capture.url, "devtron.invalid": devtron.url}) as p:
        yield p


@pytest.fixture
def expected_summary(orchestrator_engine: Engine) -> dict[str, int]:
    """The sample installation, dated at the latest Summary slot; the counts it must show."""
    slot = Schedule("0 0 * * *").latest_slot(utc_now())
    assert slot is not None
    with orchestrator_engine.begin() as connection:
        return as_summary(load_sample_data(connection, slot))


def air_gapped(database_url: str, proxy: RecordingProxy, **variables: str) -> dict[str, str]:
    """Air-gapped by Devtron's switch, with every way out wired to a recording fake."""
    return cli_env(
        IS_AIR_GAP_ENVIRONMENT="true",
        OT_DATABASE_URL=plain_url(database_url),
        OT_POSTHOG_HOST="http://posthog.invalid",
        OT_POSTHOG_KEY_URL="http://devtron.invalid/devtron/telemetry/posthogInfo",
        OT_TELEMETRY_REMOTE_OPT_OUT="true",
        OT_TELEMETRY_OPT_OUT_URL="http://devtron.invalid/devtron/telemetry/opt-out",
        OT_IDENTITY_UCID=UCID,
        HTTP_PROXY=proxy.url,
        HTTPS_PROXY=proxy.url,
        **variables,
    )


def with_egress(capture: CaptureServer, **variables: str) -> dict[str, str]:
    """A machine with egress: a PostHog key and host, and nothing else unless given."""
    return cli_env(OT_POSTHOG_HOST=capture.url, OT_POSTHOG_API_KEY=API_KEY, **variables)


def assert_nothing_left(capture: CaptureServer, proxy: RecordingProxy) -> None:
    """Nothing reached PostHog, nor anything else: Devtron's endpoints answer only via the proxy."""
    assert capture.requests == []
    assert proxy.requests == []


def history(env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    result = run_cli("history", "--json", *args, env=env)
    assert result.returncode == 0, result.describe()
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def export_file(env: dict[str, str], path: Path) -> dict[str, Any]:
    result = run_cli("export", "--out", str(path), env=env)
    assert result.returncode == 0, result.describe()
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def recorded_and_exported(
    database_url: str, proxy: RecordingProxy, path: Path
) -> tuple[dict[str, str], dict[str, Any]]:
    """Air-gapped `once`, then `export` to `path`; the air-gapped environment and the document."""
    inside = air_gapped(database_url, proxy)
    recorded = run_cli("once", "--event", "all", env=inside)
    assert recorded.returncode == 0, recorded.describe()
    return inside, export_file(inside, path)


def outbox_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(f"SELECT event, status, attempts FROM {SCHEMA}.outbox ORDER BY event")
        ).mappings()
        return [dict(row) for row in rows]


# the scenario, end to end -------------------------------------------------------------


def test_air_gapped_events_are_recorded_exported_uploaded_twice_and_shown_sent(
    orchestrator_db_url: str,
    expected_summary: dict[str, int],
    capture: CaptureServer,
    proxy: RecordingProxy,
    tmp_path: Path,
) -> None:
    inside = air_gapped(orchestrator_db_url, proxy)

    recorded = run_cli("once", "--event", "all", env=inside)

    assert recorded.returncode == 0, recorded.describe()
    assert_nothing_left(capture, proxy)
    pending = history(inside)
    assert {(row["event"], row["status"], row["attempts"]) for row in pending} == {
        ("Summary", "pending", 0),
        ("Heartbeat", "pending", 0),
    }

    document = export_file(inside, tmp_path / "telemetry.json")

    assert document["format"] == FORMAT
    batch = document["batch"]
    assert {event["event"] for event in batch} == {"Summary", "Heartbeat"}
    assert [e["timestamp"] for e in batch] == sorted(e["timestamp"] for e in batch)
    assert {e["uuid"] for e in batch} == {row["uuid"] for row in pending}
    [summary] = [event for event in batch if event["event"] == "Summary"]
    assert summary["properties"]["summary"] == expected_summary
    assert summary["distinct_id"] == UCID
    assert_nothing_left(capture, proxy)

    outside = with_egress(capture, OT_DATABASE_URL=plain_url(orchestrator_db_url))
    first = run_cli("upload", str(tmp_path / "telemetry.json"), env=outside)

    assert first.returncode == 0, first.describe()
    sent = {event["uuid"]: event for event in capture.events}
    assert set(sent) == {event["uuid"] for event in batch}
    for event in batch:
        received = sent[event["uuid"]]
        assert received["event"] == event["event"]
        assert received["distinct_id"] == event["distinct_id"]
        assert datetime.fromisoformat(received["timestamp"]) == datetime.fromisoformat(
            event["timestamp"]
        )
        mine = {k: v for k, v in received["properties"].items() if not k.startswith("$")}
        assert mine == event["properties"]
    shown = history(inside, "--payload")
    assert {row["status"] for row in shown} == {"sent"}
    assert all(row["sent_at"] for row in shown)
    assert {row["uuid"]: row["properties"] for row in shown} == {
        event["uuid"]: event["properties"] for event in batch
    }

    second = run_cli("upload", str(tmp_path / "telemetry.json"), env=outside)

    assert second.returncode == 0, second.describe()
    uuids = [event["uuid"] for event in capture.events]
    assert sorted(uuids) == sorted([event["uuid"] for event in batch] * 2)
    assert proxy.requests == []


def test_a_tampered_export_is_refused_whole_with_exit_2_and_nothing_sent(
    orchestrator_db_url: str, capture: CaptureServer, proxy: RecordingProxy, tmp_path: Path
) -> None:
    path = tmp_path / "telemetry.json"
    _, document = recorded_and_exported(orchestrator_db_url, proxy, path)
    # The Heartbeat comes first or last by time; either way it is valid and would be sent.
    [summary] = [event for event in document["batch"] if event["event"] == "Summary"]
    summary["properties"]["hostname"] = "build-01.corp.example"
    path.write_text(json.dumps(document), encoding="utf-8")

    result = run_cli("upload", str(path), env=with_egress(capture))

    assert result.returncode == 2, result.describe()
    [line] = result.stderr.strip().splitlines()
    assert str(path) in line
    assert "hostname" in line
    assert "Summary" in line
    assert "nothing was sent" in line
    assert capture.requests == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda doc: doc.update(format="orchestrator-telemetry/export/v0"), "unknown format"),
        (lambda doc: doc.pop("format"), "format"),
        (lambda doc: doc["batch"][0].update(uuid="not-a-uuid"), "uuid"),
        (lambda doc: doc["batch"][0]["properties"].update(eventType=9), "eventType"),
        (lambda doc: doc["batch"].append(dict(doc["batch"][0])), "uuid appears twice"),
        (lambda doc: doc["batch"][0].update(api_key=API_KEY), "api_key"),
    ],
    ids=["wrong format", "no format", "bad uuid", "wrong eventType", "duplicate", "extra key"],
)
def test_every_kind_of_bad_export_is_refused_before_anything_is_sent(
    change: Any, named: str, capture: CaptureServer, tmp_path: Path
) -> None:
    heartbeat = {
        "event": "Heartbeat",
        "distinct_id": UCID,
        "uuid": "f891bd39-2144-5d15-966a-1f169d5792df",
        "timestamp": "2026-11-25T06:00:00Z",
        "properties": {
            "ucid": UCID,
            "timestamp": "2026-11-25T06:00:00Z",
            "eventType": 0,
            "devtronVersion": "v1",
            "serverVersion": "v1.29.4+k3s1",
        },
    }
    document: dict[str, Any] = {"format": FORMAT, "batch": [heartbeat]}
    change(document)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    result = run_cli("upload", str(path), env=with_egress(capture))

    assert result.returncode == 2, result.describe()
    [line] = result.stderr.strip().splitlines()
    assert named in line
    assert capture.requests == []


def test_upload_needs_no_database_and_names_each_event_posthog_did_not_accept(
    orchestrator_db_url: str, capture: CaptureServer, proxy: RecordingProxy, tmp_path: Path
) -> None:
    path = tmp_path / "telemetry.json"
    inside, document = recorded_and_exported(orchestrator_db_url, proxy, path)
    first, second = document["batch"]
    capture.respond_with(Reply.ok(), Reply.error(400, "Invalid event"))

    result = run_cli("upload", str(path), env=with_egress(capture))

    assert result.returncode == 1, result.describe()
    assert [event["uuid"] for event in capture.events] == [first["uuid"]]
    [finished] = [line for line in result.logs if line["msg"] == "upload finished"]
    assert finished["failed"] == [f"{second['event']} {second['uuid']}"]
    assert finished["marked_sent"] == 0  # no database configured: nothing to mark
    # Without a database, nothing there changed: both still wait in the air-gapped outbox.
    assert {row["status"] for row in history(inside)} == {"pending"}


def test_upload_marks_sent_only_what_posthog_accepted(
    orchestrator_db_url: str,
    orchestrator_engine: Engine,
    capture: CaptureServer,
    proxy: RecordingProxy,
    tmp_path: Path,
) -> None:
    path = tmp_path / "telemetry.json"
    inside, document = recorded_and_exported(orchestrator_db_url, proxy, path)
    first, second = document["batch"]
    capture.respond_with(Reply.ok(), Reply.error(503))
    outside = with_egress(capture, OT_DATABASE_URL=plain_url(orchestrator_db_url))

    result = run_cli("upload", str(path), env=outside)

    assert result.returncode == 1, result.describe()
    statuses = {row["uuid"]: row["status"] for row in history(inside)}
    assert statuses == {first["uuid"]: "sent", second["uuid"]: "pending"}


def test_upload_refuses_to_send_from_an_air_gapped_or_opted_out_configuration(
    capture: CaptureServer, tmp_path: Path
) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"format": FORMAT, "batch": []}), encoding="utf-8")

    for switch in ({"IS_AIR_GAP_ENVIRONMENT": "true"}, {"DO_NOT_TRACK": "1"}):
        result = run_cli("upload", str(path), env=with_egress(capture, **switch))

        assert result.returncode == 2, result.describe()
        [line] = result.stderr.strip().splitlines()
        assert next(iter(switch)) in line
    assert capture.requests == []


def test_export_to_stdout_piped_into_upload_from_stdin_delivers_the_same_events(
    orchestrator_db_url: str, capture: CaptureServer, proxy: RecordingProxy
) -> None:
    inside = air_gapped(orchestrator_db_url, proxy)
    assert run_cli("once", "--event", "all", env=inside).returncode == 0
    exported = run_cli("export", "--out", "-", env=inside)

    result = run_cli("upload", "-", env=with_egress(capture), stdin=exported.stdout)

    assert result.returncode == 0, result.describe()
    batch = json.loads(exported.stdout)["batch"]
    assert [event["uuid"] for event in capture.events] == [event["uuid"] for event in batch]


# air-gapped -----------------------------------------------------------------------------------


def test_air_gapped_events_do_not_expire_while_air_gapped(
    orchestrator_db_url: str,
    orchestrator_engine: Engine,
    capture: CaptureServer,
    proxy: RecordingProxy,
) -> None:
    # A maximum age of under a second: any delivery pass would expire both events at once.
    ages = {
        "OT_DELIVERY_HEARTBEAT_MAX_AGE_HOURS": "0.0001",
        "OT_DELIVERY_SUMMARY_MAX_AGE_DAYS": "0.00001",
    }
    inside = air_gapped(orchestrator_db_url, proxy, **ages)

    first = run_cli("once", "--event", "all", env=inside)
    time.sleep(1.0)
    again = run_cli("once", "--event", "all", env=inside)

    assert (first.returncode, again.returncode) == (0, 0), again.describe()
    assert outbox_rows(orchestrator_engine) == [
        {"event": "Heartbeat", "status": "pending", "attempts": 0},
        {"event": "Summary", "status": "pending", "attempts": 0},
    ]
    # The same outbox, no longer air-gapped: the first delivery pass expires them.
    online = with_egress(capture, OT_DATABASE_URL=plain_url(orchestrator_db_url), **ages)
    run_cli("once", "--event", "heartbeat", env=online)
    assert "expired" in {row["status"] for row in outbox_rows(orchestrator_engine)}


def test_status_of_an_air_gapped_installation_asks_only_that_events_are_recorded(
    orchestrator_db_url: str, capture: CaptureServer, proxy: RecordingProxy
) -> None:
    inside = air_gapped(orchestrator_db_url, proxy)
    assert run_cli("once", "--event", "all", env=inside).returncode == 0

    result = run_cli("status", env=inside)

    assert result.returncode == 0, result.describe()
    assert "outbox: pending 2, sent 0, dead 0, expired 0" in result.stdout
    assert "overdue: nothing" in result.stdout
    assert_nothing_left(capture, proxy)


def test_air_gapped_by_the_setting_needs_no_key_and_emit_records_only(
    orchestrator_db_url: str,
    orchestrator_engine: Engine,
    capture: CaptureServer,
    devtron: FakeDevtronApi,
    proxy: RecordingProxy,
) -> None:
    env = cli_env(
        OT_TELEMETRY_AIR_GAPPED="true",
        OT_DATABASE_URL=plain_url(orchestrator_db_url),
        OT_IDENTITY_UCID=UCID,
        HTTP_PROXY=proxy.url,
    )

    result = run_cli("emit", "InstallationSuccess", env=env)

    assert result.returncode == 0, result.describe()
    assert outbox_rows(orchestrator_engine) == [
        {"event": "InstallationSuccess", "status": "pending", "attempts": 0}
    ]
    assert_nothing_left(capture, proxy)
    assert devtron.requests == []


def test_the_air_gapped_daemon_records_at_start_and_sends_nothing(
    orchestrator_db_url: str,
    orchestrator_engine: Engine,
    capture: CaptureServer,
    devtron: FakeDevtronApi,
    proxy: RecordingProxy,
) -> None:
    env = air_gapped(orchestrator_db_url, proxy, OT_HTTP_HOST="127.0.0.1")
    with CliProcess("run", env=env) as daemon:
        startup = daemon.wait_for_log(lambda line: line["msg"] == "job finished", 30.0)
        code = daemon.stop(signal.SIGTERM)

    assert code == 0, daemon.describe()
    assert (startup["job"], startup["outcome"]) == ("startup", "ok")
    assert set(startup["recorded"]) == {"Summary", "Heartbeat"}
    assert startup["sent"] == 0
    assert {row["status"] for row in outbox_rows(orchestrator_engine)} == {"pending"}
    assert_nothing_left(capture, proxy)
    assert devtron.requests == []
    assert any("air-gapped" in line["msg"] for line in daemon.logs)


def test_do_not_track_still_wins_over_air_gapped(
    orchestrator_db_url: str,
    orchestrator_engine: Engine,
    capture: CaptureServer,
    devtron: FakeDevtronApi,
    proxy: RecordingProxy,
) -> None:
    env = air_gapped(orchestrator_db_url, proxy, DO_NOT_TRACK="1")

    result = run_cli("once", env=env)

    assert result.returncode == 0, result.describe()
    assert_nothing_left(capture, proxy)
    assert devtron.requests == []
    with orchestrator_engine.connect() as connection:
        schema = connection.scalar(
            text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": SCHEMA}
        )
    assert schema is None  # nothing recorded: not even the schema was created


# history --------------------------------------------------------------------------------------


def test_history_lists_newest_first_with_every_field_and_a_readable_table(
    orchestrator_db_url: str, capture: CaptureServer
) -> None:
    env = with_egress(capture, OT_DATABASE_URL=plain_url(orchestrator_db_url))
    run_cli("once", "--event", "heartbeat", env=env)
    capture.respond_with(Reply.error(503, "try later"))
    run_cli("once", "--event", "summary", env=env)

    rows = history(env)
    table = run_cli("history", env=env)

    assert [row["period"] for row in rows] == sorted((row["period"] for row in rows), reverse=True)
    assert set(rows[0]) == {
        "event",
        "period",
        "uuid",
        "status",
        "attempts",
        "recorded_at",
        "sent_at",
        "last_error",
    }
    by_event = {row["event"]: row for row in rows}
    assert set(by_event) == {"Summary", "Heartbeat"}
    failed, sent = by_event["Summary"], by_event["Heartbeat"]
    assert (failed["status"], failed["attempts"], failed["sent_at"]) == ("pending", 1, None)
    assert "try later" in failed["last_error"]
    assert (sent["status"], sent["attempts"], sent["last_error"]) == ("sent", 1, None)
    assert sent["sent_at"] >= sent["recorded_at"]
    assert table.returncode == 0, table.describe()
    header, *lines = table.stdout.strip().splitlines()
    assert header.split()[:4] == ["event", "period", "uuid", "status"]
    assert [line.split()[2] for line in lines] == [row["uuid"] for row in rows]


def test_history_since_leaves_older_events_out_and_payload_needs_json(
    orchestrator_db_url: str, orchestrator_engine: Engine, capture: CaptureServer
) -> None:
    env = with_egress(capture, OT_DATABASE_URL=plain_url(orchestrator_db_url))
    run_cli("once", "--event", "all", env=env)
    with orchestrator_engine.begin() as connection:
        connection.execute(
            text(
                f"UPDATE {SCHEMA}.outbox SET timestamp = timestamp - interval '40 days'"
                " WHERE event = 'Heartbeat'"
            )
        )

    recent = history(env)
    everything = history(env, "--since", "60")
    bad = run_cli("history", "--payload", env=env)

    assert [row["event"] for row in recent] == ["Summary"]
    assert {row["event"] for row in everything} == {"Summary", "Heartbeat"}
    assert bad.returncode == 2
    assert "--payload needs --json" in bad.stderr


def test_history_masks_secrets_in_last_errors(
    orchestrator_db_url: str, orchestrator_engine: Engine, capture: CaptureServer
) -> None:
    env = with_egress(capture, OT_DATABASE_URL=plain_url(orchestrator_db_url))
    capture.respond_with(Reply.error(503, f"upstream said {API_KEY}"), Reply.error(503))
    run_cli("once", "--event", "all", env=env)

    shown = run_cli("history", "--json", env=env)
    table = run_cli("history", env=env)

    assert API_KEY not in shown.output + table.output
    assert "***" in shown.stdout


def test_history_and_export_to_stdout_read_only_the_daemons_own_tables(
    orchestrator_db_url: str, orchestrator_engine: Engine, capture: CaptureServer
) -> None:
    env = with_egress(capture, OT_DATABASE_URL=plain_url(orchestrator_db_url))
    run_cli("once", "--event", "all", env=env)
    with orchestrator_engine.begin() as connection:
        # Were any of the orchestrator's tables read, these commands would now fail.
        connection.execute(text("REVOKE ALL ON SCHEMA public FROM PUBLIC"))
        connection.execute(text("DROP TABLE public.pipeline, public.ci_pipeline CASCADE"))

    rows = history(env)
    exported = run_cli("export", "--out", "-", env=env)

    assert {row["event"] for row in rows} == {"Summary", "Heartbeat"}
    assert exported.returncode == 0, exported.describe()
    document = json.loads(exported.stdout)
    assert {event["uuid"] for event in document["batch"]} == {row["uuid"] for row in rows}
    assert API_KEY not in exported.stdout
    assert "postgresql" not in exported.stdout
