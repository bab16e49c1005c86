"""The daemon's use cases: prepare, record the events of a slot, deliver, preview.

Nothing here knows about APScheduler or the command line; time comes from an injected clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from . import events, metrics, migrate
from .database import Unavailable, first_line
from .events import Event, EventName, Versions
from .identity import resolve_ucid, stored_ucid
from .outbox import DeliveryReport, Outbox
from .schedule import Clock, Schedule
from .sinks import EventSink

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Plan:
    """What the daemon reports and when: identity source, versions, schedules, age limits."""

    configured_ucid: str | None
    versions: Versions
    summary: Schedule
    heartbeat: Schedule
    summary_max_age: timedelta
    schema: str
    migrate_on_start: bool


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
    ) -> None:
        self.plan = plan
        self._orchestrator = orchestrator
        self._state = state
        self.outbox = outbox
        self.sink = sink
        self._clock = clock
        self._ucid: str | None = None
        self._lock = threading.Lock()

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
                    self._ucid = resolve_ucid(self.plan.configured_ucid, self._state)
                except OperationalError as exc:
                    raise Unavailable(f"state database: {first_line(exc)}") from None
            return self._ucid

    def record_summary(self, slot: datetime) -> Event | None:
        """Record the Summary of `slot` unless it is already recorded; return it if recorded."""
        # Checked first so replicas that lost the race do not query the orchestrator at all.
        if self.outbox.has(EventName.SUMMARY, slot):
            log.info("summary already recorded", period=slot.isoformat())
            return None
        event = self.build_summary(slot)
        return event if self.outbox.record(event) else None

    def record_heartbeat(self, slot: datetime) -> Event | None:
        """Record the Heartbeat of `slot` unless it is already recorded; return it if recorded."""
        event = self.build_heartbeat(slot)
        return event if self.outbox.record(event) else None

    def build_summary(self, slot: datetime) -> Event:
        """The Summary of `slot`, counting the 24 hours that end at it."""
        counts = metrics.collect(self._orchestrator, metrics.Window.ending_at(slot))
        return events.summary(self.ucid, self.plan.versions, slot, counts)

    def build_heartbeat(self, slot: datetime) -> Event:
        """The Heartbeat of `slot`."""
        return events.heartbeat(self.ucid, self.plan.versions, slot)

    def missed_summary_slots(self, now: datetime) -> list[datetime]:
        """Summary slots with no Summary yet: since the last recorded one, within the max age."""
        latest = self.plan.summary.latest_slot(now)
        if latest is None:
            return []
        recorded = self.outbox.latest_period(EventName.SUMMARY)
        if recorded is None:
            return [latest]  # a first start reports the current period, not history
        oldest = max(recorded, now - self.plan.summary_max_age)
        return list(self.plan.summary.slots_between(oldest, now))

    def catch_up(self, *, heartbeat: bool = True) -> list[Event]:
        """Record every missed Summary and the current Heartbeat; return what was recorded."""
        now = self._clock()
        recorded: list[Event] = []
        for slot in self.missed_summary_slots(now):
            summary = self.record_summary(slot)
            if summary is not None:
                recorded.append(summary)
        heartbeat_slot = self.plan.heartbeat.latest_slot(now) if heartbeat else None
        if heartbeat_slot is not None:
            event = self.record_heartbeat(heartbeat_slot)
            if event is not None:
                recorded.append(event)
        return recorded

    def deliver(self, *, ignore_backoff: bool = False) -> DeliveryReport:
        """Send everything due through the sink."""
        return self.outbox.deliver(self.sink, ignore_backoff=ignore_backoff)

    def preview(self) -> list[Event]:
        """The events of the latest slots, built now; nothing is written or sent."""
        now = self._clock()
        ucid = self.plan.configured_ucid or _stored_or_placeholder(self._state)
        built: list[Event] = []
        heartbeat_slot = self.plan.heartbeat.latest_slot(now)
        if heartbeat_slot is not None:
            built.append(events.heartbeat(ucid, self.plan.versions, heartbeat_slot))
        summary_slot = self.plan.summary.latest_slot(now)
        if summary_slot is not None:
            window = metrics.Window.ending_at(summary_slot)
            counts = metrics.collect(self._orchestrator, window)
            built.append(events.summary(ucid, self.plan.versions, summary_slot, counts))
        return built


def _stored_or_placeholder(state: Engine) -> str:
    try:
        ucid = stored_ucid(state)
    except ProgrammingError:
        ucid = None  # the schema was never migrated: no ucid yet, and preview writes nothing
    except OperationalError as exc:
        raise Unavailable(f"state database: {first_line(exc)}") from None
    if ucid is None:
        log.warning("no ucid recorded yet; the preview shows a placeholder the first run replaces")
        return "0" * 16
    return ucid
