"""The outbox: every event is durable before any network call, and marked sent only once accepted.

Replicas share it safely. Recording is `INSERT ... ON CONFLICT DO NOTHING` against a unique
(event, installation, period) constraint. Who records, and who sends an event, is decided by
session-level advisory locks taken with `pg_try_advisory_lock`: a replica that loses skips, never
waits. No transaction is ever open while the orchestrator is queried or PostHog is called, so
`idle_in_transaction_session_timeout` and waiting replicas' statement timeouts cannot strike. A
process that dies mid-send loses its locks with its connection and leaves the row pending, to be
re-sent with the same uuid and timestamp.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy import Connection, Engine, RowMapping, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError

from .. import logs
from ..deliver.sinks import EventSink
from ..errors import AuthenticationError, DeliveryError, MisconfiguredError, RejectedError
from ..events import Event, EventName
from ..schedule import Clock
from .tables import outbox

log = structlog.get_logger(__name__)

_MAX_DOUBLINGS = 64


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
        # Doubled in float seconds with a capped exponent: `timedelta * 2 ** n` overflows near
        # n = 41 (a day into an outage), and any base doubled 64 times is past any maximum.
        doublings = min(max(attempts - 1, 0), _MAX_DOUBLINGS)
        ceiling = min(self.maximum.total_seconds(), self.initial.total_seconds() * 2.0**doublings)
        factor: float = 0.5 + (rng or random).random() / 2
        return timedelta(seconds=ceiling * factor)


# What one attempt at an event came to, as counted by `Observer`s and the Prometheus metrics.
SENT, EXPIRED = "sent", "expired"
FAILURE_KINDS = ("transient", "authentication", "configuration", "rejected")

Observer = Callable[[str, str], None]
"""Told `(outcome, event name)` the moment an attempt's outcome is stored."""


def _ignore(outcome: str, name: str) -> None:
    """The default observer."""


@dataclass(frozen=True)
class Periods:
    """Which periods of one kind of event one installation has recorded."""

    first: datetime | None
    last: datetime | None
    recent: frozenset[datetime]


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: list[Event] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    failure_kinds: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    busy: int = 0
    next_due: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)  # events by status, after the pass


class Outbox:
    """The daemon's durable queue of events, in its own schema."""

    def __init__(self, engine: Engine, clock: Clock, policy: RetryPolicy | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._policy = policy or RetryPolicy()
        self._bound = threading.local()

    @contextmanager
    def session(self) -> Iterator[None]:
        """Serve every call of this thread from one connection until the block ends.

        A run records and delivers over a single connection to the state database, instead of
        one per step; none is kept between runs.
        """
        if getattr(self._bound, "connection", None) is not None:
            yield
            return
        with self._connect() as connection:
            self._bound.connection = connection
            try:
                yield
            finally:
                self._bound.connection = None

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        """The session's connection, or a new one; autocommit, so no transaction stays open."""
        bound: Connection | None = getattr(self._bound, "connection", None)
        if bound is not None:
            yield bound
            return
        with self._engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            yield connection

    def record_once(
        self, name: str, ucid: str, period: datetime, build: Callable[[], Event]
    ) -> Event | None:
        """Build and store the `name` event of `ucid` and `period` unless it is recorded.

        Returns the event if this call stored it. Only the replica that wins the claim builds the
        event (and queries the orchestrator); one that loses, or finds it recorded, skips.
        """
        fields = {"event_name": name, "period": period.isoformat()}
        with self._claim(_event_lock(name, ucid, period)) as connection:
            if connection is None:
                log.info("another replica is recording this event; skipped", **fields)
                return None
            if _status(connection, name, ucid, period) is not None:
                log.info("event already recorded", **fields)
                return None
            event = build()
            return event if self._insert(connection, event) else None

    def record(self, event: Event) -> bool:
        """Store `event` unless it is already recorded for its installation and period."""
        with self._connect() as connection:
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

    @contextmanager
    def _claim(self, key: int) -> Iterator[Connection | None]:
        """Try a session-level advisory lock; yield its idle connection if won, else None."""
        # The lock is held by the session, with no transaction left open.
        with self._connect() as connection:
            won = bool(connection.scalar(select(func.pg_try_advisory_lock(key))))
            try:
                yield connection if won else None
            finally:
                if won:
                    _unlock(connection, key)

    def periods(self, name: str, ucid: str, *, since: datetime) -> Periods:
        """The periods recorded for this kind of event and installation: bounds, and the recent."""
        of_this = (outbox.c.event == name) & (outbox.c.distinct_id == ucid)
        with self._connect() as connection:
            first, last = connection.execute(
                select(func.min(outbox.c.period), func.max(outbox.c.period)).where(of_this)
            ).one()
            recent = connection.scalars(
                select(outbox.c.period).where(of_this, outbox.c.period > since)
            )
            return Periods(first, last, frozenset(recent))

    def status_of(self, name: str, ucid: str, period: datetime) -> str | None:
        """The status of the `name` event of `ucid` and `period`, or None if never recorded."""
        with self._connect() as connection:
            return _status(connection, name, ucid, period)

    def latest(self, name: str, ucid: str | None = None) -> RowMapping | None:
        """The newest recorded event of this kind (of one installation, if given)."""
        query = (
            select(outbox.c.period, outbox.c.status, outbox.c.sent_at)
            .where(outbox.c.event == name)
            .order_by(outbox.c.period.desc())
            .limit(1)
        )
        if ucid is not None:
            query = query.where(outbox.c.distinct_id == ucid)
        with self._connect() as connection:
            return connection.execute(query).mappings().first()

    def status_counts(self) -> dict[str, int]:
        """How many events are in each status."""
        with self._connect() as connection:
            return _status_counts(connection)

    def deliver(
        self,
        sink: EventSink,
        *,
        ignore_backoff: bool = False,
        observe: Observer = _ignore,
        progress: Callable[[], None] = lambda: None,
    ) -> DeliveryReport:
        """Try every due pending event once, oldest first; return what happened."""
        report = DeliveryReport()
        attempted: set[UUID] = set()
        # Each read and each update commits at once; only a session lock on the event is held
        # while PostHog is called.
        with self._connect() as connection:
            failing: datetime | None = None
            while failing is None and (
                keys := self._due(connection, attempted, ignore_backoff=ignore_backoff)
            ):
                for key in keys:
                    attempted.add(key)
                    failing = self._claim_and_attempt(
                        connection, key, sink, report, observe, ignore_backoff=ignore_backoff
                    )
                    progress()
                    if failing is not None:
                        # The way out fails, not this event: the others would fail alike, each
                        # after its own timeout. They wait for the same retry instead.
                        _postpone_pending(connection, until=failing)
                        break
            report.next_due = _next_due(connection)
            report.counts = _status_counts(connection)
        return report

    def _due(
        self, connection: Connection, attempted: set[UUID], *, ignore_backoff: bool
    ) -> list[UUID]:
        query = (
            select(outbox.c.uuid)
            .where(outbox.c.status == "pending", outbox.c.uuid.not_in(attempted))
            .order_by(outbox.c.timestamp, outbox.c.uuid)
            .limit(_PAGE)
        )
        if not ignore_backoff:
            query = query.where(outbox.c.next_attempt_at <= self._clock())
        return list(connection.scalars(query))

    def _claim_and_attempt(
        self,
        connection: Connection,
        key: UUID,
        sink: EventSink,
        report: DeliveryReport,
        observe: Observer,
        *,
        ignore_backoff: bool,
    ) -> datetime | None:
        """Attempt one event if no other replica is; return its retry time if the send failed."""
        lock = _uuid_lock(key)
        if not connection.scalar(select(func.pg_try_advisory_lock(lock))):
            report.busy += 1  # another replica is sending it right now
            return None
        try:
            # Read again under the claim: another replica may have sent it, or failed it and
            # set its retry later, since the page was read.
            again = select(outbox).where(outbox.c.uuid == key, outbox.c.status == "pending")
            if not ignore_backoff:
                again = again.where(outbox.c.next_attempt_at <= self._clock())
            row = connection.execute(again).mappings().first()
            return None if row is None else self._attempt(connection, row, sink, report, observe)
        finally:
            _unlock(connection, lock)

    def _attempt(
        self,
        connection: Connection,
        row: RowMapping,
        sink: EventSink,
        report: DeliveryReport,
        observe: Observer,
    ) -> datetime | None:
        event = event_from_row(row)
        fields = {"event_name": event.name, "uuid": str(event.uuid)}
        key = row["uuid"]
        now = self._clock()
        if now - event.period > self._policy.max_age.get(event.name, timedelta.max):
            self._set(connection, key, status=EXPIRED, last_error="older than its maximum age")
            log.warning(
                "event expired undelivered",
                **fields,
                attempts=row["attempts"],
                last_error=row["last_error"],
            )
            report.expired.append(event.name)
            observe(EXPIRED, event.name)
            return None
        try:
            sink.send(event)
        except RejectedError as exc:
            self._set(connection, key, status="dead", last_error=str(exc), tried=True)
            log.error("event rejected; set aside as dead", **fields, reason=str(exc))
            report.dead.append(event.name)
            report.failure_kinds.append("rejected")
            observe("rejected", event.name)
            return None
        except DeliveryError as exc:
            attempts = row["attempts"] + 1
            retry_at = now + self._policy.delay(attempts)
            self._set(connection, key, last_error=str(exc), tried=True, next_attempt_at=retry_at)
            kind = _kind(exc)
            # A refused key or a wrong host needs a person; a network blip does not.
            emit = log.warning if kind == "transient" else log.error
            emit(
                "delivery failed; will retry",
                **fields,
                attempts=attempts,
                kind=kind,
                reason=str(exc),
                retry_at=retry_at.isoformat(),
            )
            report.failed.append(event.name)
            report.failure_kinds.append(kind)
            observe(kind, event.name)
            return retry_at
        self._set(connection, key, status=SENT, last_error=None, tried=True, sent_at=self._clock())
        log.info("event delivered", **fields, sink=sink.name)
        report.sent.append(event)
        observe(SENT, event.name)
        return None

    def next_due(self) -> datetime | None:
        """When the earliest pending event is due, or None if nothing is pending."""
        with self._connect() as connection:
            return _next_due(connection)

    @staticmethod
    def _set(connection: Connection, key: UUID, *, tried: bool = False, **values: Any) -> None:
        if tried:
            values["attempts"] = outbox.c.attempts + 1
        if values.get("last_error"):  # an exception's text may quote a URL or a key
            values["last_error"] = logs.mask(values["last_error"])
        # Only a pending row changes: an outcome is never written over another replica's.
        pending = (outbox.c.uuid == key) & (outbox.c.status == "pending")
        connection.execute(update(outbox).where(pending).values(**values))


# Due events are read a page at a time: a backlog of weeks is never loaded at once.
_PAGE = 50


def _postpone_pending(connection: Connection, until: datetime) -> None:
    """Make every pending event due no earlier than `until`, attempts unchanged."""
    connection.execute(
        update(outbox)
        .where(outbox.c.status == "pending", outbox.c.next_attempt_at < until)
        .values(next_attempt_at=until)
    )


def _status(connection: Connection, name: str, ucid: str, period: datetime) -> str | None:
    status: str | None = connection.scalar(
        select(outbox.c.status).where(
            outbox.c.event == name, outbox.c.distinct_id == ucid, outbox.c.period == period
        )
    )
    return status


def _status_counts(connection: Connection) -> dict[str, int]:
    rows = connection.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
    return {status: int(count) for status, count in rows.all()}


def _next_due(connection: Connection) -> datetime | None:
    due: datetime | None = connection.scalar(
        select(func.min(outbox.c.next_attempt_at)).where(outbox.c.status == "pending")
    )
    return due


def _kind(exc: DeliveryError) -> str:
    if isinstance(exc, AuthenticationError):
        return "authentication"
    if isinstance(exc, MisconfiguredError):
        return "configuration"
    return "transient"


def _unlock(connection: Connection, key: int) -> None:
    # A connection that is gone took the session's locks with it: nothing to release, and the
    # error that lost it is the one to report, not this one.
    if connection.invalidated:
        return
    with suppress(SQLAlchemyError):
        connection.scalar(select(func.pg_advisory_unlock(key)))


def _event_lock(name: str, ucid: str, period: datetime) -> int:
    """A stable 64-bit advisory lock key for one event of one installation and period."""
    return _lock_key(f"record|{name}|{ucid}|{period.isoformat()}")


def _uuid_lock(key: UUID) -> int:
    """A stable 64-bit advisory lock key for sending one event."""
    return _lock_key(f"send|{key}")


def _lock_key(text: str) -> int:
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def event_from_row(row: RowMapping) -> Event:
    """The event an outbox row holds."""
    return Event(
        name=row["event"],
        distinct_id=row["distinct_id"],
        uuid=row["uuid"],
        period=row["period"],
        timestamp=row["timestamp"],
        properties=row["properties"],
    )
