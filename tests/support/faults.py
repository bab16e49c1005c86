"""A TCP proxy that can be cut: a database outage for code that connects through it."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Self

from sqlalchemy.engine import make_url

__all__ = ["FaultyProxy"]

_CHUNK = 65536


class FaultyProxy:
    """Forwards 127.0.0.1:`port` to a target address; `down()` cuts every connection at once.

    While down, a new connection is accepted and closed at once (a database restarting), and
    every open one is closed: the client sees "server closed the connection unexpectedly".
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        """Prepare a proxy to `target_host`:`target_port`; `start()` binds it."""
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._up = True
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True)

    @classmethod
    def for_url(cls, url: str) -> FaultyProxy:
        """A proxy to the host and port of a database URL."""
        parsed = make_url(url)
        return cls(parsed.host or "127.0.0.1", parsed.port or 5432)

    def url_through(self, url: str) -> str:
        """`url` with its host and port replaced by this proxy's."""
        through = make_url(url).set(host="127.0.0.1", port=self.port)
        return through.render_as_string(hide_password=False)

    @property
    def is_up(self) -> bool:
        """Whether connections are forwarded."""
        return self._up

    def start(self) -> Self:
        """Accept connections in a daemon thread."""
        self._thread.start()
        return self

    def down(self) -> None:
        """Cut every open connection and refuse new ones until `up()`."""
        with self._lock:
            self._up = False
            cut, self._open = self._open, set()
        for connection in cut:
            _close(connection)

    def up(self) -> None:
        """Forward connections again."""
        with self._lock:
            self._up = True

    def close(self) -> None:
        """Stop accepting and cut everything."""
        self.down()
        _close(self._listener)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                up = self._up
            if not up:
                _close(client)
                continue
            try:
                server = socket.create_connection(self._target, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(_CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            _close(source)
            _close(sink)


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()
