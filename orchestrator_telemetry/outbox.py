"""The outbox: every event is durable before any network call, and marked sent only once accepted.

Replicas share it safely: recording is `INSERT ... ON CONFLICT DO NOTHING` against a unique
(event, period) constraint, and delivery locks one row at a time with `FOR UPDATE SKIP LOCKED`, so
an event is in flight in at most one process. A process that dies mid-send releases its lock with
its connection and leaves the row pending, to be re-sent with the same uuid and timestamp.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy import Connection, Engine, RowMapping, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from . import logs
from .events import Event, EventName
from .schedule import Clock
from .sinks import AuthenticationError, DeliveryError, EventSink, RejectedError
from .tables import outbox

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter between attempts, and how old an event may get."""

    initial: timedelta = timedelta(minutes=1)
    maximum: timedelta = timedelta(hours=1)
    max_age: Mapping[str, timedelta] = field(
        default_factory=lambda: {
            EventName.HEARTBEAT.value: timedelta(hours=24),
            EventName.SUMMARY.value: timedelta(days=7),
        }
    )

    def delay(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        """The wait after the `attempts`-th failure: doubling, capped, less up to half as jitter."""
        # Persisted across processes, so the formula lives here rather than in a retry decorator.
        ceiling = min(self.maximum, self.initial * 2 ** max(attempts - 1, 0))
        factor: float = 0.5 + (rng or random).random() / 2
        wait: timedelta = ceiling * factor
        return wait


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: list[Event] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    failure_kinds: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    next_due: datetime | None = None


class Outbox:
    """The daemon's durable queue of events, in its own schema."""

    def __init__(self, engine: Engine, clock: Clock, policy: RetryPolicy | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._policy = policy or RetryPolicy()

    def record_once(self, name: str, period: datetime, build: Callable[[], Event]) -> Event | None:
        """Build and store the `name` event of `period` unless it is recorded; return it if stored.

        Replicas reaching the same period queue on an advisory lock, so only the first one builds
        the event (and queries the orchestrator); the others find it recorded and skip.
        """
        with self._engine.begin() as connection:
            connection.execute(select(func.pg_advisory_xact_lock(_period_lock(name, period))))
            if self._has(connection, name, period):
                log.info("event already recorded", event_name=name, period=period.isoformat())
                return None
            event = build()
            inserted = self._insert(connection, event)
        return event if inserted else None

    def record(self, event: Event) -> bool:
        """Store `event` unless one of its kind is already recorded for its period."""
        with self._engine.begin() as connection:
            return self._insert(connection, event)

    def _insert(self, connection: Connection, event: Event) -> bool:
        statement = (
            pg_insert(outbox)
            .values(
                uuid=event.uuid,
                event=event.name,
                distinct_id=event.distinct_id,
                period=event.period,
                timestamp=event.timestamp,
                properties=event.to_capture()["properties"],
                next_attempt_at=self._clock(),
            )
            .on_conflict_do_nothing()
        )
        inserted = connection.execute(statement).rowcount == 1
        log.info(
            "event recorded" if inserted else "event already recorded",
            event_name=event.name,
            period=event.period.isoformat(),
            uuid=str(event.uuid),
        )
        return inserted

    @staticmethod
    def _has(connection: Connection, name: str, period: datetime) -> bool:
        found = connection.scalar(
            select(outbox.c.uuid).where(outbox.c.event == name, outbox.c.period == period)
        )
        return found is not None

    def latest_period(self, name: str) -> datetime | None:
        """The newest period recorded for this kind of event."""
        with self._engine.connect() as connection:
            latest: datetime | None = connection.scalar(
                select(func.max(outbox.c.period)).where(outbox.c.event == name)
            )
        return latest

    def status_of(self, name: str, period: datetime) -> str | None:
        """The status of the `name` event of `period`, or None if it was never recorded."""
        with self._engine.connect() as connection:
            status: str | None = connection.scalar(
                select(outbox.c.status).where(outbox.c.event == name, outbox.c.period == period)
            )
        return status

    def latest(self, name: str) -> RowMapping | None:
        """The newest recorded event of this kind: its period, status and sent_at."""
        with self._engine.connect() as connection:
            return (
                connection.execute(
                    select(outbox.c.period, outbox.c.status, outbox.c.sent_at)
                    .where(outbox.c.event == name)
                    .order_by(outbox.c.period.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )

    def status_counts(self) -> dict[str, int]:
        """How many events are in each status."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(outbox.c.status, func.count()).group_by(outbox.c.status)
            ).all()
        return {status: int(count) for status, count in rows}

    def deliver(self, sink: EventSink, *, ignore_backoff: bool = False) -> DeliveryReport:
        """Try every due pending event once, oldest first; return what happened."""
        report = DeliveryReport()
        attempted: list[UUID] = []
        while True:
            with self._engine.begin() as connection:
                now = self._clock()
                query = (
                    select(outbox)
                    .where(outbox.c.status == "pending", outbox.c.uuid.not_in(attempted))
                    .order_by(outbox.c.timestamp, outbox.c.uuid)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                if not ignore_backoff:
                    query = query.where(outbox.c.next_attempt_at <= now)
                row = connection.execute(query).mappings().first()
                if row is None:
                    break
                attempted.append(row["uuid"])
                # The row stays locked while the request is in flight: no replica can claim it.
                self._attempt(connection, row, sink, now, report)
        report.next_due = self.next_due()
        return report

    def _attempt(
        self,
        connection: Connection,
        row: RowMapping,
        sink: EventSink,
        now: datetime,
        report: DeliveryReport,
    ) -> None:
        event = _event_from_row(row)
        fields = {"event_name": event.name, "uuid": str(event.uuid)}
        key = row["uuid"]
        if now - event.period > self._policy.max_age.get(event.name, timedelta.max):
            self._set(connection, key, status="expired", last_error="older than max age")
            log.warning(
                "event expired undelivered",
                **fields,
                attempts=row["attempts"],
                last_error=row["last_error"],
            )
            report.expired.append(event.name)
            return
        try:
            sink.send(event)
        except RejectedError as exc:
            self._set(connection, key, status="dead", last_error=str(exc), tried=True)
            log.error("event rejected; set aside as dead", **fields, reason=str(exc))
            report.dead.append(event.name)
            report.failure_kinds.append("rejected")
        except DeliveryError as exc:
            attempts = row["attempts"] + 1
            retry_at = now + self._policy.delay(attempts)
            self._set(connection, key, last_error=str(exc), tried=True, next_attempt_at=retry_at)
            # A refused key needs a person; a network blip does not.
            emit = log.error if isinstance(exc, AuthenticationError) else log.warning
            emit(
                "delivery failed; will retry",
                **fields,
                attempts=attempts,
                reason=str(exc),
                retry_at=retry_at.isoformat(),
            )
            report.failed.append(event.name)
            auth = isinstance(exc, AuthenticationError)
            report.failure_kinds.append("authentication" if auth else "transient")
        else:
            self._set(
                connection, key, status="sent", last_error=None, tried=True, sent_at=self._clock()
            )
            log.info("event delivered", **fields, sink=sink.name)
            report.sent.append(event)

    def next_due(self) -> datetime | None:
        """When the earliest pending event is due, or None if nothing is pending."""
        with self._engine.connect() as connection:
            due: datetime | None = connection.scalar(
                select(func.min(outbox.c.next_attempt_at)).where(outbox.c.status == "pending")
            )
        return due

    @staticmethod
    def _set(connection: Connection, key: UUID, *, tried: bool = False, **values: Any) -> None:
        if tried:
            values["attempts"] = outbox.c.attempts + 1
        if values.get("last_error"):  # an exception's text may quote a URL or a key
            values["last_error"] = logs.mask(values["last_error"])
        connection.execute(update(outbox).where(outbox.c.uuid == key).values(**values))


def _period_lock(name: str, period: datetime) -> int:
    """A stable 64-bit advisory lock key for one event kind and period."""
    digest = hashlib.blake2b(f"{name}|{period.isoformat()}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _event_from_row(row: RowMapping) -> Event:
    return Event(
        name=row["event"],
        distinct_id=row["distinct_id"],
        uuid=row["uuid"],
        period=row["period"],
        timestamp=row["timestamp"],
        properties=row["properties"],
    )
