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


# secrets of any length, anywhere ---------------------------------------------------------------


def test_a_short_secret_is_masked_where_it_stands_alone_not_inside_words() -> None:
    redactor = logs.Redactor(["pw1"])

    assert redactor.mask("password pw1 rejected") == "password *** rejected"
    assert redactor.mask("user=admin:pw1") == "user=admin:***"
    assert redactor.mask("upw1x stays") == "upw1x stays"


def test_a_one_character_secret_is_masked_too() -> None:
    assert logs.Redactor(["x"]).mask("password x refused") == "password *** refused"


def test_the_password_of_any_url_is_masked_known_or_not() -> None:
    redactor = logs.Redactor()

    masked = redactor.mask("proxy http://bob:unknown-pass@proxy:3128 and https://h/x failed")

    assert masked == "proxy http://bob:***@proxy:3128 and https://h/x failed"


def test_proxy_variables_give_their_passwords_in_either_case() -> None:
    env = {
        "HTTPS_PROXY": "http://bob:s3cret%21@proxy:3128",
        "http_proxy": "http://alice:other-pass@proxy:3128",
        "NO_PROXY": "localhost",
    }

    found = logs.proxy_secrets(env)

    assert {"s3cret%21", "s3cret!", "other-pass"} <= set(found)


def test_a_masked_stream_masks_a_secret_split_across_writes() -> None:
    out = io.StringIO()
    stream = logs.MaskedStream(out, logs.Redactor([SECRET]))

    stream.write("connect with " + SECRET[:5])
    stream.write(SECRET[5:] + " failed\nnext")
    stream.flush()

    assert out.getvalue() == "connect with *** failed\nnext"


def test_what_is_stored_is_masked_with_the_configured_secrets(stream: io.StringIO) -> None:
    assert logs.mask(f"HTTP 401: key {SECRET} refused") == "HTTP 401: key *** refused"
