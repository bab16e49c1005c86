"""Running the command line as a subprocess, the way an operator or a container runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import IO, Any, Self

from sqlalchemy.engine import make_url

__all__ = [
    "API_KEY",
    "CLI",
    "CliProcess",
    "CliResult",
    "cli_env",
    "json_lines",
    "log_lines",
    "plain_url",
    "run_cli",
]

CLI = (sys.executable, "-m", "orchestrator_telemetry")
"""The command line, run by this interpreter so the installed package is the one under test."""

API_KEY = "phc_integrationtestkey"
"""A PostHog project key in PostHog's format; the capture server accepts any."""

LogLine = dict[str, Any]


def plain_url(url: str) -> str:
    """The URL as an operator writes it: `postgresql://`, without SQLAlchemy's driver suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def cli_env(**variables: str) -> dict[str, str]:
    """An explicit environment: nothing inherited but PATH, JSON logs, plus `variables`."""
    # Built from scratch so no POSTHOG_*, PG_* or OT_* variable of the test runner leaks in.
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "OT_LOG_FORMAT": "json",
        "OT_HTTP_PORT": "0",  # any free port: several daemons may run side by side
        **variables,
    }


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of `text` that is a JSON object, in order; other lines are skipped."""
    found: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def log_lines(text: str) -> list[LogLine]:
    """The JSON log lines of `text` (objects with a `msg`), in order."""
    return [line for line in json_lines(text) if "msg" in line]


class CliResult:
    """What a finished command did: exit code and both output streams."""

    def __init__(self, completed: subprocess.CompletedProcess[str]) -> None:
        """Wrap a completed process."""
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr

    @property
    def output(self) -> str:
        """Stdout and stderr together."""
        return self.stdout + self.stderr

    @property
    def logs(self) -> list[LogLine]:
        """The JSON log lines of both streams."""
        return log_lines(self.stdout) + log_lines(self.stderr)

    def messages(self) -> list[str]:
        """The `msg` of every log line."""
        return [str(line["msg"]) for line in self.logs]

    def describe(self) -> str:
        """Everything the command printed, for assertion messages."""
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def run_cli(
    *args: str, env: Mapping[str, str], timeout: float = 30.0, stdin: str | None = None
) -> CliResult:
    """Run the command line to completion with `env` as its whole environment, `stdin` as input."""
    completed = subprocess.run(
        [*CLI, *args],
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(completed)


class _LineCollector:
    """Reads a stream line by line in a thread; lets a test wait for a line."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self._stream = stream
        self._lines: list[str] = []
        self._done = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, name=name, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            with self._cond:
                self._lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._done = True
            self._cond.notify_all()

    @property
    def lines(self) -> list[str]:
        with self._cond:
            return list(self._lines)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> str | None:
        """Return the first line (old or new) matching `predicate`, or None at the deadline/EOF."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self._lines[seen:]:
                    if predicate(line):
                        return line
                seen = len(self._lines)
                remaining = deadline - time.monotonic()
                if self._done or remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class CliProcess:
    """A long-running command (`run`) whose output is read as it comes; a context manager."""

    def __init__(self, *args: str, env: Mapping[str, str], command: Sequence[str] = CLI) -> None:
        """Start the command (`command` followed by `args`) with `env` as its whole environment."""
        self.process = subprocess.Popen(
            [*command, *args],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self._stdout = _LineCollector(self.process.stdout, "cli-stdout")
        self._stderr = _LineCollector(self.process.stderr, "cli-stderr")

    def __enter__(self) -> Self:
        """Return the running process."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Kill the process if a test left it running, and release its pipes."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self._stdout.join(timeout=5)
        self._stderr.join(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    @property
    def stdout_lines(self) -> list[str]:
        """Every stdout line so far."""
        return self._stdout.lines

    @property
    def stderr_lines(self) -> list[str]:
        """Every stderr line so far."""
        return self._stderr.lines

    @property
    def logs(self) -> list[LogLine]:
        """The JSON log lines of stdout so far (where `run` logs)."""
        return log_lines("\n".join(self.stdout_lines))

    def wait_for_log(self, predicate: Callable[[LogLine], bool], timeout: float) -> LogLine:
        """Wait for a JSON log line on stdout matching `predicate`; fail at the deadline."""

        def matches(line: str) -> bool:
            parsed = log_lines(line)
            return bool(parsed) and predicate(parsed[0])

        found = self._stdout.wait_for(matches, timeout)
        if found is None:
            raise AssertionError(f"no matching log line within {timeout} s\n{self.describe()}")
        return log_lines(found)[0]

    def stop(self, signum: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send `signum` and return the exit code; fail if the process outlives `timeout`."""
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running {timeout} s after {signum.name}\n{self.describe()}"
            ) from None
        # The pipes close with the process: once read to the end, the output is complete.
        self._stdout.join(timeout=5)
        self._stderr.join(timeout=5)
        return code

    def describe(self) -> str:
        """Everything the process printed so far, for assertion messages."""
        out, err = "\n".join(self.stdout_lines), "\n".join(self.stderr_lines)
        return f"--- stdout\n{out}\n--- stderr\n{err}"
