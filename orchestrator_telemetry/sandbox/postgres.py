"""A throwaway PostgreSQL server started from the installed binaries, for tests and demos.

The server listens on 127.0.0.1 only, trusts every local connection and lives in a fresh
temporary directory that `stop()` removes. PostgreSQL refuses to run as root, so when this
process is root the server binaries run as the `postgres` system user instead.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from contextlib import closing
from pathlib import Path
from types import TracebackType
from typing import Self

import psycopg2
from psycopg2 import sql
from sqlalchemy import URL

from ..errors import SandboxError

SERVER_USER = "postgres"
_DEBIAN_BINARIES = Path("/usr/lib/postgresql")
_SHARED_MEMORY = Path("/dev/shm")  # noqa: S108 - only the parent of a mkdtemp directory
_SHARED_MEMORY_NEEDED = 1 << 30  # bytes; containers often give /dev/shm only 64 MiB
_INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install the PostgreSQL server "
    "(e.g. `apt-get install postgresql`) or put its pg_config on PATH"
)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing was listening on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_bindir() -> Path:
    """Return the directory holding `initdb` and `pg_ctl`, or raise `SandboxError`."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if found.returncode == 0:
            candidates.append(Path(found.stdout.strip()))
    # A client-only install's pg_config points at /usr/bin, which has no initdb: fall back.
    candidates += sorted(_DEBIAN_BINARIES.glob("*/bin"), key=_version_key, reverse=True)
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in ("initdb", "pg_ctl")):
            return bindir
    raise SandboxError(_INSTALL_HINT)


def default_base_dir() -> Path | None:
    """Return /dev/shm if it is large and TMPDIR is unset, else None (the usual temp dir)."""
    # On disk, every CREATE DATABASE costs a third of a second even with fsync off; in
    # memory it costs a hundredth, which adds up with a fresh database per test.
    if "TMPDIR" in os.environ or not _SHARED_MEMORY.is_dir():
        return None
    if shutil.disk_usage(_SHARED_MEMORY).free < _SHARED_MEMORY_NEEDED:
        return None
    return _SHARED_MEMORY


def _version_key(bindir: Path) -> tuple[int, ...]:
    """Order `/usr/lib/postgresql/<version>/bin` numerically, so 15 is newer than 9.6."""
    parts = bindir.parent.name.split(".")
    return tuple(int(part) for part in parts) if all(p.isdigit() for p in parts) else ()


class LocalPostgres:
    """A PostgreSQL server of its own in a temporary directory; a context manager."""

    def __init__(self, bindir: Path | None = None, base_dir: Path | None = None) -> None:
        """Prepare a server (binaries from `bindir`, files under `base_dir`); nothing runs yet."""
        self._bindir = bindir
        self._base_dir = base_dir
        self._base: Path | None = None
        self._port: int | None = None  # set once the server answers
        self._pg_ctl: Path | None = None  # set while the temporary directory exists

    def __enter__(self) -> Self:
        """Start the server."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server and remove its files."""
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port the running server listens on."""
        if self._port is None:
            raise SandboxError("the local PostgreSQL server is not running")
        return self._port

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the `postgres` maintenance database, as superuser `postgres`."""
        return self.admin_url("postgres")

    def admin_url(self, dbname: str) -> str:
        """SQLAlchemy URL of database `dbname`, as superuser `postgres`."""
        url = URL.create(
            "postgresql+psycopg2",
            username="postgres",
            host="127.0.0.1",
            port=self.port,
            database=dbname,
        )
        return url.render_as_string(hide_password=False)

    def start(self) -> None:
        """Create a fresh cluster and start the server; does nothing if already started."""
        if self._base is not None:
            return
        bindir = self._bindir or find_bindir()
        self._pg_ctl = bindir / "pg_ctl"
        self._base = Path(
            tempfile.mkdtemp(
                prefix="orchestrator-telemetry-pg-", dir=self._base_dir or default_base_dir()
            )
        )
        atexit.register(self.stop)
        try:
            self._start(bindir, self._base)
        except BaseException:
            self.stop()
            raise

    def _start(self, bindir: Path, base: Path) -> None:
        # The server user must be able to pass through the (root-owned) base directory.
        base.chmod(0o711)
        home = base / "pg"
        sockets = home / "socket"
        sockets.mkdir(parents=True, mode=0o700)
        owner = _server_account()
        if owner is not None:
            for path in (home, sockets):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        data = home / "data"
        _run(
            [
                bindir / "initdb",
                f"--pgdata={data}",
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--locale=C",  # the only locale every machine has
                "--no-sync",
            ],
            cwd=base,
            what="initdb",
        )
        self._port = free_port()
        self._pg_start()

    def _pg_start(self) -> None:
        if self._base is None or self._pg_ctl is None or self._port is None:
            raise SandboxError("the local PostgreSQL server was never started")
        home = self._base / "pg"
        options = (
            f"-p {self._port} -c listen_addresses=127.0.0.1"
            f" -c unix_socket_directories={home / 'socket'}"
            " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        log = home / "server.log"
        _run(
            [
                self._pg_ctl,
                "start",
                "-D",
                home / "data",
                "-w",
                "-t",
                "60",
                "-l",
                log,
                "-o",
                options,
            ],
            cwd=self._base,
            what="pg_ctl start",
            log=log,
        )

    def halt(self) -> None:
        """Stop the server but keep its data and port, as an outage would."""
        if self._base is None or self._pg_ctl is None:
            raise SandboxError("the local PostgreSQL server is not running")
        _run(
            [self._pg_ctl, "stop", "-D", self._base / "pg" / "data", "-m", "fast", "-w"],
            cwd=self._base,
            what="pg_ctl stop",
        )

    def resume(self) -> None:
        """Start a halted server again, with the same data on the same port."""
        self._pg_start()

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory; safe to call twice."""
        base, self._base = self._base, None
        if base is None:
            return
        atexit.unregister(self.stop)
        pg_ctl, self._pg_ctl, self._port = self._pg_ctl, None, None
        data = base / "pg" / "data"
        try:
            # Also after a failed start: `pg_ctl start` may time out with the server up.
            if pg_ctl is not None and (data / "postmaster.pid").exists():
                _run(
                    [pg_ctl, "stop", "-D", data, "-m", "fast", "-w"],
                    cwd=base,
                    what="pg_ctl stop",
                )
        finally:
            shutil.rmtree(base, ignore_errors=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database `name` (a copy of `template` if given) and return its URL."""
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres"
        )
        with closing(connection):
            connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with connection.cursor() as cursor:
                cursor.execute(statement)
        return self.admin_url(name)


def _server_account() -> pwd.struct_passwd | None:
    """Return the account the server binaries must run as, or None for the current user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise SandboxError(
            f"running as root needs a {SERVER_USER!r} system user to run PostgreSQL: "
            "install the PostgreSQL server package, which creates it"
        ) from None


def _run(args: list[str | Path], *, cwd: Path, what: str, log: Path | None = None) -> None:
    """Run a server binary as the server account; raise `SandboxError` with its output."""
    owner = _server_account()
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        user=None if owner is None else owner.pw_uid,
        group=None if owner is None else owner.pw_gid,
        extra_groups=None if owner is None else [],
    )
    if result.returncode == 0:
        return
    message = f"{what} failed with exit code {result.returncode}: {result.stderr.strip()}"
    if log is not None and log.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        message += f"\nlast lines of the server log:\n{tail}"
    raise SandboxError(message)
