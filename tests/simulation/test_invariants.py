"""The simulation's judge: each invariant catches the breakage it names, and passes a clean run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from orchestrator_telemetry.schedule import Schedule
from orchestrator_telemetry.serve.metrics import Monitor
from tests.simulation.faults import START
from tests.simulation.invariants import violations
from tests.simulation.world import HEARTBEAT_CRON, SUMMARY_CRON, Findings
from tests.support.capture import CapturedRequest

UCID = "sim0000000000001"
SUMMARY, HEARTBEAT = Schedule(SUMMARY_CRON), Schedule(HEARTBEAT_CRON)
SLOT = START.replace(hour=0, minute=0, second=0)


def row(uuid: str, event: str = "Summary", status: str = "sent", **extra: Any) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "event": event,
        "distinct_id": UCID,
        "period": SLOT,
        "status": status,
        "last_error": extra.get("last_error"),
    }


def posted(*uuids: str, status: int = 200, event: str = "Summary") -> CapturedRequest:
    batch = [
        {"event": event, "distinct_id": UCID, "uuid": uuid, "timestamp": "2026-01-05T00:00:00Z"}
        for uuid in uuids
    ]
    return CapturedRequest("/batch/", {}, {"batch": batch}, status)


def counted(sent: int) -> Monitor:
    monitor = Monitor()
    for _ in range(sent):
        monitor.observe_outcome("sent", "Summary")
    return monitor


def judge(
    findings: Findings, rows: Sequence[Mapping[str, Any]], requests: Sequence[CapturedRequest]
) -> list[str]:
    return violations(findings, rows, requests, SUMMARY, HEARTBEAT)


def clean() -> Findings:
    return Findings(
        completed=[
            (UCID, SLOT + timedelta(minutes=5), False),
            (UCID, SLOT + timedelta(hours=2), False),
        ],
        monitors=[counted(1)],
        ucids=[UCID],
        quiet_from=SLOT,
    )


def test_a_clean_run_breaks_nothing() -> None:
    assert judge(clean(), [row("u1")], [posted("u1")]) == []


def test_a_run_where_nothing_ever_finished_is_caught_not_passed_as_clean() -> None:
    findings = clean()
    findings.completed = []

    assert any("no run of" in line for line in judge(findings, [], []))


def test_two_uuids_for_one_period_are_caught() -> None:
    findings = clean()
    findings.monitors = [counted(2)]
    rows = [row("u1"), {**row("u2"), "period": SLOT + timedelta(seconds=1)}]

    found = judge(findings, rows, [posted("u1", "u2")])

    assert any("arrived under 2 uuids" in line for line in found)


def test_a_uuid_arriving_twice_is_caught_unless_a_send_of_it_went_unanswered() -> None:
    twice = [posted("u1"), posted("u1")]

    assert any("arrived 2 times" in line for line in judge(clean(), [row("u1")], twice))
    killed = clean()
    killed.unanswered["u1"] = 1
    assert judge(killed, [row("u1")], twice) == []


def test_a_period_the_daemon_had_its_chance_to_record_but_did_not_is_caught() -> None:
    found = judge(clean(), [], [])

    assert any("was never recorded" in line for line in found)


def test_an_event_left_pending_after_the_quiet_end_is_caught() -> None:
    findings = clean()
    findings.monitors = [counted(0)]

    found = judge(findings, [row("u1", status="pending")], [])

    assert any("is still pending" in line for line in found)


def test_an_event_set_aside_though_posthog_never_refused_it_is_caught() -> None:
    findings = clean()
    findings.monitors = [counted(0)]
    findings.logs = [{"event": "event rejected; set aside as dead", "uuid": "u1"}]
    dead = row("u1", status="dead", last_error="HTTP 404")

    found = judge(findings, [dead], [posted("u1", status=404)])

    assert any("never refused it" in line for line in found)
    assert not any(
        "never refused it" in line for line in judge(findings, [dead], [posted("u1", status=400)])
    )


def test_a_job_that_crashed_or_killed_its_process_is_caught() -> None:
    findings = clean()
    findings.logs = [{"event": "job crashed", "job": "retry"}]
    findings.died = ["retry at 2026-01-06T00:00:00+00:00: OverflowError()"]

    found = judge(findings, [row("u1")], [posted("u1")])

    assert any("crashed 1 times" in line for line in found)
    assert any("died unkilled" in line for line in found)


def test_counters_that_disagree_with_the_outbox_are_caught() -> None:
    findings = clean()
    findings.monitors = [counted(2)]

    found = judge(findings, [row("u1")], [posted("u1")])

    assert any("delivered counters say 2" in line for line in found)


def test_a_retry_scheduled_beyond_the_longest_backoff_is_caught() -> None:
    findings = clean()
    findings.longest_wait = timedelta(hours=2)

    assert any(
        "a retry was scheduled" in line for line in judge(findings, [row("u1")], [posted("u1")])
    )


def test_monitors_of_every_process_are_added_up() -> None:
    findings = clean()
    findings.monitors = [counted(1), counted(0)]

    assert judge(findings, [row("u1")], [posted("u1")]) == []
