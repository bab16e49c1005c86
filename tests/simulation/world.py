"""The simulated world: replicas of the real daemon on a simulated clock, and faults to meet.

Each replica is the daemon's real composition (`application`) and its real jobs
(`Daemon.run_job`), reading the orchestrator's PostgreSQL and writing its own state database (each
can be taken down: connections cut and refused), and delivering through the real posthog client
to the local capture server, whose answers follow the fault schedule. Only the scheduler is the
simulation's own: it fires the jobs at the times APScheduler would, on a clock that jumps from one
due time to the next, so weeks pass in seconds. A process kill is an exception raised at a chosen
step of a run.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, MutableMapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog.testing
from posthog.request import APIError
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from orchestrator_telemetry.app import App, application, retry_policy
from orchestrator_telemetry.config import Config, load
from orchestrator_telemetry.daemon import Daemon
from orchestrator_telemetry.deliver.sinks import PosthogSink
from orchestrator_telemetry.errors import DeliveryError
from orchestrator_telemetry.events import Event
from orchestrator_telemetry.schedule import Schedule
from orchestrator_telemetry.serve.metrics import Monitor
from tests.simulation.faults import CLIENT_TIMEOUT, POSTHOG_ANSWERS, START, Fault
from tests.support.capture import CaptureServer, Reply

API_KEY = "phc_simulationkey"
SUMMARY_CRON = "0 0 * * *"
HEARTBEAT_CRON = "0 */12 * * *"  # the default is every 6 h; the logic is the same, at half the cost
RETRY_MAX = timedelta(hours=1)
DRAIN = timedelta(days=1)
"""After the faults, a quiet stretch with every replica up, so everything owed can arrive."""


class Killed(BaseException):
    """The simulated process dies here (a BaseException: nothing in the daemon may catch it)."""


@dataclass
class Armed:
    """A kill waiting for its step in one replica."""

    step: str | None = None


class KillableSink:
    """The real PostHog sink, with a kill that can strike just before or just after a send.

    It counts, by uuid, the sends whose answer the daemon never saw: only those may have reached
    PostHog without being marked sent, so only their events may arrive twice.
    """

    name = "posthog"

    def __init__(self, sink: PosthogSink, armed: Armed, unanswered: Counter[str]) -> None:
        self._sink = sink
        self._armed = armed
        self._unanswered = unanswered

    def send(self, event: Event) -> None:
        """Send through the real sink, unless the process is killed on either side of it."""
        if self._armed.step == "before-send":
            raise Killed
        try:
            self._sink.send(event)
        except DeliveryError as exc:
            # An HTTP status other than 200 proves PostHog did not take the event. Without one
            # (a client timeout on a busy machine, a connection lost while reading the answer)
            # the request may still have been taken.
            if not isinstance(exc.__context__, APIError):
                self._unanswered[str(event.uuid)] += 1
            raise
        if self._armed.step == "after-send":
            # PostHog has it; the outbox will never know.
            self._unanswered[str(event.uuid)] += 1
            raise Killed

    def close(self) -> None:
        """Close the real sink."""
        self._sink.close()


@dataclass
class Incarnation:
    """One process of a replica: its composed app, its daemon and its metrics."""

    app: App
    daemon: Daemon
    monitor: Monitor
    stack: ExitStack


@dataclass
class Replica:
    """One pod of the installation, alive or waiting to restart."""

    index: int
    ucid: str
    skew: timedelta = timedelta(0)
    process: Incarnation | None = None
    restart_at: datetime | None = None
    due: dict[str, datetime] = field(default_factory=dict)  # job -> local fire time
    owed_heartbeat: bool = False
    armed: Armed = field(default_factory=Armed)


@dataclass
class Findings:
    """What a run produced, for the invariants and the report."""

    completed: list[tuple[str, datetime, bool]] = field(default_factory=list)  # ucid, t, owed
    logs: list[MutableMapping[str, Any]] = field(default_factory=list)
    monitors: list[Monitor] = field(default_factory=list)
    unanswered: Counter[str] = field(default_factory=Counter)  # uuid -> sends PostHog may hold
    died: list[str] = field(default_factory=list)  # exceptions that escaped a job
    faults: Counter[str] = field(default_factory=Counter)
    longest_wait: timedelta = timedelta(0)
    ucids: list[str] = field(default_factory=list)
    runs: int = 0
    end: datetime = START
    quiet_from: datetime = START  # when the faults ended


class World:
    """One simulation: a seed's faults over some weeks, against real databases and HTTP."""

    def __init__(
        self,
        *,
        admin_url: str,
        orchestrator_url: str,
        state_url: str,
        seed: int,
        weeks: int,
        replicas: int,
        faults: list[Fault],
    ) -> None:
        self._rng = random.Random(seed)
        self._weeks = weeks
        self._faults = faults
        self._orchestrator_url = orchestrator_url
        self._state_url = state_url
        self._outages = {
            "orchestrator-down": Outage(admin_url, orchestrator_url),
            "state-down": Outage(admin_url, state_url),
        }
        self.now = START
        self.summary = Schedule(SUMMARY_CRON)
        self.heartbeat = Schedule(HEARTBEAT_CRON)
        self.findings = Findings()
        self._ucid_serial = 0
        ucid = self._new_ucid()
        self._replicas = [Replica(index, ucid) for index in range(replicas)]
        self.findings.ucids = [ucid]

    def _new_ucid(self) -> str:
        self._ucid_serial += 1
        return f"sim{self._ucid_serial:013d}"

    # the run ------------------------------------------------------------------------------

    def run(self, capture: CaptureServer) -> Findings:
        """Run the whole schedule, then the quiet drain; return the findings."""
        end_of_faults = START + timedelta(weeks=self._weeks)
        finish = end_of_faults + DRAIN
        self.findings.quiet_from = end_of_faults
        self._capture = capture
        capture.answer_by(self._posthog_answer)
        with ExitStack() as stack:
            for outage in self._outages.values():
                stack.callback(outage.close)
            stack.callback(self._stop_all)
            # Log lines outside the jobs (starting and stopping processes) are not kept.
            stack.enter_context(structlog.testing.capture_logs())
            instants = [fault for fault in self._faults if fault.start == fault.end]
            for replica in self._replicas:
                replica.restart_at = START + timedelta(seconds=replica.index)
            while self.now < finish:
                self._apply_stretches(end_of_faults)
                while instants and instants[0].start <= self.now:
                    self._apply_instant(instants.pop(0))
                self._start_due()
                self._run_due()
                self.now = self._next_time(instants, finish)
            self.findings.end = self.now
        return self.findings

    def _next_time(self, instants: list[Fault], finish: datetime) -> datetime:
        candidates = [finish]
        if instants:
            candidates.append(instants[0].start)
        for fault in self._faults:
            for edge in (fault.start, fault.end):
                if edge > self.now:
                    candidates.append(edge)
        for replica in self._replicas:
            if replica.process is None:
                if replica.restart_at is not None:
                    candidates.append(replica.restart_at)
                continue
            candidates.extend(local - replica.skew for local in replica.due.values())
        later = [moment for moment in candidates if moment > self.now]
        return min(later) if later else finish

    # faults -------------------------------------------------------------------------------

    def _apply_stretches(self, end_of_faults: datetime) -> None:
        active = [f for f in self._faults if f.active(self.now) and self.now < end_of_faults]
        down = {fault.kind for fault in active}
        for kind, outage in self._outages.items():
            if kind in down and outage.is_up:
                outage.down()
                self.findings.faults[kind] += 1
            elif kind not in down and not outage.is_up:
                outage.up()
        answers = [fault for fault in active if fault.kind.startswith("posthog:")]
        answer = answers[-1].kind.removeprefix("posthog:") if answers else None
        if answer != getattr(self, "_answer", None):
            self._answer = answer
            if answer is not None:
                self.findings.faults[f"posthog {answer}"] += 1

    def _posthog_answer(self) -> Reply:
        answer = getattr(self, "_answer", None)
        return POSTHOG_ANSWERS[answer] if answer is not None else Reply.ok()

    def _apply_instant(self, fault: Fault) -> None:
        self.findings.faults[fault.kind] += 1
        replica = self._replicas[fault.replica]
        if fault.kind.startswith("kill:"):
            replica.armed.step = fault.kind.removeprefix("kill:")
        elif fault.kind == "restart":
            self._stop(replica)
            replica.restart_at = self.now + timedelta(seconds=self._rng.randint(5, 300))
        elif fault.kind == "clock":
            replica.skew += timedelta(minutes=fault.minutes)
        elif fault.kind == "ucid-change":
            # Devtron's ConfigMap was recreated: every replica reports as the new id once it
            # restarts, one after another.
            ucid = self._new_ucid()
            self.findings.ucids.append(ucid)
            for other in self._replicas:
                other.ucid = ucid
                self._stop(other)
                other.restart_at = self.now + timedelta(seconds=30 * (other.index + 1))

    # processes ----------------------------------------------------------------------------

    def _clock_of(self, replica: Replica) -> Any:
        return lambda: self.now + replica.skew

    def _start_due(self) -> None:
        for replica in self._replicas:
            due = replica.restart_at
            if replica.process is None and due is not None and due <= self.now:
                replica.restart_at = None
                self._start(replica)

    def _start(self, replica: Replica) -> None:
        clock = self._clock_of(replica)
        config = self._config(replica.ucid)
        stack = ExitStack()
        sink = PosthogSink(
            API_KEY, host=self._capture.url, timeout=CLIENT_TIMEOUT, key_source="simulation"
        )
        armed = replica.armed = Armed()

        def server_version() -> str:
            # Called while each event is built: a kill here dies holding the claim, unrecorded.
            if armed.step == "before-record":
                raise Killed
            return "v1.29.4"

        app = stack.enter_context(
            application(
                config,
                clock,
                sink=KillableSink(sink, armed, self.findings.unanswered),
                server_version=server_version,
            )
        )
        monitor = Monitor()
        self.findings.monitors.append(monitor)
        settings = config.settings
        daemon = Daemon(
            app.telemetry,
            clock=clock,
            misfire_grace_time=settings.schedule.misfire_grace_time,
            heartbeat_at_start=True,
            retry=retry_policy(settings),
            monitor=monitor,
        )
        replica.process = Incarnation(app, daemon, monitor, stack)
        local = clock()
        replica.due = {
            "startup": local,
            "summary": self._next_fire(self.summary, local),
            "heartbeat": self._next_fire(self.heartbeat, local),
        }
        replica.owed_heartbeat = True

    @staticmethod
    def _next_fire(schedule: Schedule, after: datetime) -> datetime:
        fire = schedule.next_slot(after)
        if fire is None:
            raise ValueError(f"{schedule.expression} never fires")
        return fire

    def _config(self, ucid: str) -> Config:
        return load(
            None,
            {
                "OT_DATABASE_URL": self._orchestrator_url,
                "OT_STATE_URL": self._state_url,
                "OT_DATABASE_STATEMENT_TIMEOUT": "5",
                "OT_DATABASE_CONNECT_TIMEOUT": "2",
                "OT_POSTHOG_API_KEY": API_KEY,
                "OT_POSTHOG_HOST": self._capture.url,
                "OT_IDENTITY_UCID": ucid,
                "OT_KUBERNETES_ENABLED": "false",
                "OT_SCHEDULE_SUMMARY": SUMMARY_CRON,
                "OT_SCHEDULE_HEARTBEAT": HEARTBEAT_CRON,
                "OT_DELIVERY_RETRY_MAX": str(RETRY_MAX.total_seconds()),
            },
        )

    def _stop(self, replica: Replica) -> None:
        process, replica.process = replica.process, None
        replica.due = {}
        if process is not None:
            process.stack.close()

    def _stop_all(self) -> None:
        for replica in self._replicas:
            self._stop(replica)

    # jobs ---------------------------------------------------------------------------------

    def _run_due(self) -> None:
        for replica in self._replicas:
            while replica.process is not None:
                local = self.now + replica.skew
                due = sorted((when, job) for job, when in replica.due.items() if when <= local)
                if not due:
                    break
                _, job = due[0]
                self._fire(replica, job, local)

    def _fire(self, replica: Replica, job: str, local: datetime) -> None:
        process = replica.process
        assert process is not None
        # As APScheduler does: a cron job's next fire follows now (coalescing missed ones), a
        # one-off job (startup, retry) is gone once fired.
        if job == "summary":
            replica.due[job] = self._next_fire(self.summary, local)
        elif job == "heartbeat":
            replica.due[job] = self._next_fire(self.heartbeat, local)
            replica.owed_heartbeat = True
        else:
            del replica.due[job]
        self.findings.runs += 1
        with structlog.testing.capture_logs() as logs:
            try:
                process.daemon.run_job(job)
            except Killed:
                self._stop(replica)
                replica.restart_at = self.now + timedelta(seconds=self._rng.randint(5, 120))
                return
            except Exception as exc:  # noqa: BLE001 - the process died: a finding, then a restart
                self.findings.died.append(f"{job} at {local.isoformat()}: {exc!r}")
                self._stop(replica)
                replica.restart_at = self.now + timedelta(seconds=self._rng.randint(5, 120))
                return
            finally:
                self.findings.logs.extend(logs)
        finished = [line for line in logs if line["event"] == "job finished"]
        if finished and "recorded" in finished[-1]:
            self.findings.completed.append((replica.ucid, local, replica.owed_heartbeat))
            replica.owed_heartbeat = False
        retry = process.daemon.take_retry()
        if retry is not None:
            replica.due["retry"] = retry
            self.findings.longest_wait = max(self.findings.longest_wait, retry - local)


class Outage:
    """A database that can be taken down: its sessions cut, new connections refused."""

    def __init__(self, admin_url: str, url: str) -> None:
        self._admin = create_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self._name = make_url(url).database
        self.is_up = True

    def down(self) -> None:
        """Refuse new connections and end every open one."""
        self._set_allowed(allowed=False)
        with self._admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": self._name},
            )
        self.is_up = False

    def up(self) -> None:
        """Accept connections again."""
        self._set_allowed(allowed=True)
        self.is_up = True

    def close(self) -> None:
        """Leave the database up, and release the admin engine."""
        if not self.is_up:
            self.up()
        self._admin.dispose()

    def _set_allowed(self, *, allowed: bool) -> None:
        quoted = self._admin.dialect.identifier_preparer.quote_identifier(str(self._name))
        with self._admin.connect() as connection:
            connection.exec_driver_sql(
                f"ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS {str(allowed).lower()}"
            )


def outbox_rows(state_url: str) -> list[Mapping[str, Any]]:
    """Every row of the state database's outbox."""
    engine = create_engine(state_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT uuid::text AS uuid, event, distinct_id, period, status, last_error"
                    " FROM orchestrator_telemetry.outbox"
                )
            )
            return [dict(row) for row in rows.mappings()]
    finally:
        engine.dispose()
