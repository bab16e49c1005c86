"""What must hold after any simulated run, however the faults fell."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from orchestrator_telemetry.schedule import Schedule
from tests.simulation.world import RETRY_MAX, Findings
from tests.support.capture import CapturedRequest

SUMMARY_MAX_AGE = timedelta(days=7)  # the default delivery.summary_max_age_days
PAYLOAD_REFUSALS = frozenset({400, 413, 422})

Row = Mapping[str, Any]


def violations(
    findings: Findings,
    rows: Sequence[Row],
    requests: Sequence[CapturedRequest],
    summary: Schedule,
    heartbeat: Schedule,
) -> list[str]:
    """Every broken promise, one line each; empty when all hold."""
    accepted = [event for request in requests if request.status == 200 for event in request.batch]
    found: list[str] = []
    found += _one_uuid_per_period(accepted)
    found += _resent_only_after_a_kill(accepted, findings, requests)
    found += _nothing_owed_is_lost(findings, rows, summary, heartbeat)
    found += _every_aside_has_its_reason(findings, rows, requests)
    found += _no_process_died_unkilled(findings)
    found += _counters_agree(findings, rows, accepted)
    found += _the_quiet_end_was_reached(findings)
    if findings.longest_wait > RETRY_MAX + timedelta(seconds=1):
        found.append(f"a retry was scheduled {findings.longest_wait} ahead, past {RETRY_MAX}")
    return found


def _one_uuid_per_period(accepted: Sequence[Mapping[str, Any]]) -> list[str]:
    uuids: defaultdict[tuple[str, str, str], set[str]] = defaultdict(set)
    for event in accepted:
        uuids[(event["event"], event["distinct_id"], event["timestamp"])].add(event["uuid"])
    return [
        f"{name} of {ucid} at {period} arrived under {len(found)} uuids"
        for (name, ucid, period), found in uuids.items()
        if len(found) > 1
    ]


def _resent_only_after_a_kill(
    accepted: Sequence[Mapping[str, Any]],
    findings: Findings,
    requests: Sequence[CapturedRequest],
) -> list[str]:
    """A uuid arrives again only after a send whose answer was lost.

    That is a kill between the send and its mark, or a failed send that reached PostHog all the
    same (a client timeout on an answer PostHog did give, late): both leave the event pending,
    and it is re-sent under the same uuid.
    """
    unanswered = findings.unanswered
    copies = Counter(str(event["uuid"]) for event in accepted)
    return [
        f"uuid {uuid} arrived {count} times after {unanswered[uuid]} sends whose answer was lost"
        + _trail(uuid, findings, requests)
        for uuid, count in copies.items()
        if count > 1 + unanswered[uuid]
    ]


def _trail(uuid: str, findings: Findings, requests: Sequence[CapturedRequest]) -> str:
    """What the daemon logged and PostHog answered for one uuid, to explain a finding."""
    logged = [
        f"{line['event']} ({line.get('reason') or line.get('job') or ''})"
        for line in findings.logs
        if str(line.get("uuid")) == uuid
    ]
    answered = [
        str(request.status)
        for request in requests
        if any(str(event["uuid"]) == uuid for event in request.batch)
    ]
    return f"; logged: {', '.join(logged)}; PostHog answered: {', '.join(answered)}"


def _the_quiet_end_was_reached(findings: Findings) -> list[str]:
    """The checks above speak of runs that finished: some must have, once the faults ended."""
    ucid = findings.ucids[-1]
    settled = [
        moment
        for who, moment, _ in findings.completed
        if who == ucid and moment >= findings.quiet_from + timedelta(hours=1)
    ]
    return [] if settled else [f"no run of {ucid} finished in the quiet day after the faults"]


def _nothing_owed_is_lost(
    findings: Findings, rows: Sequence[Row], summary: Schedule, heartbeat: Schedule
) -> list[str]:
    """Each period the daemon had its chance to record was recorded, and then sent or set aside.

    A run that finished its catch-up at time t owed: every Summary slot from the installation's
    first one to the latest at t, within the maximum age; and, if a Heartbeat was owed to it
    (its tick, or a start), the latest Heartbeat slot at t.
    """
    by_key = {(row["event"], row["distinct_id"], row["period"]): row for row in rows}
    owed: set[tuple[str, str, datetime]] = set()
    first: dict[str, datetime] = {}
    for ucid, moment, heartbeat_owed in findings.completed:
        latest = summary.latest_slot(moment)
        if latest is not None:
            start = first.setdefault(ucid, latest)
            horizon = max(start - timedelta(microseconds=1), moment - SUMMARY_MAX_AGE)
            owed.update(("Summary", ucid, slot) for slot in summary.slots_between(horizon, moment))
        beat = heartbeat.latest_slot(moment)
        if heartbeat_owed and beat is not None:
            owed.add(("Heartbeat", ucid, beat))
    found: list[str] = []
    for name, ucid, period in sorted(owed, key=lambda key: (key[2], key[0])):
        row = by_key.get((name, ucid, period))
        if row is None:
            found.append(f"{name} of {ucid} at {period.isoformat()} was never recorded")
        elif row["status"] not in ("sent", "expired", "dead"):
            found.append(f"{name} of {ucid} at {period.isoformat()} is still {row['status']}")
    return found


def _every_aside_has_its_reason(
    findings: Findings, rows: Sequence[Row], requests: Sequence[CapturedRequest]
) -> list[str]:
    logged = {
        (line["event"], line.get("uuid"))
        for line in findings.logs
        if line["event"] in ("event expired undelivered", "event rejected; set aside as dead")
    }
    refused = {
        str(event["uuid"])
        for request in requests
        if request.status in PAYLOAD_REFUSALS
        for event in request.batch
    }
    found: list[str] = []
    for row in rows:
        uuid = row["uuid"]
        if row["status"] == "expired" and ("event expired undelivered", uuid) not in logged:
            found.append(f"{row['event']} {uuid} expired without a log line saying so")
        if row["status"] == "dead":
            if ("event rejected; set aside as dead", uuid) not in logged:
                found.append(f"{row['event']} {uuid} was set aside without a log line")
            if uuid not in refused:
                found.append(f"{row['event']} {uuid} was set aside though PostHog never refused it")
        if row["status"] in ("expired", "dead") and not row["last_error"]:
            found.append(f"{row['event']} {uuid} is {row['status']} with no reason stored")
    return found


def _no_process_died_unkilled(findings: Findings) -> list[str]:
    crashed = Counter(
        str(line.get("job")) for line in findings.logs if line["event"] == "job crashed"
    )
    return [
        f"{job} runs crashed {count} times on an exception the daemon did not expect"
        for job, count in sorted(crashed.items())
    ] + [f"the process died unkilled in {death}" for death in findings.died]


def _counters_agree(
    findings: Findings, rows: Sequence[Row], accepted: Sequence[Mapping[str, Any]]
) -> list[str]:
    def total(name: str, label: str, values: set[str]) -> float:
        return sum(
            monitor.registry.get_sample_value(name, {label: value}) or 0.0
            for monitor in findings.monitors
            for value in values
        )

    names = {str(row["event"]) for row in rows}
    status = Counter(str(row["status"]) for row in rows)
    sent_rows = {str(row["uuid"]) for row in rows if row["status"] == "sent"}
    arrived = {str(event["uuid"]) for event in accepted}
    found: list[str] = []
    delivered = total("orchestrator_telemetry_events_delivered_total", "event", names)
    if delivered != status["sent"]:
        found.append(f"delivered counters say {delivered:g}, the outbox {status['sent']} sent")
    expired = total("orchestrator_telemetry_expired_events_total", "event", names)
    if expired != status["expired"]:
        found.append(f"expired counters say {expired:g}, the outbox {status['expired']}")
    rejected = total("orchestrator_telemetry_send_failures_total", "kind", {"rejected"})
    if rejected != status["dead"]:
        found.append(f"rejected counters say {rejected:g}, the outbox {status['dead']} dead")
    never_arrived = sent_rows - arrived
    # A send whose answer was lost may have arrived, and then expired or been refused on retry.
    unmarked = arrived - sent_rows - set(findings.unanswered)
    if never_arrived or unmarked:
        found.append(
            f"outbox and PostHog disagree: {len(never_arrived)} sent never arrived,"
            f" {len(unmarked)} arrived but are not marked sent"
        )
    return found
