"""Prometheus metrics and readiness: what the daemon did, as an operator's dashboards see it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from ..events import EventName
from ..state.outbox import EXPIRED, FAILURE_KINDS, SENT
from ..state.tables import STATUSES

PREFIX = "orchestrator_telemetry"
# Every label value a counter can take, so each series exists at 0 from the start: increase()
# then sees the first failure after a restart instead of a series that merely appears.
JOBS = ("startup", "summary", "heartbeat", "retry")
OUTCOMES = ("ok", "failed", "skipped")


@dataclass
class Readiness:
    """The checks behind /readyz; each is None until first known."""

    schema_at_head: bool | None = None
    database_ok: bool | None = None
    reason: str | None = None
    problems: tuple[str, ...] = ()  # configuration problems: nothing runs until they are fixed
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, *, schema_at_head: bool | None, database_ok: bool, reason: str | None) -> None:
        """Remember the outcome of the latest run."""
        with self._lock:
            if schema_at_head is not None:
                self.schema_at_head = schema_at_head
            self.database_ok, self.reason = database_ok, reason

    def checks(self) -> dict[str, Any]:
        """The checks, for the /readyz body."""
        with self._lock:
            checks: dict[str, Any] = {
                "config": not self.problems,
                "schema_at_head": self.schema_at_head,
                "database": self.database_ok,
                "reason": self.reason,
            }
            if self.problems:
                checks["problems"] = list(self.problems)
            return checks

    def ready(self) -> bool:
        """Configuration loaded, schema at head, last database probe succeeded."""
        with self._lock:
            return not self.problems and bool(self.schema_at_head) and bool(self.database_ok)


class Monitor:
    """The daemon's Prometheus instruments, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.readiness = Readiness()
        self.runs = Counter(
            f"{PREFIX}_runs",
            "Job runs, by job and outcome.",
            ["job", "outcome"],
            registry=self.registry,
        )
        self.run_duration = Histogram(
            f"{PREFIX}_run_duration_seconds",
            "How long a job run took.",
            ["job"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.last_success = Gauge(
            f"{PREFIX}_last_success_timestamp_seconds",
            "When an event of this kind was last delivered (Unix time).",
            ["event"],
            registry=self.registry,
        )
        self.outbox = Gauge(
            f"{PREFIX}_outbox_events",
            "Events in the outbox, by status.",
            ["status"],
            registry=self.registry,
        )
        self.delivered = Counter(
            f"{PREFIX}_events_delivered",
            "Events PostHog accepted, by event.",
            ["event"],
            registry=self.registry,
        )
        self.send_failures = Counter(
            f"{PREFIX}_send_failures",
            "Sends PostHog did not accept, by kind (transient, authentication, rejected).",
            ["kind"],
            registry=self.registry,
        )
        self.expired = Counter(
            f"{PREFIX}_expired_events",
            "Events dropped undelivered because they outlived their maximum age.",
            ["event"],
            registry=self.registry,
        )
        self.summary = Gauge(
            f"{PREFIX}_last_summary_count",
            "The counts of the last recorded Summary (-1: the count failed).",
            ["metric"],
            registry=self.registry,
        )
        self.outbox_refreshed = Gauge(
            f"{PREFIX}_outbox_refresh_timestamp_seconds",
            "When the outbox gauges were last read from the database (Unix time).",
            registry=self.registry,
        )
        self.config_valid = Gauge(
            f"{PREFIX}_config_valid",
            "1 when the configuration loaded; 0 when it is invalid and nothing is sent.",
            registry=self.registry,
        )
        self.config_valid.set_function(lambda: 0.0 if self.readiness.problems else 1.0)
        self.database_up = Gauge(
            f"{PREFIX}_database_up",
            "1 when the last run reached the databases, 0 when it could not; NaN before any run.",
            registry=self.registry,
        )
        self.database_up.set_function(self._database_up)
        ProcessCollector(registry=self.registry)  # memory, CPU, start time, open fds
        for job in JOBS:
            self.run_duration.labels(job=job)
            for outcome in OUTCOMES:
                self.runs.labels(job=job, outcome=outcome)
        for kind in FAILURE_KINDS:
            self.send_failures.labels(kind=kind)
        for name in EventName:
            self.expired.labels(event=name.value)
            self.delivered.labels(event=name.value)

    def _database_up(self) -> float:
        up = self.readiness.database_ok
        return float("nan") if up is None else float(up)

    def config_invalid(self, problems: Iterable[str]) -> None:
        """The configuration cannot be used: readiness fails, listing `problems`."""
        self.readiness.problems = tuple(problems)
        self.readiness.reason = "the configuration is invalid"

    def observe_run(self, job: str, outcome: str, seconds: float) -> None:
        """Count a finished job run and its duration."""
        self.runs.labels(job=job, outcome=outcome).inc()
        self.run_duration.labels(job=job).observe(seconds)

    def observe_outcome(self, outcome: str, event: str) -> None:
        """Count one delivery attempt's outcome the moment the outbox stores it."""
        if outcome == SENT:
            self.delivered.labels(event=event).inc()
            self.last_success.labels(event=event).set(time.time())
        elif outcome == EXPIRED:
            self.expired.labels(event=event).inc()
        else:
            self.send_failures.labels(kind=outcome).inc()

    def observe_outbox(self, counts: Mapping[str, int], at: datetime) -> None:
        """Publish how many events are in each status, read at `at`."""
        for status in STATUSES:
            self.outbox.labels(status=status).set(counts.get(status, 0))
        self.outbox_refreshed.set(at.timestamp())

    def refresh_outbox(self, read: Callable[[], Mapping[str, int]], at: datetime) -> None:
        """Read and publish the outbox counts, after any run; keep the last ones if unreadable."""
        try:
            counts = read()
        except Exception:  # noqa: BLE001 - the gauges stay, their refresh time tells their age
            return
        self.observe_outbox(counts, at)

    def observe_summary(self, counts: Mapping[str, int]) -> None:
        """Publish the counts of the Summary just recorded."""
        for metric, value in counts.items():
            self.summary.labels(metric=metric).set(value)
