"""The operator's view of every byte: `history`, `export` and `upload`.

`history` and `export` read only the daemon's own tables. `upload` needs neither database: it sends
an export file through the posthog client and, where the state database answers, marks sent what
PostHog accepted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from .app import opt_out_reason, posthog_sink
from .config import Config
from .database import first_line, state_engine
from .deliver.access import session
from .errors import DeliveryError, ExitCode, ExportInvalid, SchemaError
from .events import Event, rfc3339
from .schedule import utc_now
from .state import history as recorded
from .state import migrate
from .state.history import Entry

log = structlog.get_logger(__name__)

_COLUMNS = ("event", "period", "uuid", "status", "attempts", "recorded", "sent", "last error")


def history(config: Config, args: argparse.Namespace) -> int:
    """Print the recorded events of the last `--since` days, newest first."""
    if args.payload and not args.json:
        print(
            "history: --payload needs --json (the table has no room for properties)",
            file=sys.stderr,
        )
        return ExitCode.BAD_CONFIG
    redact: Callable[[str], str] = args.redact
    with _state(config) as engine:
        entries = recorded.recorded_since(engine, _cutoff(args.since), newest_first=True)
    if args.json:
        rows = [_as_json(entry, redact, payload=args.payload) for entry in entries]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return ExitCode.OK
    table = [_COLUMNS, *(_as_row(entry, redact) for entry in entries)]
    widths = [max(len(row[i]) for row in table) for i in range(len(_COLUMNS) - 1)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
    return ExitCode.OK


def export(config: Config, args: argparse.Namespace) -> int:
    """Write the recorded events of the last `--since` days, whatever their status, as one file."""
    # jsonschema is imported only by the commands that handle export files, not by the daemon.
    from .deliver.export import document  # noqa: PLC0415

    with _state(config) as engine:
        entries = recorded.recorded_since(engine, _cutoff(args.since), newest_first=False)
    text = json.dumps(document(entries), indent=2) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(
                f"export: cannot write {args.out} ({exc.strerror}); choose another --out",
                file=sys.stderr,
            )
            return ExitCode.BAD_CONFIG
    log.info("export written", out=args.out, events=len(entries), since_days=args.since)
    return ExitCode.OK


def upload(config: Config, args: argparse.Namespace) -> int:
    """Send every event of an export file, checked whole first; exit 0 if PostHog took them all."""
    from .deliver.export import label, parse, to_event  # noqa: PLC0415 - as in export()

    refused = _refusal(config)
    if refused is not None:
        print(f"upload: {refused}; nothing was sent", file=sys.stderr)
        return ExitCode.BAD_CONFIG
    source = "standard input" if args.file == "-" else args.file
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        events = [to_event(capture) for capture in parse(text)]
    except OSError as exc:
        print(f"upload: cannot read {source} ({exc.strerror}); nothing was sent", file=sys.stderr)
        return ExitCode.BAD_CONFIG
    except (ExportInvalid, UnicodeDecodeError) as exc:
        print(f"upload: {source} refused: {exc}; nothing was sent", file=sys.stderr)
        return ExitCode.BAD_CONFIG
    accepted, failed = _send(config, args, events)
    for event, reason in failed:
        log.error("event not accepted", event_name=event.name, uuid=str(event.uuid), reason=reason)
    marked = _mark_sent(config, [event.uuid for event in accepted])
    log.info(
        "upload finished",
        outcome="ok" if not failed else "not delivered",
        accepted=len(accepted),
        failed=[label(event) for event, _ in failed],
        marked_sent=marked,
    )
    return ExitCode.NOT_DELIVERED if failed else ExitCode.OK


def _refusal(config: Config) -> str | None:
    """Why this configuration may not send at all, or None."""
    settings = config.settings
    silenced = opt_out_reason(config)
    if silenced is not None:
        return f"{silenced}: upload sends, so it runs only where telemetry is on"
    if settings.telemetry.air_gapped:
        where = config.source_of("telemetry.air_gapped")
        return f"telemetry.air_gapped is true (set by {where}): run upload on a machine with egress"
    if settings.posthog.api_key is None and settings.posthog.key_url is None:
        return (
            "posthog.api_key: not set; set it in the config file, OT_POSTHOG_API_KEY or"
            " OT_POSTHOG_API_KEY_FILE, or posthog.key_url to ask Devtron's key endpoint"
        )
    return None


def _send(
    config: Config, args: argparse.Namespace, events: list[Event]
) -> tuple[list[Event], list[tuple[Event, str]]]:
    """Send each event with its own uuid and timestamp; return the accepted and the refused."""
    accepted: list[Event] = []
    failed: list[tuple[Event, str]] = []
    with session() as http:
        sink = posthog_sink(config, http, args.on_secret)
        try:
            for event in events:
                try:
                    sink.send(event)
                except DeliveryError as exc:
                    failed.append((event, str(exc)))
                else:
                    accepted.append(event)
        finally:
            sink.close()
    return accepted, failed


def _mark_sent(config: Config, uuids: list[UUID]) -> int:
    """Mark the accepted events sent where the state database answers and holds them."""
    settings = config.settings
    if not uuids or (settings.state.url or settings.database.url) is None:
        return 0
    engine = state_engine(settings.state_url.get_secret_value(), settings.database, settings.state)
    try:
        if not migrate.is_at_head(engine, settings.state.schema_name):
            log.info("uploaded events not marked sent: no outbox at head here")
            return 0
        return recorded.mark_sent(engine, uuids, utc_now())
    except DBAPIError as exc:
        # Delivered is delivered: a state database out of reach changes nothing at PostHog.
        log.warning("uploaded events not marked sent: state database", error=first_line(exc))
        return 0
    finally:
        engine.dispose()


@contextmanager
def _state(config: Config) -> Iterator[Engine]:
    """The state database's engine, disposed after use; its schema must be at head."""
    settings = config.settings
    schema = settings.state.schema_name
    engine = state_engine(settings.state_url.get_secret_value(), settings.database, settings.state)
    try:
        if not migrate.is_at_head(engine, schema):
            raise SchemaError(
                f"schema {schema!r} is not at revision {migrate.HEAD}: nothing is recorded"
                " here yet, or run `orchestrator-telemetry migrate`"
            )
        yield engine
    finally:
        engine.dispose()


def _cutoff(days: float) -> datetime:
    return utc_now() - timedelta(days=days)


def _as_json(entry: Entry, redact: Callable[[str], str], *, payload: bool) -> dict[str, Any]:
    event = entry.event
    row: dict[str, Any] = {
        "event": event.name,
        "period": rfc3339(event.period),
        "uuid": str(event.uuid),
        "status": entry.status,
        "attempts": entry.attempts,
        "recorded_at": rfc3339(entry.recorded_at),
        "sent_at": rfc3339(entry.sent_at) if entry.sent_at else None,
        "last_error": redact(entry.last_error) if entry.last_error else None,
    }
    if payload:
        row["properties"] = event.to_capture()["properties"]
    return row


def _as_row(entry: Entry, redact: Callable[[str], str]) -> tuple[str, ...]:
    return (
        entry.event.name,
        _seconds(entry.event.period),
        str(entry.event.uuid),
        entry.status,
        str(entry.attempts),
        _seconds(entry.recorded_at),
        _seconds(entry.sent_at) if entry.sent_at else "-",
        redact(entry.last_error) if entry.last_error else "-",
    )


def _seconds(moment: datetime) -> str:
    return rfc3339(moment.replace(microsecond=0))
