"""The long-running process: APScheduler jobs around the use cases, and an ordered shutdown."""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy.exc import DBAPIError

from .database import first_line
from .errors import SchemaError, TransientCollectError, Unavailable
from .schedule import Clock
from .serve.metrics import Monitor
from .service import Telemetry
from .state.outbox import DeliveryReport, RetryPolicy

log = structlog.get_logger(__name__)

# Failures that are expected in operation and explained by their message: no traceback for them.
_EXPECTED = (Unavailable, DBAPIError)


class _DaemonThreadExecutor(BaseExecutor):  # type: ignore[misc]  # APScheduler 3 is untyped
    """Runs each job in a daemon thread, so a run abandoned at shutdown never blocks exit."""

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def target() -> None:
            try:
                result = run_job(job, job._jobstore_alias, run_times, self._logger.name)
            except BaseException:  # noqa: BLE001 - handed to APScheduler, which logs it
                _, exc, tb = sys.exc_info()
                self._run_job_error(job.id, exc, tb)
            else:
                self._run_job_success(job.id, result)

        threading.Thread(target=target, name=f"job-{job.id}", daemon=True).start()


class Daemon:
    """Schedules Summary, Heartbeat and retries; runs one job at a time."""

    JOBS = ("startup", "summary", "heartbeat", "retry")

    def __init__(
        self,
        telemetry: Telemetry,
        *,
        clock: Clock,
        misfire_grace_time: int,
        heartbeat_at_start: bool,
        retry: RetryPolicy | None = None,
        monitor: Monitor | None = None,
        longest_step: timedelta = timedelta(minutes=15),
    ) -> None:
        self._telemetry = telemetry
        self._monitor = monitor or Monitor()
        self._readiness = self._monitor.readiness
        # Owed until recorded: a start whose first run fails still reports its Heartbeat later.
        self._owes_heartbeat = heartbeat_at_start
        self._policy = retry or RetryPolicy()
        self._longest_step = longest_step.total_seconds()
        self._clock = clock
        self._busy = threading.Lock()  # one job at a time: summary and heartbeat share a minute
        # When the running job last made progress (a slot recorded, an event attempted); None
        # while idle. A long catch-up is alive as long as each of its steps finishes in time.
        self._progress_at: float | None = None
        self._stopping = threading.Event()
        self._failures = 0
        self.retry_at: datetime | None = None
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": _DaemonThreadExecutor()},
            # APScheduler's default grace is 1 s: a tick delayed by a busy host would be skipped.
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": misfire_grace_time,
            },
        )

    def start(self) -> None:
        """Start the scheduler; the first run catches up at once."""
        plan = self._telemetry.plan
        self._scheduler.add_job(self.run_job, plan.summary.trigger, ["summary"], id="summary")
        self._scheduler.add_job(self.run_job, plan.heartbeat.trigger, ["heartbeat"], id="heartbeat")
        self._scheduler.add_job(self.run_job, DateTrigger(self._clock()), ["startup"], id="startup")
        self._scheduler.start()
        log.info(
            "daemon started",
            summary_schedule=plan.summary.expression,
            heartbeat_schedule=plan.heartbeat.expression,
            sink=self._telemetry.sink.name,
        )

    def alive(self) -> bool:
        """Whether the scheduler's thread lives and the running job, if any, still progresses."""
        thread = getattr(self._scheduler, "_thread", None)  # APScheduler 3 keeps it private
        if thread is None or not thread.is_alive():
            return False
        since = self._progress_at
        return since is None or time.monotonic() - since < self._longest_step

    def stop(self, timeout: float) -> bool:
        """Stop scheduling, wait up to `timeout` s for a running job; True if none was abandoned."""
        self._stopping.set()  # a job queued behind the running one must not start after this
        self._scheduler.shutdown(wait=False)
        finished = self._busy.acquire(timeout=timeout)
        if finished:
            self._busy.release()
        else:
            # Safe to abandon: an unsent event stays pending in the outbox and its lock dies with
            # the connection, so the next start delivers it with the same uuid.
            log.warning("abandoning the running job at shutdown; its work stays pending")
        return finished

    def take_retry(self) -> datetime | None:
        """When the runs so far asked to be retried, then forgotten: for a caller running jobs."""
        when, self.retry_at = self.retry_at, None
        return when

    def run_job(self, job: str) -> None:
        """Run one job: prepare, record, deliver; log one line; never raise into the scheduler."""
        if job not in self.JOBS:
            raise ValueError(f"unknown job {job!r}")
        with self._busy:
            if self._stopping.is_set():
                return
            if job == "heartbeat":
                # Owed until recorded, and set under the job lock: a run finishing meanwhile
                # cannot clear it, and if this run fails, the retry records the Heartbeat.
                self._owes_heartbeat = True
            started = time.monotonic()
            self._progress()
            outcome, fields = "ok", dict[str, Any]()
            try:
                outcome, fields = self._attempt()
                self._failures = 0
            except _EXPECTED as exc:
                reason = first_line(exc) if isinstance(exc, DBAPIError) else str(exc)
                outcome, fields["error"] = "failed", reason
                self._readiness.record(
                    schema_at_head=False if isinstance(exc, SchemaError) else None,
                    database_ok=isinstance(exc, SchemaError | TransientCollectError),
                    reason=reason,
                )
                self._retry_soon()
                self._refresh_outbox()
            except Exception as exc:  # a failed run must never stop the daemon
                outcome, fields["error"] = "failed", f"{type(exc).__name__}: {exc}"
                log.exception("job crashed", job=job)
                self._retry_soon()
                self._refresh_outbox()
            finally:
                self._progress_at = None
            seconds = time.monotonic() - started
            self._monitor.observe_run(job, outcome, seconds)
            emit = log.info if outcome in ("ok", "skipped") else log.warning
            emit(
                "job finished",
                job=job,
                outcome=outcome,
                duration_ms=round(seconds * 1000),
                **fields,
            )

    def _refresh_outbox(self) -> None:
        """After a failed run too: the outbox may be readable when the orchestrator is not."""
        self._monitor.refresh_outbox(self._telemetry.outbox.status_counts, self._clock())

    def _progress(self) -> None:
        self._progress_at = time.monotonic()

    def _attempt(self) -> tuple[str, dict[str, Any]]:
        telemetry = self._telemetry
        telemetry.prepare()
        self._progress()
        if telemetry.opted_out():
            reason = "this installation opted out (Devtron's opt-out lookup)"
            self._readiness.record(schema_at_head=True, database_ok=True, reason=reason)
            return "skipped", {"reason": reason}
        deferred: Unavailable | None = None
        with telemetry.outbox.session():
            try:
                fields = self._catch_up()
            except Unavailable as exc:
                # The orchestrator cannot be counted now (down, or a count failing for a while):
                # what is already recorded, such as this run's Heartbeat, is still delivered.
                deferred, fields = exc, {}
            report = telemetry.deliver(
                observe=self._monitor.observe_outcome, progress=self._progress
            )
        fields.update(_report_fields(report))
        self._monitor.observe_outbox(report.counts, self._clock())
        if "counts" in fields:
            self._monitor.observe_summary(fields["counts"])
        self._schedule_retry(report.next_due)
        if deferred is not None:
            raise deferred
        self._readiness.record(schema_at_head=True, database_ok=True, reason=None)
        return ("failed" if report.failed or report.dead else "ok"), fields

    def _catch_up(self) -> dict[str, Any]:
        # Every run records every missed Summary, so a failed 00:00 run is repaired by the next
        # run of any kind, not a day later.
        recorded = self._telemetry.catch_up(heartbeat=self._owes_heartbeat, progress=self._progress)
        self._owes_heartbeat = False
        fields: dict[str, Any] = {"recorded": [event.name for event in recorded]}
        for event in recorded:
            if "summary" in event.properties:
                fields["period"] = event.period.isoformat()
                fields["counts"] = dict(event.properties["summary"])
        return fields

    def _retry_soon(self) -> None:
        """After a failed run, try again with backoff rather than waiting for the next slot."""
        self._failures += 1
        self._reschedule(self._clock() + self._policy.delay(self._failures))

    def _schedule_retry(self, due: datetime | None) -> None:
        if due is None:
            return
        now = self._clock()
        # Due already, after a whole pass: another replica holds those rows. Come back later
        # rather than spinning while its send is in flight.
        self._reschedule(due if due > now else now + self._policy.initial)

    def _reschedule(self, when: datetime) -> None:
        # Never later than the longest backoff: the next run also catches up what is missed.
        when = min(when, self._clock() + self._policy.maximum)
        self.retry_at = when
        if self._scheduler.running:
            self._scheduler.add_job(
                self.run_job, DateTrigger(when), ["retry"], id="retry", replace_existing=True
            )


def _report_fields(report: DeliveryReport) -> dict[str, Any]:
    fields: dict[str, Any] = {"sent": len(report.sent), "failed": len(report.failed)}
    if report.dead:
        fields["dead"] = len(report.dead)
    if report.expired:
        fields["expired"] = len(report.expired)
    return fields
