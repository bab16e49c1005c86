"""Log output: one JSON object per line, every library through one renderer, no secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from orchestrator_telemetry import logs

SECRET = "hunter2-very-secret"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    logs.configure("info", "json", [SECRET], stream=out)
    yield out
    logging.getLogger().handlers.clear()
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_structlog_events_are_json_lines_starting_with_time_level_logger_message(
    stream: io.StringIO,
) -> None:
    structlog.get_logger("orchestrator_telemetry.test").info("job finished", job="summary", sent=1)

    [line] = lines(stream)
    assert list(line)[:4] == ["timestamp", "level", "logger", "msg"]
    assert line["msg"] == "job finished"
    assert line["level"] == "info"
    assert line["job"] == "summary"


def test_stdlib_loggers_go_through_the_same_renderer(stream: io.StringIO) -> None:
    logging.getLogger("apscheduler.scheduler").warning("run time of job was missed")

    [line] = lines(stream)
    assert line["logger"] == "apscheduler.scheduler"
    assert line["msg"] == "run time of job was missed"


def test_chatty_libraries_are_quiet_below_warning(stream: io.StringIO) -> None:
    logging.getLogger("apscheduler.scheduler").info("Added job")
    logging.getLogger("sqlalchemy.engine").info("SELECT 1")

    assert lines(stream) == []


def test_secrets_are_masked_wherever_they_appear(stream: io.StringIO) -> None:
    structlog.get_logger("t").error("connect failed", url=f"postgresql://u:{SECRET}@h/db")
    logging.getLogger("urllib3").error("bad key %s", SECRET)

    output = stream.getvalue()
    assert SECRET not in output
    assert output.count("***") == 2


def test_tracebacks_carry_no_frame_locals(stream: io.StringIO) -> None:
    def connect(password: str) -> None:
        raise RuntimeError("connection refused")

    value = "-".join(["frame", "local", "value"])  # built at run time: not in any source line
    try:
        connect(password=value)
    except RuntimeError:
        structlog.get_logger("t").exception("job crashed")

    [line] = lines(stream)
    assert "RuntimeError: connection refused" in str(line["exception"])
    assert value not in stream.getvalue()


def test_console_format_is_readable_text() -> None:
    out = io.StringIO()
    logs.configure("info", "console", [SECRET], stream=out)
    try:
        structlog.get_logger("t").info("daemon started", key=SECRET)
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()

    text = out.getvalue()
    assert "daemon started" in text
    assert not text.startswith("{")
    assert SECRET not in text
