"""The command line: parse arguments, load configuration, run one command, map exit codes.

Exit codes: 0 success; 1 something was not delivered (or a run failed); 2 bad configuration,
usage or export file; 3 a database, the Kubernetes API, the schema or the demo's PostgreSQL
cannot be used. `errors.py` maps each error the daemon raises on purpose to one of them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import structlog
from sqlalchemy.exc import DBAPIError

from . import __version__, audit, logs, schemas
from .app import application, kubernetes, opt_out_reason, retry_policy
from .collect.catalogue import summary_layout, tables_read
from .config import (
    CONFIG_ENV,
    Config,
    HttpSettings,
    http_settings,
    load,
)
from .database import first_line, state_engine
from .deliver.sinks import ConsoleSink
from .effective import describe, kubernetes_in_use
from .errors import (
    ConfigError,
    DatabaseUnavailable,
    ExitCode,
    KubernetesError,
    PayloadInvalid,
    SandboxError,
    SchemaError,
    TelemetryError,
    Unavailable,
    exit_code,
)
from .events import INSTALLER_EVENTS, EventName, rfc3339
from .logs import proxy_secrets
from .schedule import utc_now
from .serve.endpoints import Endpoints
from .serve.metrics import Monitor
from .service import Telemetry
from .state import migrate

AIR_GAPPED = "air-gapped: events are recorded, never sent; `export` carries them out"
LIVENESS_CHECK = 30.0  # seconds between checks that the scheduler still runs
SHUTDOWN_TIMEOUT = 5.0  # seconds to finish a running job; the rest of a 10 s grace is to spare
EMIT_RETRY = 2.0  # seconds between delivery attempts of `emit --wait`

log = structlog.get_logger("orchestrator_telemetry")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    args = _parser().parse_args(argv)
    command: str = args.command
    if command == "demo":
        return _demo(args)
    return _dispatch(command, args, os.environ)


def _dispatch(command: str, args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    needs_key = command in {"run", "once", "emit"}
    offline = command in {"schema", "grants"}  # they print what the configuration implies
    try:
        # An upload runs where there is egress, often far from any database.
        config = load(
            args.config,
            environ,
            require_api_key=needs_key,
            require_database=not offline and command != "upload",
        )
    except ConfigError as exc:
        if command == "run" and not args.strict:
            return _run_unconfigured(exc.problems, args, environ)
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return ExitCode.BAD_CONFIG
    settings = config.settings
    # Their stdout is the answer.
    quiet_stdout = command in {
        "preview",
        "check-config",
        "status",
        "history",
        "export",
        "schema",
        "grants",
    }
    redactor = logs.configure(
        settings.log.level,
        settings.log.format,
        [*settings.secrets(), *proxy_secrets(environ)],
        stream=sys.stderr if quiet_stdout else sys.stdout,
    )
    logs.mask_streams(redactor)  # print, the HTTP server's own errors, uncaught tracebacks
    args.on_secret = redactor.add  # a key discovered at run time is masked like a configured one
    args.redact = redactor.mask
    handler = _COMMANDS[command]
    try:
        return handler(config, args)
    except TelemetryError as exc:
        log.error(_headline(exc), command=command, error=str(exc))
        return exit_code(exc)
    except DBAPIError as exc:  # a lost connection, a refused permission: the driver's one line
        log.error("cannot use the database", command=command, error=first_line(exc))
        return ExitCode.UNAVAILABLE


def _headline(error: TelemetryError) -> str:
    """The log line's message for an error that ended a command."""
    if isinstance(error, DatabaseUnavailable | SchemaError):
        return "cannot use the database"
    if isinstance(error, KubernetesError):
        return "cannot use the Kubernetes API"
    if isinstance(error, PayloadInvalid):
        return "event refused by its JSON Schema"  # never recorded nor sent; a defect to report
    return "command failed"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrator-telemetry",
        description="Send Devtron's anonymous usage telemetry (Heartbeat, Summary) to PostHog.",
        epilog="Exit codes: 0 ok, 1 not delivered, 2 bad configuration, 3 dependency unavailable.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    config_help = f"YAML configuration file (default: ${CONFIG_ENV}, else none)"
    parser.add_argument(
        "--config", type=Path, default=_default_config(), metavar="PATH", help=config_help
    )
    common = argparse.ArgumentParser(add_help=False)
    # Also after the subcommand; not given there, the value before it (or the default) stands.
    common.add_argument(
        "--config", type=Path, default=argparse.SUPPRESS, metavar="PATH", help=config_help
    )
    # `schema` and `grants` answer for the configured payload, or for the one named here.
    payload = argparse.ArgumentParser(add_help=False)
    payload.add_argument("--format", choices=list(schemas.FORMATS), help="default: payload.format")
    payload.add_argument("--mode", choices=list(schemas.MODES), help="default: devtron.mode")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", parents=[common], help="run the daemon in the foreground")
    run.add_argument(
        "--strict",
        action="store_true",
        help="exit 2 on an invalid configuration or a busy HTTP port, instead of staying up"
        " (serving /healthz, and /readyz 503) without sending anything",
    )
    once = sub.add_parser(
        "once",
        parents=[common],
        help="record and deliver the latest slot's events now; exit 0 only if all were delivered",
    )
    once.add_argument("--event", choices=["summary", "heartbeat", "all"], default="all")
    sub.add_parser(
        "preview",
        parents=[common],
        help="print the events that would be sent now, as JSON; sends and writes nothing",
    )
    names = [name.value for name in INSTALLER_EVENTS]
    emit = sub.add_parser(
        "emit",
        parents=[common],
        help="record one installer lifecycle event and try to deliver it (for a Helm hook)",
        description="Record one installer lifecycle event, then try to deliver it at once. Exit 0"
        " once it is recorded: what PostHog does not take now, the daemon delivers later."
        f" Events: {', '.join(names)}.",
    )
    emit.add_argument("event", choices=names, metavar="EVENT", help=f"one of: {', '.join(names)}")
    emit.add_argument(
        "--wait",
        type=_seconds,
        metavar="SECONDS",
        help="wait up to SECONDS for delivery; exit 1 if the event was not delivered by then",
    )
    sub.add_parser("migrate", parents=[common], help="create or upgrade the daemon's own schema")
    sub.add_parser(
        "status",
        parents=[common],
        help="print the ucid, last Summary, outbox and next runs; exit 0 when nothing is overdue",
    )
    history = sub.add_parser(
        "history",
        parents=[common],
        help="list the recorded events, newest first, and what became of each",
    )
    _since(history)
    history.add_argument("--json", action="store_true", help="print one JSON array")
    history.add_argument(
        "--payload", action="store_true", help="with --json: each event's exact properties too"
    )
    export = sub.add_parser(
        "export",
        parents=[common],
        help="write the recorded events to a file, for `upload` where there is egress",
    )
    export.add_argument("--out", required=True, metavar="FILE", help="the file, or - for stdout")
    _since(export)
    upload = sub.add_parser(
        "upload",
        parents=[common],
        help="send an export file to PostHog; needs no database; exit 0 if all were accepted",
    )
    upload.add_argument("file", metavar="FILE", help="an export file, or - for stdin")
    sub.add_parser(
        "check-config",
        parents=[common],
        help="validate the configuration and print every effective value, secrets masked",
    )
    schema = sub.add_parser(
        "schema",
        parents=[common, payload],
        help="print the JSON Schema an event's properties must match (configured format and mode)",
    )
    schema.add_argument("--event", choices=list(schemas.EVENTS), default="Summary")
    grants = sub.add_parser(
        "grants",
        parents=[common, payload],
        help="print the GRANT SELECT for exactly the tables the configured format reads",
    )
    grants.add_argument(
        "--role", default="telemetry", help="the daemon's role (default: telemetry)"
    )
    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="run the daemon on a throwaway PostgreSQL with sample data, printing events",
    )
    # A demo with a broken configuration says so and exits, rather than waiting silently.
    demo.set_defaults(strict=True)
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0 or more seconds")
    return value


def _since(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        type=_days,
        default=30.0,
        metavar="DAYS",
        help="events of the last DAYS days (default: 30)",
    )


def _days(value: str) -> float:
    try:
        days = float(value)
    except ValueError:
        days = 0.0
    if not days > 0 or days == float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of days")
    return days


def _default_config() -> Path | None:
    value = os.environ.get(CONFIG_ENV)
    return Path(value) if value else None


def _run(config: Config, args: argparse.Namespace) -> int:
    from .daemon import Daemon  # noqa: PLC0415 - APScheduler is only needed by the daemon

    stop = _stop_on_signals()
    settings = config.settings
    monitor = Monitor()
    reason = opt_out_reason(config)
    with application(config, utc_now, on_secret=args.on_secret) as app:
        daemon = Daemon(
            app.telemetry,
            clock=utc_now,
            misfire_grace_time=settings.schedule.misfire_grace_time,
            heartbeat_at_start=settings.schedule.heartbeat_at_start,
            retry=retry_policy(settings),
            monitor=monitor,
        )
        endpoints = Endpoints(
            monitor,
            alive=(lambda: not stop.is_set()) if reason else daemon.alive,
            preview=lambda: [event.to_capture() for event in app.telemetry.preview()],
        )
        if not _serve(endpoints, settings.http, strict=args.strict):
            return ExitCode.BAD_CONFIG
        if reason is None:
            if settings.telemetry.air_gapped:
                log.warning(AIR_GAPPED, source=config.source_of("telemetry.air_gapped"))
            daemon.start()
        else:
            # Silent means silent: no scheduler, no query, no outbound connection of any kind.
            log.warning("telemetry is disabled; nothing is collected or sent", reason=reason)
            monitor.readiness.record(schema_at_head=True, database_ok=True, reason=reason)
        # A signal wakes this wait at once; the timeout only paces the scheduler's health check.
        while not stop.wait(timeout=LIVENESS_CHECK):
            if reason is None and not daemon.alive():
                log.error("scheduler stopped unexpectedly")
                return ExitCode.NOT_DELIVERED
        if reason is None and not daemon.stop(timeout=SHUTDOWN_TIMEOUT):
            # The abandoned run may be inside the sink: closing it would wait for that send.
            app.flush_on_close = False
        endpoints.stop()
    log.info("stopped")
    return ExitCode.OK


def _run_unconfigured(
    problems: list[str], args: argparse.Namespace, environ: Mapping[str, str]
) -> int:
    """`run` with an unusable configuration: send nothing, say why, keep the pod starting."""
    redactor = logs.configure(
        _choice(environ.get("OT_LOG_LEVEL"), ("debug", "info", "warning", "error"), "info"),
        _choice(environ.get("OT_LOG_FORMAT"), ("auto", "json", "console"), "auto"),
        proxy_secrets(environ),
    )
    logs.mask_streams(redactor)
    for problem in problems:
        log.error(f"config error: {problem}")
    log.error(
        "configuration invalid: nothing is collected or sent; /readyz lists the problems"
        " until they are fixed and the daemon restarted (run --strict exits 2 instead)"
    )
    stop = _stop_on_signals()
    monitor = Monitor()
    monitor.config_invalid(problems)
    endpoints = Endpoints(monitor, alive=lambda: not stop.is_set(), preview=_unconfigured)
    _serve(endpoints, http_settings(args.config, environ), strict=False)
    stop.wait()
    endpoints.stop()
    log.info("stopped")
    return ExitCode.OK


def _unconfigured() -> list[dict[str, Any]]:
    raise ConfigError(["the configuration is invalid; see /readyz"])


def _choice(value: str | None, allowed: tuple[str, ...], default: str) -> str:
    return value if value in allowed else default


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def _serve(endpoints: Endpoints, http: HttpSettings, *, strict: bool) -> bool:
    """Start the endpoint if enabled; False only when it cannot be and `strict` says to stop."""
    if not http.enabled:
        return True
    try:
        endpoints.start(
            http.host,
            http.port,
            connection_timeout=http.connection_timeout,
            max_connections=http.max_connections,
        )
    except OSError as exc:
        log.error(
            "cannot serve http; set http.port or http.enabled: false"
            + ("" if strict else "; running without the endpoint"),
            address=f"{http.host}:{http.port}",
            error=exc.strerror or str(exc),
        )
        return not strict
    return True


@contextmanager
def _permitted(config: Config, args: argparse.Namespace) -> Iterator[Telemetry | None]:
    """The prepared use cases, or None (said once, why) when this installation sends nothing."""
    reason = opt_out_reason(config)
    if reason is not None:
        log.warning("telemetry is disabled; nothing is collected or sent", reason=reason)
        yield None
        return
    with application(config, utc_now, on_secret=args.on_secret) as app:
        app.telemetry.prepare()
        if app.telemetry.opted_out():
            log.warning("this installation opted out (Devtron's opt-out lookup); nothing sent")
            yield None
            return
        yield app.telemetry


def _once(config: Config, args: argparse.Namespace) -> int:
    which: Literal["summary", "heartbeat", "all"] = args.event
    with _permitted(config, args) as telemetry:
        if telemetry is None:
            return ExitCode.OK
        now = utc_now()
        wanted: list[tuple[str, datetime]] = []
        deferred: Unavailable | None = None
        if which in {"heartbeat", "all"}:
            heartbeat_slot = telemetry.plan.heartbeat.latest_slot(now)
            if heartbeat_slot is not None:
                telemetry.record_heartbeat(heartbeat_slot)
                wanted.append((EventName.HEARTBEAT, heartbeat_slot))
        if which in {"summary", "all"}:
            summary_slot = telemetry.plan.summary.latest_slot(now)
            if summary_slot is not None:
                wanted.append((EventName.SUMMARY, summary_slot))
            try:
                for slot in telemetry.missed_summary_slots(now):
                    telemetry.record_summary(slot)
            except Unavailable as exc:
                deferred = exc  # the orchestrator cannot be counted now; the rest is delivered
        if telemetry.plan.air_gapped and deferred is None:
            unrecorded = [
                name
                for name, slot in wanted
                if telemetry.outbox.status_of(name, telemetry.ucid, slot) is None
            ]
            log.info(
                "once finished",
                outcome="recorded" if not unrecorded else "not recorded",
                unrecorded=unrecorded,
                note=AIR_GAPPED,
            )
            return ExitCode.OK if not unrecorded else ExitCode.NOT_DELIVERED
        report = telemetry.deliver(ignore_backoff=True)
        pending = report.counts.get("pending", 0)  # counted at the end of the pass
        # The latest slot's events must be sent, whatever an earlier run did to them.
        undelivered = [
            name
            for name, slot in wanted
            if telemetry.outbox.status_of(name, telemetry.ucid, slot) != "sent"
        ]
    if deferred is not None:
        log.error("the summary cannot be recorded now; run once again later", error=str(deferred))
        return ExitCode.UNAVAILABLE
    delivered = not undelivered and not report.failed and pending == 0
    log.info(
        "once finished",
        outcome="ok" if delivered else "not delivered",
        undelivered=undelivered,
        sent=len(report.sent),
        failed=len(report.failed),
        dead=len(report.dead),
        pending=pending,
    )
    return ExitCode.OK if delivered else ExitCode.NOT_DELIVERED


def _emit(config: Config, args: argparse.Namespace) -> int:
    name = EventName(args.event)
    wait: float | None = args.wait
    with _permitted(config, args) as telemetry:
        if telemetry is None:
            return ExitCode.OK
        event = telemetry.record_installer_event(name)
        if telemetry.plan.air_gapped:
            log.info("emit finished", event_name=event.name, uuid=str(event.uuid), note=AIR_GAPPED)
            return ExitCode.OK
        deadline = time.monotonic() + (wait or 0.0)
        while True:
            telemetry.deliver(ignore_backoff=True)
            status = telemetry.outbox.status_of(event.name, event.distinct_id, event.period)
            left = deadline - time.monotonic()
            if status != "pending" or wait is None or left <= 0:
                break
            time.sleep(min(EMIT_RETRY, left))
    sent = status == "sent"
    # Not delivered now is not lost: the event is recorded, and the daemon delivers it later.
    log.info(
        "emit finished",
        event_name=event.name,
        uuid=str(event.uuid),
        outcome="sent" if sent else f"recorded, {status}; the daemon delivers it later",
    )
    return ExitCode.OK if sent or wait is None else ExitCode.NOT_DELIVERED


def _preview(config: Config, args: argparse.Namespace) -> int:
    with application(config, utc_now, sink=ConsoleSink(sys.stderr)) as app:
        built = app.telemetry.preview()
    json.dump([event.to_capture() for event in built], sys.stdout, indent=2)
    sys.stdout.write("\n")
    return ExitCode.OK


def _migrate(config: Config, args: argparse.Namespace) -> int:
    settings = config.settings
    engine = state_engine(settings.state_url.get_secret_value(), settings.database, settings.state)
    try:
        migrate.upgrade(engine, settings.state.schema_name)
    finally:
        engine.dispose()
    log.info("schema is at head", schema=settings.state.schema_name, revision=migrate.HEAD)
    return ExitCode.OK


def _demo(args: argparse.Namespace) -> int:
    from .sandbox.demo import demo_environment, sample_installation  # noqa: PLC0415 - demo only

    try:
        with sample_installation(utc_now()) as (url, expected):
            shown = ", ".join(f"{key}={value}" for key, value in expected.items())
            print(
                f"demo: sample installation ready; its documented Summary must show {shown}"
                " (OT_PAYLOAD_FORMAT=extended shows the extended format)",
                flush=True,
            )
            print("demo: events are printed as JSON instead of sent; Ctrl-C stops", flush=True)
            return _dispatch("run", args, {**os.environ, **demo_environment(url)})
    except SandboxError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return ExitCode.UNAVAILABLE


def _status(config: Config, args: argparse.Namespace) -> int:
    with application(config, utc_now, sink=ConsoleSink(sys.stderr)) as app:
        status = app.telemetry.status()
    last = status.last_summary
    lines = {
        "ucid": status.ucid or "none yet",
        "last summary": (
            f"period {_when(last['period'])}, {last['status']}"
            + (f" at {_when(last['sent_at'])}" if last["sent_at"] else "")
            if last
            else "none yet"
        ),
        "outbox": ", ".join(f"{name} {count}" for name, count in status.outbox.items()) or "-",
        **{f"next {job}": _when(when) for job, when in status.next_runs.items()},
        "overdue": "; ".join(status.overdue) or "nothing",
    }
    for key, value in lines.items():
        print(f"{key}: {value}")
    return ExitCode.NOT_DELIVERED if status.overdue else ExitCode.OK


def _when(moment: datetime | None) -> str:
    return rfc3339(moment) if moment is not None else "none"


def _schema(config: Config, args: argparse.Namespace) -> int:
    payload_format, mode = _format_and_mode(config, args)
    json.dump(schemas.schema_for(args.event, payload_format, mode), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return ExitCode.OK


def _grants(config: Config, args: argparse.Namespace) -> int:
    payload_format, mode = _format_and_mode(config, args)
    if not re.fullmatch(r"[a-z_][a-z0-9_$]{0,62}", args.role):
        print(f"grants: --role {args.role!r} is not a plain role name; use e.g. telemetry")
        return ExitCode.BAD_CONFIG
    print(grant_statement(payload_format, mode, args.role))
    return ExitCode.OK


def grant_statement(payload_format: str, mode: str, role: str) -> str:
    """The GRANT SELECT for exactly the orchestrator tables `payload_format` and `mode` read."""
    layout = summary_layout(payload_format, mode)
    tables = ", ".join(f"public.{table}" for table in tables_read(layout))
    return "\n".join(
        textwrap.wrap(f"GRANT SELECT ON {tables} TO {role};", 96, subsequent_indent="    ")
    )


def _format_and_mode(config: Config, args: argparse.Namespace) -> tuple[str, str]:
    settings = config.settings
    return args.format or settings.payload.format, args.mode or settings.devtron.mode


def _check_config(config: Config, args: argparse.Namespace) -> int:
    kube = None
    if kubernetes_in_use(config, os.environ)[0]:
        try:
            kube = kubernetes(config.settings)
        except Exception as exc:  # noqa: BLE001 - check-config shows what it can
            log.warning("cannot reach the Kubernetes API", error=str(exc))
    try:
        for line in describe(config, os.environ, kube.server_version if kube else None):
            print(line)
    finally:
        if kube is not None:
            kube.close()
    return ExitCode.OK


_COMMANDS: dict[str, Callable[[Config, argparse.Namespace], int]] = {
    "run": _run,
    "once": _once,
    "emit": _emit,
    "preview": _preview,
    "migrate": _migrate,
    "status": _status,
    "check-config": _check_config,
    "history": audit.history,
    "export": audit.export,
    "upload": audit.upload,
    "schema": _schema,
    "grants": _grants,
}
