"""The daemon's use cases: prepare, record the events of a slot, deliver, preview.

Nothing here knows about APScheduler or the command line; time comes from an injected clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from . import events, schemas
from .collect import Window, collect, payload
from .collect.identity import resolve_ucid, stored_ucid
from .database import first_line
from .deliver.sinks import EventSink
from .errors import DatabaseUnavailable, SchemaError
from .events import Event, EventName, Versions
from .schedule import Clock, Schedule
from .state import migrate
from .state.outbox import DeliveryReport, Observer, Outbox
from .state.tables import STATUSES

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Status:
    """What `status` reports: identity, the last Summary, the outbox, what runs next."""

    ucid: str | None
    last_summary: dict[str, Any] | None
    outbox: dict[str, int]
    next_runs: dict[str, datetime | None]
    overdue: list[str]


@dataclass(frozen=True)
class Plan:
    """What the daemon reports and when: identity source, versions, schedules, age limits."""

    configured_ucid: str | None
    devtron_version: str
    summary: Schedule
    heartbeat: Schedule
    summary_max_age: timedelta
    schema: str
    migrate_on_start: bool
    grace: timedelta = timedelta(hours=1)
    collect_deadline: timedelta = timedelta(hours=6)
    payload_format: str = "documented"  # or "extended"
    devtron: payload.Devtron = field(default_factory=payload.Devtron)
    air_gapped: bool = False  # record, never send: no delivery pass, so nothing expires either


class Telemetry:
    """Builds, records and delivers the events; safe to call from several threads and replicas."""

    def __init__(
        self,
        plan: Plan,
        *,
        orchestrator: Engine,
        state: Engine,
        outbox: Outbox,
        sink: EventSink,
        clock: Clock,
        server_version: Callable[[], str] = lambda: "unknown",
        configmap_ucid: Callable[[Callable[[], str]], str] | None = None,
        configmap_peek: Callable[[], str | None] = lambda: None,
        opted_out: Callable[[str], bool] = lambda ucid: False,
        after_delivery: Callable[[DeliveryReport], None] = lambda report: None,
    ) -> None:
        self.plan = plan
        self._orchestrator = orchestrator
        self._state = state
        self.outbox = outbox
        self.sink = sink
        self._clock = clock
        self._server_version = server_version
        self._configmap_ucid = configmap_ucid
        self._configmap_peek = configmap_peek
        self._opted_out = opted_out
        self._after_delivery = after_delivery
        self._ucid: str | None = None
        self._lock = threading.Lock()

    def versions(self) -> Versions:
        """The versions every event carries now."""
        return Versions(devtron=self.plan.devtron_version, server=self._server_version())

    def opted_out(self) -> bool:
        """Whether Devtron's remote opt-out says this installation sends nothing."""
        return self._opted_out(self.ucid)

    @property
    def ucid(self) -> str:
        """The installation id; `prepare()` must have succeeded."""
        if self._ucid is None:
            raise RuntimeError("prepare() first")
        return self._ucid

    def prepare(self) -> str:
        """Migrate (if configured) and resolve the ucid, once; return the ucid."""
        with self._lock:
            if self._ucid is None:
                try:
                    if self.plan.migrate_on_start:
                        migrate.upgrade(self._state, self.plan.schema)
                    elif not migrate.is_at_head(self._state, self.plan.schema):
                        raise SchemaError(
                            f"schema {self.plan.schema!r} is not at revision {migrate.HEAD};"
                            " run `orchestrator-telemetry migrate` or set state.migrate_on_start"
                        )
                    self._ucid = resolve_ucid(
                        self.plan.configured_ucid, self._state, self._configmap_ucid
                    )
                except OperationalError as exc:
                    raise DatabaseUnavailable(f"state database: {first_line(exc)}") from None
            return self._ucid

    def record_summary(self, slot: datetime) -> Event | None:
        """Record the Summary of `slot` unless it is already recorded; return it if recorded.

        Raises TransientCollectError while a count fails for a passing cause and the slot
        is younger than the collect deadline.
        """
        # The counts are read only by the replica that records: the others skip the query.
        return self.outbox.record_once(
            EventName.SUMMARY, self.ucid, slot, lambda: self.build_summary(slot)
        )

    def record_heartbeat(self, slot: datetime) -> Event | None:
        """Record the Heartbeat of `slot` unless it is already recorded; return it if recorded."""
        return self.outbox.record_once(
            EventName.HEARTBEAT, self.ucid, slot, lambda: self.build_heartbeat(slot)
        )

    def build_summary(self, slot: datetime) -> Event:
        """The Summary of `slot`, counting the 24 hours up to it; checked against its schema."""
        give_up = self._clock() - slot >= self.plan.collect_deadline
        return self._checked(self._summary(self.ucid, self.versions(), slot, give_up=give_up))

    def build_heartbeat(self, slot: datetime) -> Event:
        """The Heartbeat of `slot`, checked against its schema."""
        return self._checked(self._heartbeat(self.ucid, self.versions(), slot))

    def _summary(
        self, ucid: str, versions: Versions, slot: datetime, *, give_up: bool = False
    ) -> Event:
        window = Window.ending_at(slot)
        if self.plan.payload_format == "extended":
            layout = self.plan.devtron.summary_layout
            values = collect(self._orchestrator, window, layout=layout, give_up=give_up)
            return payload.summary(ucid, versions, slot, values, self.plan.devtron)
        counts = collect(self._orchestrator, window, layout="documented", give_up=give_up)
        return events.summary(ucid, versions, slot, counts)

    def _heartbeat(self, ucid: str, versions: Versions, slot: datetime) -> Event:
        if self.plan.payload_format == "extended":
            return payload.heartbeat(ucid, versions, slot, self.plan.devtron)
        return events.heartbeat(ucid, versions, slot)

    def _checked(self, event: Event) -> Event:
        """`event`, once its properties match its JSON Schema (else PayloadInvalid)."""
        schemas.validate(event.to_capture(), self.plan.payload_format, self.plan.devtron.mode)
        return event

    def missed_summary_slots(self, now: datetime) -> list[datetime]:
        """Summary slots with no Summary yet, within the maximum age, oldest first.

        Every slot since the installation's first Summary counts, not only those after its latest:
        a slot another replica claimed and then failed to record is found again.
        """
        latest = self.plan.summary.latest_slot(now)
        if latest is None:
            return []
        horizon = now - self.plan.summary_max_age
        span = self.outbox.periods(EventName.SUMMARY, self.ucid, since=horizon)
        if span.first is None:
            return [latest]  # a first start reports the current period, not history
        if span.last is not None and span.last < horizon:
            # Never a silent gap: periods too old to report are named, then left behind.
            lost = list(self.plan.summary.slots_between(span.last, horizon))
            if lost:
                log.warning(
                    "summary periods missed beyond the maximum age are not reported",
                    periods=len(lost),
                    first=lost[0].isoformat(),
                    last=lost[-1].isoformat(),
                )
        start = max(span.first - timedelta(microseconds=1), horizon)
        return [
            slot for slot in self.plan.summary.slots_between(start, now) if slot not in span.recent
        ]

    def catch_up(
        self, *, heartbeat: bool = True, progress: Callable[[], None] = lambda: None
    ) -> list[Event]:
        """Record the current Heartbeat and every missed Summary; return what was recorded.

        The Heartbeat comes first: it never reads the orchestrator, so a failing count cannot
        hold it back. Summaries are recorded oldest first; the first failure stops the rest.
        """
        now = self._clock()
        recorded: list[Event] = []
        heartbeat_slot = self.plan.heartbeat.latest_slot(now) if heartbeat else None
        if heartbeat_slot is not None:
            event = self.record_heartbeat(heartbeat_slot)
            if event is not None:
                recorded.append(event)
            progress()
        for slot in self.missed_summary_slots(now):
            # A slot another replica is recording is skipped here; if that replica fails, a
            # later run finds the slot missing again.
            summary = self.record_summary(slot)
            if summary is not None:
                recorded.append(summary)
            progress()
        return recorded

    def record_installer_event(self, name: EventName) -> Event:
        """Record an installer lifecycle event, stamped now; each call is a new event."""
        event = self._checked(events.installer(name, self.ucid, self.versions(), self._clock()))
        self.outbox.record(event)
        return event

    def deliver(
        self,
        *,
        ignore_backoff: bool = False,
        observe: Observer | None = None,
        progress: Callable[[], None] = lambda: None,
    ) -> DeliveryReport:
        """Send everything due through the sink; air-gapped, touch nothing."""
        if self.plan.air_gapped:
            return DeliveryReport()
        report = self.outbox.deliver(
            self.sink,
            ignore_backoff=ignore_backoff,
            observe=observe or (lambda outcome, name: None),
            progress=progress,
        )
        self._after_delivery(report)
        return report

    def status(self) -> Status:
        """The state of delivery, from the daemon's own tables (and the ConfigMap in a cluster)."""
        now = self._clock()
        if not migrate.is_at_head(self._state, self.plan.schema):
            unmigrated = f"schema {self.plan.schema!r} is not migrated to {migrate.HEAD}"
            return Status(None, None, {}, {}, [unmigrated])
        ucid = self._known_ucid()
        last = self.outbox.latest(EventName.SUMMARY, ucid) if ucid else None
        counts = self.outbox.status_counts()
        due = self.outbox.next_due()
        overdue: list[str] = []
        slot = self.plan.summary.latest_slot(now)
        if slot is not None and now - slot > self.plan.grace:
            # Air-gapped, recording is all there is to do: `export` carries events out.
            done = {"pending", "sent"} if self.plan.air_gapped else {"sent"}
            delivered = last is not None and last["period"] >= slot and last["status"] in done
            if not delivered:
                missing = "recorded" if self.plan.air_gapped else "delivered"
                overdue.append(f"the Summary of {slot.isoformat()} is not {missing}")
        if due is not None and now - due > self.plan.grace and not self.plan.air_gapped:
            overdue.append(f"pending events have been due since {due.isoformat()}")
        return Status(
            ucid=ucid,
            last_summary=dict(last) if last is not None else None,
            outbox={name: counts.get(name, 0) for name in STATUSES},
            next_runs={
                "summary": self.plan.summary.next_slot(now),
                "heartbeat": self.plan.heartbeat.next_slot(now),
                "retry": due,
            },
            overdue=overdue,
        )

    def _known_ucid(self) -> str | None:
        """The ucid this installation reports as, found without creating anything."""
        if self._ucid or self.plan.configured_ucid:
            return self._ucid or self.plan.configured_ucid
        if self._configmap_ucid is not None:  # in a cluster, Devtron's ConfigMap decides
            return self._configmap_peek()
        try:
            return stored_ucid(self._state)
        except ProgrammingError:
            return None  # the schema was never migrated: no ucid yet, and preview writes nothing
        except OperationalError as exc:
            raise DatabaseUnavailable(f"state database: {first_line(exc)}") from None

    def preview(self) -> list[Event]:
        """The events of the latest slots, built now; nothing is written or sent."""
        now = self._clock()
        ucid = self._known_ucid() or _placeholder()
        versions = self.versions()
        built: list[Event] = []
        heartbeat_slot = self.plan.heartbeat.latest_slot(now)
        if heartbeat_slot is not None:
            built.append(self._checked(self._heartbeat(ucid, versions, heartbeat_slot)))
        summary_slot = self.plan.summary.latest_slot(now)
        if summary_slot is not None:
            built.append(self._checked(self._summary(ucid, versions, summary_slot)))
        return built


def _placeholder() -> str:
    log.warning("no ucid recorded yet; the preview shows a placeholder the first run replaces")
    return "0" * 16
