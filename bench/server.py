"""A PostgreSQL server whose data directory is kept under bench/.cache, so data is built once."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

from sqlalchemy import URL

from orchestrator_telemetry.errors import SandboxError
from orchestrator_telemetry.sandbox.postgres import SERVER_USER, find_bindir, free_port

CACHE = Path(__file__).parent / ".cache"

# Server settings for every start. Memory and planner settings stay at PostgreSQL's defaults
# (shared_buffers 128MB, work_mem 4MB, jit on, 2 parallel workers per gather), as an orchestrator
# installed by a Helm chart usually runs; only what measurement and bulk loading need changes.
SETTINGS: Mapping[str, str] = {
    "listen_addresses": "127.0.0.1",
    "shared_preload_libraries": "pg_stat_statements",  # per-statement database time and buffers
    "pg_stat_statements.track": "top",
    "pg_stat_statements.track_planning": "on",  # database time = planning + execution
    "track_io_timing": "on",
    "wal_level": "minimal",  # tables created and filled in one transaction skip the WAL
    "max_wal_senders": "0",
    "max_wal_size": "8GB",
    "fsync": "off",  # a lost cache is regenerated; durability buys nothing here
    "full_page_writes": "off",
    "synchronous_commit": "off",
}


class CachedPostgres:
    """A server on a persistent data directory under `home`; a context manager that stops it."""

    def __init__(self, home: Path) -> None:
        """Prepare a server whose files live in `home` (created on first start)."""
        self.home = home
        self._bindir = find_bindir()
        self._port: int | None = None
        self._account = _server_account()

    @property
    def data(self) -> Path:
        """The data directory."""
        return self.home / "data"

    @property
    def port(self) -> int:
        """The port the running server listens on."""
        if self._port is None:
            raise SandboxError("the benchmark server is not running")
        return self._port

    def url(self, dbname: str, *, port: int | None = None) -> str:
        """SQLAlchemy URL of `dbname` as superuser, optionally through another local port."""
        return URL.create(
            "postgresql+psycopg2",
            username="postgres",
            host="127.0.0.1",
            port=port or self.port,
            database=dbname,
            query={"sslmode": "disable"},  # the byte counts are of plain PostgreSQL protocol
        ).render_as_string(hide_password=False)

    def __enter__(self) -> Self:
        """Start the server, creating its cluster first if it has none."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server; its files stay."""
        self.stop()

    def start(self) -> None:
        """Start the server on its data directory; run initdb first if there is none."""
        self._prepare_home()
        if not (self.data / "PG_VERSION").exists():
            shutil.rmtree(self.data, ignore_errors=True)
            self._run(
                "initdb",
                f"--pgdata={self.data}",
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
        if (self.data / "postmaster.pid").exists():  # left by a run that was killed
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", check=False)
        self._port = free_port()
        options = [f"-p {self._port}", f"-c unix_socket_directories={self.home / 'socket'}"]
        options += [f"-c {name}={value}" for name, value in SETTINGS.items()]
        log = self.home / "server.log"
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-w", "-t", "120", "-l", str(log),
            "-o", " ".join(options),
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server (fast shutdown); safe to call twice."""
        if self._port is None:
            return
        self._port = None
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "120")

    def _prepare_home(self) -> None:
        # The server account must pass through every parent and own its own directories.
        for parent in (self.home.parent, self.home):
            parent.mkdir(parents=True, exist_ok=True)
            parent.chmod(0o711)
        (self.home / "socket").mkdir(exist_ok=True)
        if self._account is not None:
            uid, gid = self._account
            for path in (self.home, self.home / "socket"):
                os.chown(path, uid, gid)

    def _run(self, binary: str, *args: str, check: bool = True) -> None:
        account = self._account
        result = subprocess.run(
            [str(self._bindir / binary), *args],
            cwd=self.home,
            capture_output=True,
            text=True,
            check=False,
            user=None if account is None else account[0],
            group=None if account is None else account[1],
            extra_groups=None if account is None else [],
        )
        if check and result.returncode != 0:
            raise SandboxError(f"{binary} failed: {result.stderr.strip()}")


def _server_account() -> tuple[int, int] | None:
    """(uid, gid) the server must run as when we are root; PostgreSQL refuses to run as root."""
    if os.geteuid() != 0:
        return None
    import pwd  # noqa: PLC0415 - POSIX only, and only needed as root

    entry = pwd.getpwnam(SERVER_USER)
    return entry.pw_uid, entry.pw_gid
