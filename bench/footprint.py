"""The daemon's own footprint: memory, idle CPU and connections held, on the benchmark database.

Two measurements. The real daemon (`orchestrator-telemetry run`, events printed instead of sent)
is started against the large database, read once its start-up job (a Summary and a Heartbeat)
has finished, then left idle for a while: resident memory, CPU time used while idle (each
thread's schedstat) and the connections it holds (pg_stat_activity). And `bench.soak`, in a
process of its own, drives the same use cases through simulated days on a fast clock, to show
whether memory grows tick after tick.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from queue import Empty, Queue

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from .server import CachedPostgres
from .soak import held_connections, resident_kb

ROOT = Path(__file__).resolve().parent.parent
DAEMON_NAME = "ot-bench-daemon"


@dataclass(frozen=True)
class DaemonFootprint:
    """The real daemon, after its start-up job and while idle."""

    startup_ms: int  # the start-up job: migrate, Summary on the large database, Heartbeat
    rss_start_kb: int
    rss_idle_kb: int
    idle_seconds: float
    idle_cpu_seconds: float
    held_connections_max: int
    exit_code: int

    @property
    def cpu_seconds_per_idle_hour(self) -> float:
        """Idle CPU time scaled to an hour."""
        return self.idle_cpu_seconds * 3600 / self.idle_seconds


@dataclass(frozen=True)
class PathFootprint:
    """The daemon as its image runs it, on one path: resident memory once ready, and 10 s later."""

    path: str
    target_mib: int | None  # None: no target of its own (a first start)
    rss_ready_kb: int
    rss_later_kb: int
    cpu_to_ready_seconds: float

    @property
    def rss_mib(self) -> float:
        """The larger of the two readings, in MiB."""
        return max(self.rss_ready_kb, self.rss_later_kb) / 1024


@dataclass(frozen=True)
class SoakFootprint:
    """Simulated days of ticks."""

    days: int
    ticks: int
    rss_start_kb: int
    rss_after_day_kb: list[int]
    held_connections_max: int


def daemon(server: CachedPostgres, database: str, idle_seconds: float) -> DaemonFootprint:
    """Start `orchestrator-telemetry run` on `database` as the image runs it, measure it idle."""
    _precompile()
    with _fresh_database(server, "ot_bench_state") as state_url:
        environ = (
            os.environ
            | IMAGE_ENV
            | {
                "OT_DATABASE_URL": server.url(database),
                "OT_STATE_URL": state_url,
                "OT_DATABASE_APPLICATION_NAME": DAEMON_NAME,
                "OT_DELIVERY_SINK": "console",
                "OT_KUBERNETES_ENABLED": "false",
                "OT_HTTP_PORT": "0",  # any free port: the endpoints are part of the footprint
                "OT_LOG_FORMAT": "json",
            }
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator_telemetry", "run"],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines = _lines(process)
        observer = create_engine(state_url, poolclass=NullPool)
        try:
            startup = _wait_for_startup(lines, process)
            time.sleep(1)  # let the job's thread finish and the scheduler go back to sleep
            rss_start = resident_kb(process.pid)
            held = [held_connections(observer, DAEMON_NAME)]
            cpu_before, started = _cpu_seconds(process.pid), time.monotonic()
            while time.monotonic() - started < idle_seconds:
                time.sleep(min(5.0, idle_seconds - (time.monotonic() - started)))
                held.append(held_connections(observer, DAEMON_NAME))
            idle = time.monotonic() - started
            idle_cpu = _cpu_seconds(process.pid) - cpu_before
            rss_idle = resident_kb(process.pid)
        finally:
            observer.dispose()
            process.send_signal(signal.SIGTERM)
            exit_code = process.wait(timeout=30)
    return DaemonFootprint(
        startup_ms=int(str(startup.get("duration_ms", -1))),
        rss_start_kb=rss_start,
        rss_idle_kb=rss_idle,
        idle_seconds=idle,
        idle_cpu_seconds=idle_cpu,
        held_connections_max=max(held),
        exit_code=exit_code,
    )


# The memory each path may take at a usual start (the targets), in MiB.
TARGETS = {"in a cluster": 72, "outside a cluster": 64}
# As the image runs it (Dockerfile): bytecode compiled ahead, never written; two malloc arenas.
IMAGE_ENV = {
    "PYTHONDONTWRITEBYTECODE": "1",
    "MALLOC_ARENA_MAX": "2",
    "PYTHONUNBUFFERED": "1",
    "PYTHONOPTIMIZE": "2",
}
PROBES = 60  # requests while idle: probes, scrapes and a preview, as a pod gets them


def paths(server: CachedPostgres, database: str) -> list[PathFootprint]:
    """Both paths, image-like: outside a cluster, and in one (a local API server over TLS)."""
    from tests.support.kube import FakeKubernetesApi  # noqa: PLC0415 - the benchmark's API server

    _precompile()
    measured = [
        # The first start ever migrates the daemon's schema, and Alembic stays imported after.
        _path(server, database, "outside a cluster, first start", [], {}, migrated=False),
        _path(server, database, "outside a cluster", [], {}),
    ]
    token = "bench-serviceaccount-token"  # noqa: S105 - the local API server's own
    with (
        FakeKubernetesApi(token, tls=True) as api,
        _service_account(token, api.ca_path) as account,
    ):
        env = {
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(api.port),
            "OT_KUBERNETES_ENABLED": "true",
            "NO_PROXY": "127.0.0.1",
        }
        launcher = ["-m", "bench.in_pod", str(account)]
        measured.append(_path(server, database, "in a cluster", launcher, env))
    return measured


@dataclass(frozen=True)
class ImportCost:
    """What importing one part adds to a fresh interpreter's resident memory, as the image runs."""

    part: str
    added_kb: int
    total_kb: int


# What the daemon is built on, in the order a start first imports it: each row is imported on top
# of the rows above it, so a row's share is what it adds to them.
IMPORT_STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SQLAlchemy with its PostgreSQL dialect", ("sqlalchemy.dialects.postgresql.psycopg2",)),
    ("psycopg2 (libpq)", ("psycopg2",)),
    ("pydantic (its model machinery)", ("pydantic", "pydantic.main", "pydantic.fields")),
    ("structlog", ("structlog", "structlog.stdlib")),
    ("PyYAML", ("yaml",)),
    ("APScheduler 3", ("apscheduler.schedulers.background",)),
    ("requests", ("requests",)),
    ("posthog (and httpx, which it imports once installed)", ("posthog",)),
    ("jsonschema", ("jsonschema",)),
    ("prometheus-client", ("prometheus_client",)),
    ("the daemon's settings (pydantic builds their models)", ("orchestrator_telemetry.config",)),
    ("the daemon's other modules", ("orchestrator_telemetry.cli", "orchestrator_telemetry.daemon")),
    ("lightkube (in a cluster only)", ("orchestrator_telemetry.kube.client",)),
)

_MEASURE_IMPORTS = """
import importlib, json, sys
def rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
found = [rss()]
for modules in json.loads(sys.argv[1]):
    for module in modules:
        importlib.import_module(module)
    found.append(rss())
print(json.dumps(found))
"""


def import_costs() -> list[ImportCost]:
    """Each part's share of resident memory, imported in order by a fresh image-like interpreter."""
    _precompile()
    steps = [modules for _, modules in IMPORT_STEPS]
    answer = subprocess.run(
        [sys.executable, "-c", _MEASURE_IMPORTS, json.dumps(steps)],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", os.defpath), **IMAGE_ENV},
        check=True,
        capture_output=True,
        text=True,
    )
    found: list[int] = json.loads(answer.stdout)
    parts = ["the interpreter", *(part for part, _ in IMPORT_STEPS)]
    return [
        ImportCost(part, total - (found[index - 1] if index else 0), total)
        for index, (part, total) in enumerate(zip(parts, found, strict=True))
    ]


@functools.cache  # once per benchmark process: import_costs, paths and daemon each need it
def _precompile() -> None:
    """Compile every module ahead, at the image's optimisation level, as the image's build does."""
    # The standard library and the installed libraries as the image has them; this checkout's
    # own modules in the default mode, whose .pyc files the interpreter still checks against
    # later edits. Where a folder cannot be written, its modules compile in memory at each start.
    stdlib = Path(sysconfig.get_path("stdlib"))
    for where, mode, skip in (
        (stdlib, "unchecked-hash", ["-x", "/site-packages/"]),
        (Path(sys.prefix), "unchecked-hash", []),
        (ROOT / "orchestrator_telemetry", "timestamp", []),
    ):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "compileall",
                "-q",
                "-j",
                "0",
                "-o",
                IMAGE_ENV["PYTHONOPTIMIZE"],
                *skip,
                "--invalidation-mode",
                mode,
                str(where),
            ],
            check=False,
            capture_output=True,
        )


@contextmanager
def _service_account(token: str, ca: Path) -> Iterator[Path]:
    """A folder as the kubelet mounts a ServiceAccount: token, ca.crt, namespace."""
    with tempfile.TemporaryDirectory(prefix="ot-bench-sa-") as folder:
        account = Path(folder)
        (account / "token").write_text(token)
        (account / "ca.crt").write_bytes(ca.read_bytes())
        (account / "namespace").write_text("devtroncd")
        yield account


def _path(
    server: CachedPostgres,
    database: str,
    name: str,
    launcher: list[str],
    env: dict[str, str],
    *,
    migrated: bool = True,
) -> PathFootprint:
    """Start the daemon on one path, wait until /readyz answers 200, read its memory twice.

    `migrated`: the schema is at head already, as at every start but the first.
    """
    port = _free_port()
    with _fresh_database(server, "ot_bench_paths") as state_url:
        environ = {
            "PATH": os.environ.get("PATH", os.defpath),
            **IMAGE_ENV,
            "OT_DATABASE_URL": server.url(database),
            "OT_STATE_URL": state_url,
            "OT_DELIVERY_SINK": "console",
            "OT_KUBERNETES_ENABLED": "false",
            "OT_HTTP_HOST": "127.0.0.1",
            "OT_HTTP_PORT": str(port),
            "OT_LOG_FORMAT": "json",
            **env,
        }
        command = launcher or ["-m", "orchestrator_telemetry"]
        if migrated:
            subprocess.run(
                [sys.executable, "-m", "orchestrator_telemetry", "migrate"],
                cwd=ROOT,
                env=environ,
                check=True,
                capture_output=True,
            )
        process = subprocess.Popen(
            [sys.executable, *command, "run"],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(base + "/readyz", process)
            time.sleep(1)  # the start-up job's thread ends, the scheduler goes back to sleep
            cpu = _process_cpu_seconds(process.pid)
            rss_ready = resident_kb(process.pid)
            for index in range(PROBES):
                _get(base + ("/healthz", "/readyz", "/metrics")[index % 3])
            _get(base + "/preview")
            time.sleep(10)
            rss_later = resident_kb(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    return PathFootprint(name, TARGETS.get(name), rss_ready, rss_later, cpu)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _get(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=30) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the daemon exited with {process.returncode} before it was ready")
        if _get(url) == 200:
            return
        time.sleep(0.2)
    raise RuntimeError("the daemon was not ready within 180 s")


def _process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def soak(server: CachedPostgres, database: str, days: int) -> SoakFootprint:
    """Run `bench.soak` for `days` simulated days on `database`, as the image runs the daemon."""
    with _fresh_database(server, "ot_bench_soak") as state_url:
        finished = subprocess.run(
            [sys.executable, "-m", "bench.soak", server.url(database), state_url, str(days)],
            cwd=ROOT,
            env=os.environ | IMAGE_ENV,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    if finished.returncode != 0:
        raise RuntimeError(f"bench.soak failed:\n{finished.stdout}\n{finished.stderr}")
    report = json.loads(finished.stdout.strip().splitlines()[-1])
    return SoakFootprint(
        days=report["days"],
        ticks=report["ticks"],
        rss_start_kb=report["rss_start_kb"],
        rss_after_day_kb=report["rss_after_day_kb"],
        held_connections_max=report["held_connections_max"],
    )


@contextmanager
def _fresh_database(server: CachedPostgres, name: str) -> Iterator[str]:
    """An empty database for the daemon's own tables, dropped afterwards."""
    admin = create_engine(server.url("postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        _recreate(admin, name)
        yield server.url(name)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def _recreate(admin: Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")


def _lines(process: subprocess.Popen[str]) -> Queue[str]:
    """The process's output lines, read in a thread so that its pipe never fills."""
    lines: Queue[str] = Queue()

    def read() -> None:
        assert process.stdout is not None  # noqa: S101 - Popen(stdout=PIPE)
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, name="daemon-output", daemon=True).start()
    return lines


def _wait_for_startup(lines: Queue[str], process: subprocess.Popen[str]) -> dict[str, object]:
    """The log record of the start-up job's end; raise if the daemon exits or takes too long."""
    deadline = time.monotonic() + 180
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except Empty:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        try:
            record = json.loads(line)
        except ValueError:
            continue  # an event printed by the console sink spans one line too; this was other
        if isinstance(record, dict) and record.get("job") == "startup":
            if record.get("outcome") != "ok":
                raise RuntimeError(f"the daemon's start-up job failed: {line}")
            return record
    tail = "".join(seen[-20:])
    raise RuntimeError(f"the daemon did not finish its start-up job:\n{tail}")


def _cpu_seconds(pid: int) -> float:
    """CPU time the process's threads have used, to the nanosecond (schedstat)."""
    # /proc/<pid>/stat counts in clock ticks (10 ms): too coarse for a minute of idling.
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended between the listing and the read
    return total / 1e9
